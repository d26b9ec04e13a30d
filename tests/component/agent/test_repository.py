"""Threads and runs on a real SQLite file: ownership, history, and the one-way run lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.agent.models import RunStatus
from services.agent.repository import AgentRepository, create_tables, open_engine


@pytest.fixture
async def repository(tmp_path: Path) -> AsyncIterator[AgentRepository]:
    # A folder that does not exist yet, as on a fresh clone.
    engine = open_engine(f"sqlite+aiosqlite:///{tmp_path / 'new' / 'agent.db'}")
    await create_tables(engine)
    try:
        yield AgentRepository(engine)
    finally:
        await engine.dispose()


async def test_a_thread_is_found_only_by_its_owner(repository: AgentRepository) -> None:
    thread = await repository.create_thread("alice", "x" * 200)

    assert await repository.find_thread(thread.id, "alice") == thread
    assert await repository.find_thread(thread.id, "mallory") is None
    assert len(thread.title) == 80


async def test_thread_history_is_its_messages_oldest_first(repository: AgentRepository) -> None:
    thread = await repository.create_thread("alice", "first")
    other = await repository.create_thread("alice", "elsewhere")
    for content in ("first", "second", "third"):
        await repository.create_run(thread_id=thread.id, user_id="alice", content=content)
    await repository.create_run(thread_id=other.id, user_id="alice", content="elsewhere")

    assert await repository.thread_messages(thread.id) == ["first", "second", "third"]


async def test_a_run_finishes_once_and_keeps_its_outcome(repository: AgentRepository) -> None:
    thread = await repository.create_thread("alice", "q")
    run = await repository.create_run(thread_id=thread.id, user_id="alice", content="q")
    assert run.status is RunStatus.RUNNING

    first = await repository.finish_run(run.id, RunStatus.COMPLETED, result="42 ms")
    second = await repository.finish_run(run.id, RunStatus.FAILED, error_code="agent_error")

    assert (first, second) == (True, False)
    stored = await repository.get_run(run.id)
    assert stored is not None
    assert (stored.status, stored.result, stored.error_code) == (RunStatus.COMPLETED, "42 ms", None)
    assert stored.finished_at is not None


async def test_a_run_cannot_be_finished_as_running(repository: AgentRepository) -> None:
    with pytest.raises(ValueError, match="running"):
        await repository.finish_run("any", RunStatus.RUNNING)


def test_an_unusable_database_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError) as caught:
        open_engine("not a url://secret-password@host")

    assert "secret-password" not in str(caught.value)
