"""The agent's answers (cancel, lists) with an in-memory store, ledger and run tasks.

Runs reach the agents through the RUNS queue (tests/component/agent/test_intake.py); here they
are recorded straight into the in-memory world, as the intake would."""

from __future__ import annotations

import dataclasses
import time
import uuid
from dataclasses import dataclass, field

from services.agent.control import StopReason
from services.agent.intake import Waiting
from services.agent.models import RunStatus
from services.agent.paging import Page, Position, paged
from services.agent.repository import StoredRun, StoredThread
from services.agent.service import AgentService
from shared.wire.intake import RunIntake
from shared.wire.runs import (
    CancelAccepted,
    CancelRequest,
    ListRunsRequest,
    ListThreadsRequest,
    RunList,
    RunRejected,
    RunStarted,
    ThreadList,
)

QUEUED, RUNNING = RunStatus.QUEUED, RunStatus.RUNNING


@dataclass
class World:
    """Store, ledger and this process's run tasks over one set of rows."""

    threads: dict[str, StoredThread] = field(default_factory=dict)
    runs: dict[str, StoredRun] = field(default_factory=dict)
    stopped: list[tuple[str, StopReason]] = field(default_factory=list)
    announced: list[str] = field(default_factory=list)
    broadcast: list[str] = field(default_factory=list)
    queue: dict[str, RunIntake] = field(default_factory=dict)

    def _set(self, run_id: str, **fields: object) -> None:
        self.runs[run_id] = dataclasses.replace(self.runs[run_id], **fields)  # type: ignore[arg-type]

    # RunStore
    async def find_thread(self, thread_id: str, user_id: str) -> StoredThread | None:
        thread = self.threads.get(thread_id)
        return thread if thread is not None and thread.user_id == user_id else None

    async def list_threads(
        self, user_id: str, *, limit: int, after: Position | None = None
    ) -> Page[StoredThread]:
        mine = [t for t in self.threads.values() if t.user_id == user_id]
        return paged(mine, lambda t: Position(round(t.updated_at * 1e6), t.id), limit, after)

    async def list_runs(
        self, thread_id: str, *, limit: int, after: Position | None = None
    ) -> Page[StoredRun]:
        runs = [r for r in self.runs.values() if r.thread_id == thread_id]
        return paged(runs, lambda r: Position(round(r.created_at * 1e6), r.id), limit, after)

    async def get_run(self, run_id: str) -> StoredRun | None:
        return self.runs.get(run_id)

    # CancelLedger
    async def cancel_queued(self, run_id: str) -> bool:
        if self.runs[run_id].status is not QUEUED:
            return False
        self._set(run_id, status=RunStatus.CANCELLED)
        return True

    async def request_cancel(self, run_id: str) -> bool:
        if self.runs[run_id].status.is_terminal:
            return False
        self._set(run_id, cancel_requested=True)
        return True

    async def record_cancelled(self, intake: RunIntake, seq: int) -> StoredRun | None:
        if intake.run_id in self.runs:
            return None
        run = StoredRun(
            intake.run_id, intake.thread_id, intake.user_id, RunStatus.CANCELLED,
            intake.content, time.time(), cancel_requested=True,
        )  # fmt: skip
        self.runs[run.id] = run
        return run

    # WaitingRuns: messages no agent has taken yet
    async def waiting(self, user_id: str, run_id: str) -> tuple[RunIntake, int] | None:
        intake = self.queue.get(run_id)
        return (intake, 1) if intake is not None and intake.user_id == user_id else None

    async def of_thread(self, user_id: str, thread_id: str) -> list[Waiting]:
        return [w for w in await self.of_user(user_id) if w.intake.thread_id == thread_id]

    async def of_user(self, user_id: str) -> list[Waiting]:
        mine = [i for i in self.queue.values() if i.user_id == user_id]
        return [Waiting(intake, n, 1.0 + n) for n, intake in enumerate(mine, start=1)]

    # LocalRuns
    def stop(self, run_id: str, reason: StopReason) -> bool:
        self.stopped.append((run_id, reason))
        return True

    def announce(self, run: StoredRun) -> None:
        self.announced.append(run.id)

    async def broadcast_cancel(self, run_id: str) -> None:
        self.broadcast.append(run_id)


def service(world: World) -> AgentService:
    return AgentService(
        store=world,
        ledger=world,
        tasks=world,
        queue=world,
        broadcast_cancel=world.broadcast_cancel,
    )


async def started(
    agent: AgentService, *, user_id: str = "u1", thread_id: str | None = None
) -> RunStarted:
    """A run as the intake records it: running in a new thread, queued in a busy one."""
    world = agent._store
    assert isinstance(world, World)
    if thread_id is None:
        thread_id = uuid.uuid4().hex
        world.threads[thread_id] = StoredThread(thread_id, user_id, "latency")
    busy = any(r.thread_id == thread_id and not r.status.is_terminal for r in world.runs.values())
    run = StoredRun(
        uuid.uuid4().hex, thread_id, user_id, QUEUED if busy else RUNNING, "latency", time.time()
    )
    world.runs[run.id] = run
    return RunStarted(run_id=run.id, thread_id=thread_id)


