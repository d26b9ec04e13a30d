"""The repository's pages and a new run's history, on SQLite and (where one answers) PostgreSQL:
keyset pages through ties, and a history bounded however long the thread."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from services.agent.models import RunRecord, RunStatus
from services.agent.paging import Position
from services.agent.repository import (
    HISTORY_MAX_BYTES,
    HISTORY_MAX_MESSAGES,
    AgentRepository,
)

pytestmark = pytest.mark.both_databases  # database_url: tests/component/agent/conftest.py


async def add_tied_runs(engine: AsyncEngine, thread_id: str, count: int) -> None:
    """``count`` runs created at the very same microsecond: only their ids order them."""
    same_time = datetime.now(UTC)
    async with engine.begin() as connection:
        await connection.execute(
            RunRecord.__table__.insert(),
            [
                {"id": uuid.uuid4().hex, "thread_id": thread_id, "user_id": "alice",
                 "content": f"tied {i}", "status": RunStatus.COMPLETED.value,
                 "created_at": same_time}
                for i in range(count)
            ],
        )  # fmt: skip


async def test_runs_page_newest_first_through_ties_with_no_gap_and_no_double(
    repository: AgentRepository, engine: AsyncEngine
) -> None:
    first = await repository.create_run(user_id="alice", content="before the ties")
    await add_tied_runs(engine, first.thread_id, 7)
    last = await repository.create_run(user_id="alice", content="after", thread_id=first.thread_id)

    listed: list[str] = []
    after: Position | None = None
    while True:
        page = await repository.list_runs(first.thread_id, limit=3, after=after)
        listed += [run.id for run in page.items]
        if (after := page.next_after(len(page.items))) is None:
            break

    assert len(listed) == len(set(listed)) == 9
    assert listed[0] == last.id and listed[-1] == first.id
    tied = listed[1:-1]
    assert tied == sorted(tied, reverse=True)


async def test_threads_page_most_recently_used_first(repository: AgentRepository) -> None:
    made = [await repository.create_run(user_id="alice", content=f"t{i}") for i in range(5)]
    await repository.create_run(user_id="mallory", content="theirs")

    first = await repository.list_threads("alice", limit=2)
    rest = await repository.list_threads("alice", limit=10, after=first.next_after(2))

    ids = [t.id for t in first.items + rest.items]
    assert ids == [run.thread_id for run in reversed(made)]
    assert first.more and not rest.more


async def test_a_new_run_hears_at_most_the_latest_messages_of_a_long_thread(
    repository: AgentRepository,
) -> None:
    first = await repository.create_run(user_id="alice", content="m0")
    for i in range(1, HISTORY_MAX_MESSAGES + 20):
        await repository.create_run(user_id="alice", content=f"m{i}", thread_id=first.thread_id)
    newest = await repository.create_run(user_id="alice", content="now", thread_id=first.thread_id)

    history = await repository.thread_messages(first.thread_id, before_run=newest.id)

    assert history == [f"m{i}" for i in range(20, HISTORY_MAX_MESSAGES + 20)]  # oldest first


async def test_a_new_run_hears_only_as_many_big_messages_as_fit_the_byte_budget(
    repository: AgentRepository,
) -> None:
    big = "é" * 15_000  # 30,000 bytes in UTF-8
    first = await repository.create_run(user_id="alice", content="small")
    for _ in range(4):
        await repository.create_run(user_id="alice", content=big, thread_id=first.thread_id)

    history = await repository.thread_messages(first.thread_id)

    assert history == [big] * (HISTORY_MAX_BYTES // 30_000)
    assert sum(len(m.encode()) for m in history) <= HISTORY_MAX_BYTES
