"""Accepting a run, with an in-memory store and a runner that only records what it was given."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.agent.models import RunStatus
from services.agent.repository import StoredRun, StoredThread
from services.agent.runner import RunSpec
from services.agent.service import AgentService
from shared.wire.runs import RunRejected, RunRequest, RunStarted


@dataclass
class Store:
    threads: dict[str, StoredThread] = field(default_factory=dict)
    messages: dict[str, list[str]] = field(default_factory=dict)

    async def find_thread(self, thread_id: str, user_id: str) -> StoredThread | None:
        thread = self.threads.get(thread_id)
        return thread if thread is not None and thread.user_id == user_id else None

    async def create_thread(self, user_id: str, first_message: str) -> StoredThread:
        thread = StoredThread(uuid.uuid4().hex, user_id, first_message[:80])
        self.threads[thread.id] = thread
        return thread

    async def thread_messages(self, thread_id: str) -> list[str]:
        return list(self.messages.get(thread_id, []))

    async def create_run(
        self, *, thread_id: str, user_id: str, content: str, client_msg_id: str | None = None
    ) -> StoredRun:
        self.messages.setdefault(thread_id, []).append(content)
        return StoredRun(
            uuid.uuid4().hex,
            thread_id,
            user_id,
            RunStatus.RUNNING,
            content,
            created_at=datetime.now(UTC),
            finished_at=None,
            result=None,
            error_code=None,
            error_message=None,
        )


@dataclass
class Recorder:
    specs: list[RunSpec] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, spec: RunSpec) -> None:
        self.specs.append(spec)
        await self.release.wait()


async def test_a_new_message_starts_a_thread_and_a_run_at_once() -> None:
    store, runner = Store(), Recorder()
    service = AgentService(store, runner)

    reply = await service.submit(RunRequest(user_id="u1", content="latency please"))

    assert isinstance(reply, RunStarted)
    assert store.threads[reply.thread_id].title == "latency please"
    assert service.running == 1  # the run goes on after the reply
    runner.release.set()
    await asyncio.sleep(0)


async def test_a_follow_up_hands_the_runner_the_threads_earlier_messages() -> None:
    store, runner = Store(), Recorder()
    runner.release.set()
    service = AgentService(store, runner)
    first = await service.submit(RunRequest(user_id="u1", content="api latency over 24h"))
    assert isinstance(first, RunStarted)

    follow_up = RunRequest(user_id="u1", content="again for db", thread_id=first.thread_id)
    await service.submit(follow_up)
    await asyncio.sleep(0)

    assert runner.specs[-1].history == ("api latency over 24h",)
    assert runner.specs[-1].content == "again for db"


async def test_an_empty_message_is_refused() -> None:
    reply = await AgentService(Store(), Recorder()).submit(RunRequest(user_id="u1", content="  "))

    assert isinstance(reply, RunRejected) and reply.code == "invalid_request"


async def test_shutdown_cancels_runs_that_outlive_the_grace_period() -> None:
    runner = Recorder()
    service = AgentService(Store(), runner)
    await service.submit(RunRequest(user_id="u1", content="latency"))
    await asyncio.sleep(0)

    await service.shutdown(grace_s=0.01)

    assert service.running == 0
