"""The agent's answers (submit, cancel, lists) with an in-memory store, ledger and run tasks."""

from __future__ import annotations

import dataclasses
import time
import uuid
from dataclasses import dataclass, field

import pytest

from services.agent.control import StopReason
from services.agent.models import RunStatus
from services.agent.repository import DuplicateMessage, StoredRun, StoredThread
from services.agent.service import AgentService, DoubleTextPolicy
from shared.wire.runs import (
    CancelAccepted,
    CancelRequest,
    ListRunsRequest,
    ListThreadsRequest,
    RunList,
    RunRejected,
    RunRequest,
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

    def _set(self, run_id: str, **fields: object) -> None:
        self.runs[run_id] = dataclasses.replace(self.runs[run_id], **fields)  # type: ignore[arg-type]

    # RunStore
    async def find_thread(self, thread_id: str, user_id: str) -> StoredThread | None:
        thread = self.threads.get(thread_id)
        return thread if thread is not None and thread.user_id == user_id else None

    async def list_threads(self, user_id: str) -> list[StoredThread]:
        return [t for t in self.threads.values() if t.user_id == user_id]

    async def list_runs(self, thread_id: str) -> list[StoredRun]:
        return [r for r in self.runs.values() if r.thread_id == thread_id]

    async def get_run(self, run_id: str) -> StoredRun | None:
        return self.runs.get(run_id)

    async def find_message(self, user_id: str, client_msg_id: str | None) -> StoredRun | None:
        return next(
            (
                r
                for r in self.runs.values()
                if client_msg_id and (r.user_id, r.client_msg_id) == (user_id, client_msg_id)
            ),
            None,
        )

    async def create_run(
        self, *, user_id: str, content: str, thread_id: str | None = None, client_msg_id=None
    ) -> StoredRun:
        if (original := await self.find_message(user_id, client_msg_id)) is not None:
            raise DuplicateMessage(original)
        if thread_id is None:
            thread_id = uuid.uuid4().hex
            self.threads[thread_id] = StoredThread(thread_id, user_id, content[:80])
        run = StoredRun(
            uuid.uuid4().hex, thread_id, user_id, QUEUED, content, time.time(),
            client_msg_id=client_msg_id,
        )  # fmt: skip
        self.runs[run.id] = run
        return run

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

    async def drop_queued(self, run_id: str) -> bool:
        return self.runs.pop(run_id) is not None

    # LocalRuns
    async def promote(self, thread_id: str) -> StoredRun | None:
        in_thread = [r for r in self.runs.values() if r.thread_id == thread_id]
        if any(r.status is RUNNING for r in in_thread):
            return None
        queued = [r for r in in_thread if r.status is QUEUED]
        if not queued:
            return None
        self._set(queued[0].id, status=RUNNING)
        return self.runs[queued[0].id]

    def stop(self, run_id: str, reason: StopReason) -> bool:
        self.stopped.append((run_id, reason))
        return True

    def announce(self, run: StoredRun) -> None:
        self.announced.append(run.id)

    async def broadcast_cancel(self, run_id: str) -> None:
        self.broadcast.append(run_id)


def service(world: World, policy: DoubleTextPolicy = DoubleTextPolicy.QUEUE) -> AgentService:
    return AgentService(
        store=world,
        ledger=world,
        tasks=world,
        broadcast_cancel=world.broadcast_cancel,
        policy=policy,
    )


async def started(agent: AgentService, **fields: object) -> RunStarted:
    reply = await agent.submit(RunRequest(**{"user_id": "u1", "content": "latency", **fields}))
    assert isinstance(reply, RunStarted), reply
    return reply


async def test_a_new_message_starts_a_thread_and_its_run_at_once() -> None:
    world = World()

    reply = await started(service(world), content="latency please")

    assert world.threads[reply.thread_id].title == "latency please"
    assert world.runs[reply.run_id].status is RUNNING


async def test_under_the_queue_policy_a_second_message_waits_for_the_first() -> None:
    world = World()
    agent = service(world)
    first = await started(agent)

    second = await started(agent, thread_id=first.thread_id)

    assert world.runs[second.run_id].status is QUEUED


async def test_under_the_reject_policy_a_busy_thread_refuses_and_keeps_nothing() -> None:
    world = World()
    agent = service(world, DoubleTextPolicy.REJECT)
    first = await started(agent)

    reply = await agent.submit(RunRequest(user_id="u1", content="x", thread_id=first.thread_id))

    assert isinstance(reply, RunRejected) and reply.code == "thread_busy"
    assert list(world.runs) == [first.run_id]


async def test_a_resent_message_gets_the_original_run_and_starts_nothing() -> None:
    world = World()
    agent = service(world)
    first = await started(agent, client_msg_id="m1")

    again = await started(agent, client_msg_id="m1", content="resent after a reconnect")

    assert again == first and len(world.runs) == 1


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"content": "  "}, "invalid_request"),
        ({"thread_id": "a.b"}, "invalid_id"),
        ({"thread_id": "no-such-thread"}, "thread_not_found"),
    ],
)
async def test_a_message_that_cannot_run_is_refused(fields: dict[str, str], code: str) -> None:
    reply = await service(World()).submit(RunRequest(**{"user_id": "u1", "content": "x", **fields}))

    assert isinstance(reply, RunRejected) and reply.code == code


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
