"""The run ledger on one real database shared by two "agent processes" (two owners).

Every test runs on a SQLite file and on a PostgreSQL database (see tests/component/conftest.py):
the races below are real on PostgreSQL, where two transactions do run at once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import msgspec
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from agentwire_sdk import Turn
from services.agent.ledger import Intaken, RunLedger, StoredCall
from services.agent.models import CallStage, Ending, RunStatus
from services.agent.repository import (
    AgentRepository,
    StoredRun,
    StoredThread,
)
from shared.wire.intake import RunIntake

pytestmark = pytest.mark.both_databases

RACES = 8  # races run at once, each on its own thread, so that some really interleave


MakeLedger = Callable[..., RunLedger]


@pytest.fixture
async def ledger(engine: AsyncEngine) -> AsyncIterator[MakeLedger]:
    """``ledger(owner, lease_s=30)``: one agent process's ledger; each is closed after the test."""
    made: list[RunLedger] = []

    def make(owner: str, lease_s: float = 30) -> RunLedger:
        made.append(RunLedger(engine, owner=owner, lease_s=lease_s))
        return made[-1]

    yield make
    for each in made:
        await each.close()


@pytest.fixture
def mine(ledger: MakeLedger) -> RunLedger:
    return ledger("agent-a")


@pytest.fixture
def theirs(ledger: MakeLedger) -> RunLedger:
    return ledger("agent-b")


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
    ledger: MakeLedger, repository: AgentRepository
) -> None:
    dead = ledger("dead", lease_s=-1)  # every lease it takes has run out
    run = await repository.create_run(user_id="alice", content="q")
    await dead.promote(run.thread_id)
    sweepers = [ledger(f"sweeper-{n}") for n in range(5)]

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
    ledger: MakeLedger, repository: AgentRepository, theirs: RunLedger
) -> None:
    stalled = ledger("stalled", lease_s=-1)
    lost = await repository.create_run(user_id="alice", content="lost")
    kept = await repository.create_run(user_id="alice", content="kept")
    await stalled.promote(lost.thread_id)
    await stalled.promote(kept.thread_id)
    await theirs.take_over(lost.id)
    await stalled.request_cancel(kept.id)

    states = {state.run_id: state for state in await stalled.renew([lost.id, kept.id])}

    assert not states[lost.id].held
    assert states[kept.id].held and states[kept.id].cancel_requested


async def test_only_a_queued_run_can_be_cancelled_in_the_queue(
    repository: AgentRepository, mine: RunLedger
) -> None:
    running = await repository.create_run(user_id="alice", content="a")
    queued = await repository.create_run(user_id="alice", content="b", thread_id=running.thread_id)
    await mine.promote(running.thread_id)

    assert not await mine.cancel_queued(running.id)
    assert await mine.cancel_queued(queued.id)

    stored = await repository.get_run(queued.id)
    assert stored is not None and stored.status is RunStatus.CANCELLED


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


# Taking messages in from the RUNS queue


async def runs_of(repository: AgentRepository, thread_id: str) -> list[StoredRun]:
    """The thread's runs, oldest first."""
    return (await repository.list_runs(thread_id, limit=200)).items[::-1]


async def threads_of(repository: AgentRepository, user_id: str) -> list[StoredThread]:
    return (await repository.list_threads(user_id, limit=200)).items


def message(
    thread_id: str | None = None,
    *,
    user: str = "alice",
    content: str = "latency",
    client_msg_id: str | None = None,
) -> RunIntake:
    """A message as the gateway stores it; without ``thread_id``, a new thread minted with it."""
    return RunIntake(
        run_id=uuid.uuid4().hex,
        user_id=user,
        thread_id=thread_id or uuid.uuid4().hex,
        new_thread=thread_id is None,
        content=content,
        client_msg_id=client_msg_id,
    )