async def test_someone_elses_run_and_a_missing_one_cannot_be_told_apart() -> None:
    world = World()
    agent = service(world)
    theirs = await started(agent)

    foreign = await agent.cancel(CancelRequest(user_id="mallory", run_id=theirs.run_id))
    missing = await agent.cancel(CancelRequest(user_id="mallory", run_id="nope"))

    assert foreign == missing == RunRejected(code="run_not_found", message="no such run")
    assert world.stopped == [] and world.broadcast == []


async def test_cancelling_a_running_run_records_it_stops_it_here_and_tells_everyone() -> None:
    world = World()
    agent = service(world)
    run = await started(agent)

    reply = await agent.cancel(CancelRequest(user_id="u1", run_id=run.run_id))

    assert reply == CancelAccepted(run_id=run.run_id, state="cancelling")
    assert world.runs[run.run_id].cancel_requested
    assert world.stopped == [(run.run_id, StopReason.CANCELLED)]
    assert world.broadcast == [run.run_id]


async def test_cancelling_a_queued_run_ends_it_on_the_spot() -> None:
    world = World()
    agent = service(world)
    first = await started(agent)
    queued = await started(agent, thread_id=first.thread_id)

    reply = await agent.cancel(CancelRequest(user_id="u1", run_id=queued.run_id))

    assert reply == CancelAccepted(run_id=queued.run_id, state="cancelling")
    assert world.runs[queued.run_id].status is RunStatus.CANCELLED
    assert world.announced == [queued.run_id] and world.broadcast == []


async def test_cancelling_a_run_that_has_ended_answers_its_final_status() -> None:
    world = World()
    agent = service(world)
    run = await started(agent)
    world._set(run.run_id, status=RunStatus.COMPLETED)

    reply = await agent.cancel(CancelRequest(user_id="u1", run_id=run.run_id))

    assert reply == CancelAccepted(run_id=run.run_id, state="completed")
    assert world.stopped == []


async def test_lists_show_only_the_users_own_threads_and_runs() -> None:
    world = World()
    agent = service(world)
    mine = await started(agent, user_id="alice")
    theirs = await started(agent, user_id="mallory")

    threads = await agent.list_threads(ListThreadsRequest(user_id="alice"))
    runs = await agent.list_runs(ListRunsRequest(user_id="alice", thread_id=mine.thread_id))
    foreign = await agent.list_runs(ListRunsRequest(user_id="alice", thread_id=theirs.thread_id))

    assert isinstance(threads, ThreadList)
    assert [t.thread_id for t in threads.threads] == [mine.thread_id]
    assert isinstance(runs, RunList) and [r.run_id for r in runs.runs] == [mine.run_id]
    assert runs.runs[0].status == "running"
    assert foreign == RunRejected(code="thread_not_found", message="no such thread")


async def test_cancelling_a_run_still_waiting_in_the_queue_ends_it_before_it_starts() -> None:
    world = World()
    world.queue["r1"] = RunIntake(
        run_id="r1", user_id="u1", thread_id="t1", new_thread=True, content="latency"
    )
    agent = service(world)

    foreign = await agent.cancel(CancelRequest(user_id="mallory", run_id="r1"))
    reply = await agent.cancel(CancelRequest(user_id="u1", run_id="r1"))

    assert foreign == RunRejected(code="run_not_found", message="no such run")
    assert reply == CancelAccepted(run_id="r1", state="cancelling")
    assert world.runs["r1"].status is RunStatus.CANCELLED
    assert world.announced == ["r1"] and world.broadcast == []


async def test_lists_show_runs_and_new_threads_still_waiting_in_the_queue_first() -> None:
    world = World()
    agent = service(world)
    old = await started(agent)
    world.queue["new"] = RunIntake(
        run_id="new", user_id="u1", thread_id="t-new", new_thread=True, content="fresh question"
    )
    world.queue["more"] = RunIntake(
        run_id="more", user_id="u1", thread_id=old.thread_id, new_thread=False, content="more"
    )

    threads = await agent.list_threads(ListThreadsRequest(user_id="u1"))
    waiting_thread = await agent.list_runs(ListRunsRequest(user_id="u1", thread_id="t-new"))
    busy_thread = await agent.list_runs(ListRunsRequest(user_id="u1", thread_id=old.thread_id))
    foreign = await agent.list_runs(ListRunsRequest(user_id="mallory", thread_id="t-new"))

    assert isinstance(threads, ThreadList)
    assert [t.thread_id for t in threads.threads] == ["t-new", old.thread_id]
    assert threads.threads[0].title == "fresh question"
    assert isinstance(waiting_thread, RunList)
    assert [(r.run_id, r.status) for r in waiting_thread.runs] == [("new", "queued")]
    assert isinstance(busy_thread, RunList)
    assert [r.run_id for r in busy_thread.runs] == ["more", old.run_id]
    assert foreign == RunRejected(code="thread_not_found", message="no such thread")
