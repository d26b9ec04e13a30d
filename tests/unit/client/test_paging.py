"""Paged lists in the Python client and the terminal chat, with a fake socket: no server."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from agentwire_client import Page
from agentwire_client.cli import Chat
from agentwire_client.protocol import PendingRequest, Requests, page_key
from tests.unit.client.test_render import render
from tests.unit.client.test_renewal import AuthStub, Connector, client_for, until


async def test_a_page_is_asked_for_by_limit_and_cursor_and_knows_the_next_one() -> None:
    auth, connector = AuthStub(), Connector()
    async with client_for(auth.session(), connector) as client:
        socket = connector.sockets[0]
        newest = asyncio.create_task(client.list_runs("t1", limit=2))
        older = asyncio.create_task(client.list_runs("t1", limit=2, cursor="c2"))
        await until(lambda: len(socket.sent) == 2)
        # The older page is answered first: each reply finds the request with its cursor.
        older_page = [{"run_id": "r1"}]
        newest_page = [{"run_id": "r3"}, {"run_id": "r2"}]
        socket.deliver(
            {"type": "runs", "thread_id": "t1", "cursor": "c2", "runs": older_page,
             "next_cursor": None}
        )  # fmt: skip
        socket.deliver(
            {"type": "runs", "thread_id": "t1", "runs": newest_page, "next_cursor": "c2"}
        )
        first, second = await newest, await older

    assert socket.sent == [
        {"type": "list_runs", "thread_id": "t1", "limit": 2},
        {"type": "list_runs", "thread_id": "t1", "limit": 2, "cursor": "c2"},
    ]
    assert [r["run_id"] for r in first] == ["r3", "r2"] and first.next_cursor == "c2"
    assert [r["run_id"] for r in second] == ["r1"] and second.next_cursor is None


def test_a_reply_without_a_cursor_answers_the_first_page_request() -> None:
    requests = Requests()
    later = PendingRequest({"type": "list_threads"}, "threads", page_key(None, "c1"))
    first = PendingRequest({"type": "list_threads"}, "threads", page_key(None, None))
    requests.add(later)
    requests.add(first)

    assert requests.match({"type": "threads", "threads": []}) is first
    assert requests.match({"type": "threads", "threads": [], "cursor": "c1"}) is later


class ListingClient:
    """The one thing the chat's /threads uses of a Client."""

    def __init__(self, pages: dict[str | None, Page]) -> None:
        self.pages = pages
        self.asked: list[str | None] = []

    async def list_threads(self, *, cursor: str | None = None, **_: Any) -> Page:
        self.asked.append(cursor)
        return self.pages[cursor]


async def test_threads_more_in_the_chat_goes_on_from_the_last_page_listed() -> None:
    client = ListingClient(
        {None: Page([{"thread_id": "t2"}], "c1"), "c1": Page([{"thread_id": "t1"}], None)}
    )
    chat = Chat(client, argparse.Namespace(thread=None, json=False, agent=None))  # type: ignore[arg-type]

    await chat.list_threads()
    await chat.list_threads(more=True)
    await chat.list_threads(more=True)  # nothing is left: said, not asked

    assert client.asked == [None, "c1"]


def test_a_page_with_more_after_it_says_how_to_get_it() -> None:
    frame = {"type": "threads", "threads": [{"thread_id": "t2", "title": "db"}]}

    assert "/threads more" in render({**frame, "next_cursor": "c1"})
    assert "/threads more" not in render({**frame, "next_cursor": None})