async def test_a_run_started_at_intake_hears_its_threads_earlier_messages(
    mine: RunLedger, theirs: RunLedger
) -> None:
    first = message(content="why is the api slow?")
    recorded = await mine.record_intake(first, seq=1, start=True)
    assert (recorded.outcome, recorded.history) == (Intaken.STARTED, ())
    await mine.finish(first.run_id, Ending.completed("an index"))
    await mine.mark_announced(first.run_id)
    follow_up = message(first.thread_id, content="and the database?")

    recorded = await theirs.record_intake(follow_up, seq=2, start=True)

    assert recorded.outcome is Intaken.STARTED
    assert recorded.history == (
        Turn("user", "why is the api slow?"),
        Turn("assistant", "an index"),  # the answer of a completed run, with its tool calls
    )
    assert recorded.run is not None and recorded.run.owner == "agent-b"
    no_slot = await theirs.record_intake(message(content="later"), seq=3, start=False)
    assert no_slot.outcome is Intaken.QUEUED


async def test_a_message_and_an_answer_holding_a_nul_character_are_stored(
    repository: AgentRepository, mine: RunLedger
) -> None:
    # PostgreSQL's text cannot hold NUL (SQLite's can); the run must not fail for it.
    first = message(content="why\x00 is it slow?")

    recorded = await mine.record_intake(first, seq=1, start=True)
    ended = await mine.finish(first.run_id, Ending.completed("an\x00 index"))

    assert recorded.outcome is Intaken.STARTED
    assert ended is not None and ended.status is RunStatus.COMPLETED
    [run] = await runs_of(repository, first.thread_id)
    assert run.content.replace("\ufffd", "\x00") == "why\x00 is it slow?"
    assert (run.result or "").replace("\ufffd", "\x00") == "an\x00 index"


async def test_of_two_messages_recorded_at_once_into_an_idle_thread_one_starts_one_waits(
    repository: AgentRepository, mine: RunLedger, theirs: RunLedger
) -> None:
    threads = [await repository.create_thread("alice", "hello") for _ in range(RACES)]
    pairs = [(message(thread.id), message(thread.id)) for thread in threads]

    recorded = await asyncio.gather(
        *(
            ledger.record_intake(msg, seq=seq, start=True)
            for one, other in pairs
            for ledger, msg, seq in ((mine, one, 1), (theirs, other, 2))
        )
    )

    for n, thread in enumerate(threads):
        pair = recorded[2 * n : 2 * n + 2]
        assert sorted(r.outcome.value for r in pair) == ["queued", "started"]
        stored = {run.id: run for run in await runs_of(repository, thread.id)}
        for owner, outcome in zip(("agent-a", "agent-b"), pair, strict=True):
            assert outcome.run is not None
            run = stored[outcome.run.id]
            if outcome.outcome is Intaken.STARTED:
                assert (run.status, run.owner) == (RunStatus.RUNNING, owner)
            else:
                assert (run.status, run.owner) == (RunStatus.QUEUED, None)


async def test_a_new_threads_first_message_runs_first_whichever_agent_records_it_first(
    repository: AgentRepository, mine: RunLedger, theirs: RunLedger
) -> None:
    firsts = [message(content="first") for _ in range(RACES)]
    # The follow-up's agent found the first message still waiting in the queue, ahead of it.
    follow_ups = [message(first.thread_id, content="second") for first in firsts]

    recorded = await asyncio.gather(
        *(mine.record_intake(first, seq=1, start=True) for first in firsts),
        *(
            theirs.record_intake(follow_up, seq=2, start=True, ahead=first)
            for first, follow_up in zip(firsts, follow_ups, strict=True)
        ),
    )

    assert all(r.outcome is Intaken.QUEUED for r in recorded[RACES:])
    assert len(await threads_of(repository, "alice")) == RACES  # each thread made once
    for first in firsts:
        await mine.promote(first.thread_id)  # a no-op where the first one started at intake
        runs = await runs_of(repository, first.thread_id)
        running = [run.id for run in runs if run.status is RunStatus.RUNNING]
        assert (len(runs), running) == (2, [first.run_id])


async def test_a_redelivered_message_is_a_duplicate_and_changes_nothing(
    repository: AgentRepository, mine: RunLedger, theirs: RunLedger
) -> None:
    first = message(client_msg_id="m1")
    assert (await mine.record_intake(first, seq=1, start=True)).outcome is Intaken.STARTED

    again = await theirs.record_intake(first, seq=1, start=True)  # its ack was lost

    assert again.outcome is Intaken.DUPLICATE
    [run] = await runs_of(repository, first.thread_id)
    assert (run.id, run.status, run.owner) == (first.run_id, RunStatus.RUNNING, "agent-a")


