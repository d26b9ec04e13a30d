"""Paged listings at the gateway: a page's limit and cursor reach the agents, and come back."""

from __future__ import annotations

import json

import pytest

from services.ws_gateway.session import Request, Send, Session
from shared.errors import ErrorCode
from shared.wire.runs import (
    CURSOR_MAX_CHARS,
    DEFAULT_PAGE_LIMIT,
    ListRunsRequest,
    ListThreadsRequest,
    RunInfo,
    RunList,
    ThreadInfo,
    ThreadList,
)

USER = "user-1"


def test_a_listing_without_limit_or_cursor_asks_for_the_first_page_of_the_default_size() -> None:
    [command] = Session(USER).receive('{"type": "list_runs", "thread_id": "t-1"}')

    assert isinstance(command, Request)
    assert command.message == ListRunsRequest(
        user_id=USER, thread_id="t-1", limit=DEFAULT_PAGE_LIMIT, cursor=None
    )


def test_a_listings_limit_and_cursor_reach_the_agents_as_sent() -> None:
    session = Session(USER)
    [threads] = session.receive('{"type": "list_threads", "limit": 1, "cursor": "cjE6MTox"}')
    [runs] = session.receive(
        '{"type": "list_runs", "thread_id": "t-1", "limit": 200, "cursor": "abc_-9"}'
    )

    assert isinstance(threads, Request) and isinstance(runs, Request)
    assert threads.message == ListThreadsRequest(user_id=USER, limit=1, cursor="cjE6MTox")
    assert runs.message == ListRunsRequest(
        user_id=USER, thread_id="t-1", limit=200, cursor="abc_-9"
    )


@pytest.mark.parametrize("kind", ['"list_threads"', '"list_runs", "thread_id": "t-1"'])
@pytest.mark.parametrize(
    "fields",
    [
        '"limit": 0',
        '"limit": 201',
        '"limit": -1',
        '"limit": "5"',
        '"limit": 2.5',
        '"cursor": ""',
        '"cursor": 5',
        '"cursor": "a.b"',
        '"cursor": "a b"',
        f'"cursor": "{"a" * (CURSOR_MAX_CHARS + 1)}"',
    ],
)
def test_a_limit_outside_1_to_200_or_a_malformed_cursor_is_an_invalid_frame(
    kind: str, fields: str
) -> None:
    [command] = Session(USER).receive(f'{{"type": {kind}, {fields}}}')

    assert isinstance(command, Send)
    frame = json.loads(command.frame)
    assert frame["type"] == "error" and frame["data"]["code"] == ErrorCode.INVALID_FRAME


def test_a_page_reply_carries_its_cursor_and_the_next_one_and_null_at_the_end() -> None:
    session = Session(USER)
    thread = ThreadInfo(thread_id="t-1", title="infra", created_at=1.0, updated_at=2.0)
    run = RunInfo(run_id="r-1", thread_id="t-1", status="running", content="go", created_at=1.0)

    [first] = session.request_done(ThreadList(threads=[thread], next_cursor="n1"))
    [later] = session.request_done(RunList(thread_id="t-1", runs=[run], cursor="c1"))

    assert isinstance(first, Send) and isinstance(later, Send)
    threads, runs = json.loads(first.frame), json.loads(later.frame)
    assert threads["next_cursor"] == "n1" and "cursor" not in threads
    assert runs["cursor"] == "c1" and runs["next_cursor"] is None  # said, not left out
