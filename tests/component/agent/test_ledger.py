"""The run ledger on one real SQLite file shared by two "agent processes" (two owners)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from services.agent.ledger import RunLedger, StoredCall
from services.agent.models import CallStage, Ending, RunStatus
from services.agent.repository import AgentRepository, create_tables, open_engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = open_engine(f"sqlite+aiosqlite:///{tmp_path / 'agent.db'}")
    await create_tables(engine)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def repository(engine: AsyncEngine) -> AgentRepository:
    return AgentRepository(engine)


@pytest.fixture
def mine(engine: AsyncEngine) -> RunLedger:
    return RunLedger(engine, owner="agent-a", lease_s=30)


@pytest.fixture
def theirs(engine: AsyncEngine) -> RunLedger:
    return RunLedger(engine, owner="agent-b", lease_s=30)


async def test_a_thread_runs_one_run_at_a_time_oldest_first(
    repository: AgentRepository, mine: RunLedger, theirs: RunLedger
) -> None:
    first = await repository.create_run(user_id="alice", content="one")
    second = await repository.create_run(user_id="alice", content="two", thread_id=first.thread_id)

    promoted = await mine.promote(first.thread_id)
    assert promoted is not None and promoted.id == first.id
    assert promoted.status is RunStatus.RUNNING and promoted.owner == "agent-a"
    assert await theirs.promote(first.thread_id) is None  # the thread is occupied
    assert await mine.finish(first.id, Ending.completed("done"))
    assert await theirs.promote(first.thread_id) is None  # ended, but not yet announced
    assert await theirs.waiting_threads() == []

    await mine.mark_announced(first.id)

    assert await theirs.waiting_threads() == [first.thread_id]
    next_run = await theirs.promote(first.thread_id)
    assert next_run is not None and (next_run.id, next_run.owner) == (second.id, "agent-b")


async def test_only_the_owner_finishes_a_run_and_only_once(
    repository: AgentRepository, mine: RunLedger, theirs: RunLedger
) -> None:
    run = await repository.create_run(user_id="alice", content="q")
    await mine.promote(run.thread_id)

    assert not await theirs.finish(run.id, Ending.failed("agent_error", "not yours"))
    assert await mine.finish(run.id, Ending.completed("42 ms"))
    assert not await mine.finish(run.id, Ending.failed("agent_error", "twice"))

    stored = await repository.get_run(run.id)
    assert stored is not None
    assert (stored.status, stored.result, stored.error_code) == (RunStatus.COMPLETED, "42 ms", None)
    assert stored.finished_at is not None


async def test_a_cancel_recorded_before_the_owner_finishes_wins_over_its_answer(
    repository: AgentRepository, mine: RunLedger, theirs: RunLedger
) -> None:
    run = await repository.create_run(user_id="alice", content="q")
    await mine.promote(run.thread_id)
    await theirs.request_cancel(run.id)  # answered "cancelling" by another agent process

    assert await mine.finish(run.id, Ending.completed("42 ms"))

    stored = await repository.get_run(run.id)
    assert stored is not None and (stored.status, stored.result) == (RunStatus.CANCELLED, None)


async def test_a_run_cannot_be_finished_as_running(mine: RunLedger) -> None:
    with pytest.raises(ValueError, match="running"):
        await mine.finish("any", Ending(RunStatus.RUNNING))


async def test_of_many_sweepers_exactly_one_takes_over_an_expired_run(
    engine: AsyncEngine, repository: AgentRepository
) -> None:
    dead = RunLedger(engine, owner="dead", lease_s=-1)  # every lease it takes has run out
    run = await repository.create_run(user_id="alice", content="q")
    await dead.promote(run.thread_id)
    sweepers = [RunLedger(engine, owner=f"sweeper-{n}", lease_s=30) for n in range(5)]

    assert await sweepers[0].expired() == [run.id]
    wins = await asyncio.gather(*(sweeper.take_over(run.id) for sweeper in sweepers))

    assert sum(wins) == 1
    assert await sweepers[0].expired() == []  # the winner's lease is fresh
    stored = await repository.get_run(run.id)
    assert stored is not None and stored.owner == f"sweeper-{wins.index(True)}"


async def test_a_lease_still_running_is_not_taken_over(
    repository: AgentRepository, mine: RunLedger, theirs: RunLedger
) -> None:
    run = await repository.create_run(user_id="alice", content="q")
    await mine.promote(run.thread_id)

    assert await theirs.expired() == []
    assert not await theirs.take_over(run.id)


async def test_renewing_tells_the_holder_of_a_lost_lease_and_of_a_recorded_cancel(
    engine: AsyncEngine, repository: AgentRepository, theirs: RunLedger
) -> None:
    stalled = RunLedger(engine, owner="stalled", lease_s=-1)
    lost = await repository.create_run(user_id="alice", content="lost")
    kept = await repository.create_run(user_id="alice", content="kept")
    await stalled.promote(lost.thread_id)
    await stalled.promote(kept.thread_id)
    await theirs.take_over(lost.id)
    await stalled.request_cancel(kept.id)

    states = {state.run_id: state for state in await stalled.renew([lost.id, kept.id])}

    assert not states[lost.id].held
    assert states[kept.id].held and states[kept.id].cancel_requested


async def test_only_a_queued_run_can_be_cancelled_in_the_queue_or_dropped(
    repository: AgentRepository, mine: RunLedger
) -> None:
    running = await repository.create_run(user_id="alice", content="a")
    queued = await repository.create_run(user_id="alice", content="b", thread_id=running.thread_id)
    dropped = await repository.create_run(user_id="alice", content="c", thread_id=running.thread_id)
    await mine.promote(running.thread_id)

    assert not await mine.cancel_queued(running.id)
    assert await mine.cancel_queued(queued.id)
    assert await mine.drop_queued(dropped.id)

    stored = await repository.get_run(queued.id)
    assert stored is not None and stored.status is RunStatus.CANCELLED
    assert await repository.get_run(dropped.id) is None


async def test_open_tool_calls_are_kept_until_closed(
    repository: AgentRepository, mine: RunLedger
) -> None:
    run = await repository.create_run(user_id="alice", content="q")
    await mine.open_call("call-1", run.id, "slow_task", {"seconds": 2})
    await mine.open_call("call-2", run.id, "slow_task", {})
    await mine.call_stage("call-1", CallStage.RUNNING)
    await mine.close_call("call-2")

    calls = await mine.open_calls(run.id)

    assert calls == [StoredCall("call-1", run.id, "slow_task", CallStage.RUNNING, {"seconds": 2})]