async def test_a_message_delivered_to_two_agents_at_once_is_recorded_once(
    repository: AgentRepository, mine: RunLedger, theirs: RunLedger
) -> None:
    thread = await repository.create_thread("alice", "hello")
    messages = [message(client_msg_id=f"m{n}") for n in range(RACES)]
    messages += [message(thread.id)]  # and one into an existing thread

    recorded = await asyncio.gather(
        *(
            ledger.record_intake(msg, seq=1, start=False)
            for msg in messages
            for ledger in (mine, theirs)
        )
    )

    for n, msg in enumerate(messages):
        outcomes = sorted(r.outcome.value for r in recorded[2 * n : 2 * n + 2])
        assert outcomes == ["duplicate", "queued"]
        assert [run.id for run in await runs_of(repository, msg.thread_id)] == [msg.run_id]


async def test_a_message_into_a_thread_not_the_users_is_thread_not_found_and_writes_nothing(
    repository: AgentRepository, mine: RunLedger
) -> None:
    bobs = await repository.create_thread("bob", "bob's own")
    into_bobs = message(bobs.id)
    claiming_bobs = msgspec.structs.replace(message(), thread_id=bobs.id)  # as if new
    nowhere = message(uuid.uuid4().hex)

    for msg in (into_bobs, claiming_bobs, nowhere):
        recorded = await mine.record_intake(msg, seq=1, start=True)

        assert (recorded.outcome, recorded.run) == (Intaken.THREAD_NOT_FOUND, None)
        assert await mine.get_run(msg.run_id) is None
    assert await repository.find_thread(bobs.id, "bob") == bobs  # not even touched
    assert await threads_of(repository, "alice") == []
    assert await runs_of(repository, bobs.id) == []


async def test_under_reject_a_message_into_a_busy_thread_is_thread_busy_and_records_no_run(
    repository: AgentRepository, mine: RunLedger, theirs: RunLedger
) -> None:
    first = message()
    await mine.record_intake(first, seq=1, start=True)
    refused = message(first.thread_id)

    busy = await theirs.record_intake(refused, seq=2, start=True, reject_busy=True)

    assert (busy.outcome, busy.run) == (Intaken.THREAD_BUSY, None)
    assert [run.id for run in await runs_of(repository, first.thread_id)] == [first.run_id]
    assert await theirs.get_run(refused.run_id) is None


async def test_a_cancel_of_a_waiting_message_racing_its_intake_exactly_one_wins(
    repository: AgentRepository, mine: RunLedger, theirs: RunLedger
) -> None:
    threads = [await repository.create_thread("alice", "hi") for _ in range(RACES // 2)]
    messages = [message() for _ in range(RACES // 2)] + [message(t.id) for t in threads]

    taken, cancelled = await asyncio.gather(
        asyncio.gather(*(mine.record_intake(msg, seq=1, start=True) for msg in messages)),
        asyncio.gather(*(theirs.record_cancelled(msg, 1) for msg in messages)),
    )

    for msg, recorded, ended in zip(messages, taken, cancelled, strict=True):
        [run] = await runs_of(repository, msg.thread_id)
        if ended is None:  # the agent recorded it first: it runs (the cancel then finds it)
            assert recorded.outcome is Intaken.STARTED
            assert (run.status, run.owner) == (RunStatus.RUNNING, "agent-a")
        else:  # the cancel came first: it never runs, and the canceller owes its end
            assert recorded.outcome is Intaken.DUPLICATE
            assert (ended.status, run.status, run.owner) == (
                RunStatus.CANCELLED,
                RunStatus.CANCELLED,
                "agent-b",
            )
        assert run.id == msg.run_id


async def test_a_threads_queued_runs_start_in_the_order_their_messages_reached_the_queue(
    mine: RunLedger, theirs: RunLedger
) -> None:
    first = message()
    await mine.record_intake(first, seq=10, start=True)
    stored_later, stored_earlier = message(first.thread_id), message(first.thread_id)
    await theirs.record_intake(stored_later, seq=12, start=True)  # recorded first all the same
    await mine.record_intake(stored_earlier, seq=11, start=True)
    await mine.finish(first.run_id, Ending.completed("done"))
    await mine.mark_announced(first.run_id)

    promoted: StoredRun | None = await theirs.promote(first.thread_id)

    assert promoted is not None and promoted.id == stored_earlier.run_id
