"""Listing a long thread over NATS from a real agent node: every run once, page by page, newest
first; pages cut to fit in a NATS message; and a run too big for any page said out loud."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from nats.aio.client import Client as NATS

from services.agent.models import RunRecord, RunStatus, ThreadRecord
from services.agent.node import AgentNode
from services.agent.repository import open_engine
from services.agent.settings import AgentSettings
from shared import subjects
from shared.errors import ErrorCode
from shared.wire import runs
from tests.component.agent.support import new_user

START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Thread:
    id: str
    user: str
    newest_first: list[str]  # its run ids, in the order a walk through its pages must give


async def long_thread(
    settings: AgentSettings, count: int, *, result: str = "done", ties: int = 1
) -> Thread:
    """A thread of ``count`` finished runs written straight to the agent's database (one insert,
    not ``count`` submissions); every ``ties`` consecutive runs share a creation time."""
    user, thread_id = new_user(), uuid.uuid4().hex
    made = [(START + timedelta(milliseconds=i // ties), uuid.uuid4().hex) for i in range(count)]
    thread_row = {"id": thread_id, "user_id": user, "title": "long", "updated_at": START}
    engine = open_engine(settings.database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(ThreadRecord.__table__.insert(), [thread_row])
            await connection.execute(
                RunRecord.__table__.insert(),
                [_run(run_id, thread_id, user, at, result) for at, run_id in made],
            )
    finally:
        await engine.dispose()
    return Thread(thread_id, user, [run_id for _, run_id in sorted(made, reverse=True)])


def _run(run_id: str, thread_id: str, user: str, at: datetime, result: str) -> dict[str, object]:
    return dict(
        id=run_id, thread_id=thread_id, user_id=user, content="how is the api?",
        status=RunStatus.COMPLETED.value, created_at=at, finished_at=at, result=result,
        cancel_requested=False, announced=True,
    )  # fmt: skip


async def list_page(
    nc: NATS, thread: Thread, limit: int, cursor: str | None = None
) -> runs.RunList | runs.RunRejected:
    request = runs.ListRunsRequest(
        user_id=thread.user, thread_id=thread.id, limit=limit, cursor=cursor
    )
    msg = await nc.request(subjects.run_list(), runs.encode(request), timeout=5)
    return runs.decode_run_list_reply(msg.data)


async def walk(nc: NATS, thread: Thread, limit: int) -> list[runs.RunList]:
    """Every page of the thread, following next_cursor from the first page to the end."""
    pages: list[runs.RunList] = []
    cursor = None
    while len(pages) < 1000:
        page = await list_page(nc, thread, limit, cursor)
        assert isinstance(page, runs.RunList), page
        pages.append(page)
        if (cursor := page.next_cursor) is None:
            return pages
    raise AssertionError("next_cursor never came to an end")


async def test_five_hundred_runs_are_listed_page_by_page_newest_first_each_once(
    nc: NATS, agent: AgentNode, agent_settings: AgentSettings
) -> None:
    thread = await long_thread(agent_settings, 500, ties=3)  # ties: the id decides among them

    pages = await walk(nc, thread, limit=37)

    listed = [run.run_id for page in pages for run in page.runs]
    assert listed == thread.newest_first  # no run twice, none missing, in order
    assert [len(page.runs) for page in pages] == [37] * 13 + [19]


async def test_a_run_added_during_a_walk_shifts_no_page_after_it(
    nc: NATS, agent: AgentNode, agent_settings: AgentSettings
) -> None:
    thread = await long_thread(agent_settings, 30)
    first = await list_page(nc, thread, limit=10)
    assert isinstance(first, runs.RunList) and first.next_cursor
    assert agent.repository is not None
    newer = await agent.repository.create_run(
        user_id=thread.user, content="one more", thread_id=thread.id
    )

    second = await list_page(nc, thread, limit=10, cursor=first.next_cursor)
    again = await list_page(nc, thread, limit=1)

    assert isinstance(second, runs.RunList) and isinstance(again, runs.RunList)
    assert [r.run_id for r in second.runs] == thread.newest_first[10:20]  # as OFFSET would not
    assert [r.run_id for r in again.runs] == [newer.id]  # it is on the first page


async def test_a_page_of_big_runs_is_cut_to_fit_one_reply_and_the_walk_still_gets_all(
    nc: NATS, agent: AgentNode, agent_settings: AgentSettings
) -> None:
    thread = await long_thread(agent_settings, 200, result="x" * 20_000)  # 4 MB in all

    pages = await walk(nc, thread, limit=200)

    assert len(pages) > 1 and all(len(page.runs) < 200 for page in pages)
    assert [run.run_id for page in pages for run in page.runs] == thread.newest_first


async def test_a_run_too_big_for_any_reply_gets_reply_too_large_not_silence(
    nc: NATS, agent: AgentNode, agent_settings: AgentSettings
) -> None:
    thread = await long_thread(agent_settings, 3, result="x" * (nc.max_payload + 1))

    reply = await list_page(nc, thread, limit=200)

    assert isinstance(reply, runs.RunRejected), "over the limit, but answered"
    assert reply.code == ErrorCode.REPLY_TOO_LARGE and "limit" in reply.message
