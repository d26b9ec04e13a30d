"""Accepting runs: check the request, record the thread and run, answer at once, run it behind.

The submitter is waiting on a NATS request, so :meth:`AgentService.submit` only validates and
writes two rows; the run itself goes to a background task. Every task is kept (by run id) until it
ends, which is what lets :meth:`shutdown` finish or fail them, and what issue 4's cancel will use.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from services.agent.repository import StoredRun, StoredThread
from services.agent.runner import RunSpec
from shared.errors import ErrorCode, InvalidId
from shared.subjects import check_token
from shared.wire.runs import RunRejected, RunRequest, RunStarted, SubmitReply

__all__ = ["AgentService", "RunExecutor", "ThreadStore"]

log = logging.getLogger(__name__)

# After the grace period, cancelled runs get this long to publish their agent_failed.
_FAIL_TIMEOUT_S = 5.0


class ThreadStore(Protocol):
    async def find_thread(self, thread_id: str, user_id: str) -> StoredThread | None: ...
    async def create_thread(self, user_id: str, first_message: str) -> StoredThread: ...
    async def thread_messages(self, thread_id: str) -> list[str]: ...
    async def create_run(
        self, *, thread_id: str, user_id: str, content: str, client_msg_id: str | None = None
    ) -> StoredRun: ...


class RunExecutor(Protocol):
    async def run(self, spec: RunSpec) -> None: ...


class AgentService:
    def __init__(self, store: ThreadStore, runner: RunExecutor) -> None:
        self._store = store
        self._runner = runner
        self._runs: dict[str, asyncio.Task[None]] = {}

    @property
    def running(self) -> int:
        return len(self._runs)

    async def submit(self, request: RunRequest) -> SubmitReply:
        """Start a run for ``request``, or say why not. Never reveals another user's thread."""
        try:
            _check_ids(request)
        except InvalidId as exc:
            return RunRejected(code=exc.code, message=exc.message)
        if not request.content.strip():
            return RunRejected(code=ErrorCode.INVALID_REQUEST, message="the message is empty")
        history: list[str] = []
        if request.thread_id is None:
            thread = await self._store.create_thread(request.user_id, request.content)
        else:
            found = await self._store.find_thread(request.thread_id, request.user_id)
            if found is None:
                return RunRejected(code=ErrorCode.THREAD_NOT_FOUND, message="no such thread")
            thread, history = found, await self._store.thread_messages(found.id)
        run = await self._store.create_run(
            thread_id=thread.id,
            user_id=request.user_id,
            content=request.content,
            client_msg_id=request.client_msg_id,
        )
        self._start(RunSpec(run.id, thread.id, request.user_id, request.content, tuple(history)))
        return RunStarted(run_id=run.id, thread_id=thread.id)

    def _start(self, spec: RunSpec) -> None:
        task = asyncio.create_task(self._runner.run(spec), name=f"run-{spec.run_id}")
        self._runs[spec.run_id] = task
        task.add_done_callback(lambda _: self._runs.pop(spec.run_id, None))

    async def shutdown(self, grace_s: float) -> None:
        """Let running runs finish for ``grace_s``; cancel the rest, which then fail visibly."""
        if not self._runs:
            return
        tasks = list(self._runs.values())
        log.info("waiting up to %.1fs for %d run(s) to finish", grace_s, len(tasks))
        _, pending = await asyncio.wait(tasks, timeout=grace_s)
        if not pending:
            return
        log.warning("failing %d run(s) still going at shutdown", len(pending))
        for task in pending:
            task.cancel()
        _, stuck = await asyncio.wait(pending, timeout=_FAIL_TIMEOUT_S)
        if stuck:
            log.error("%d run(s) could not publish agent_failed before shutdown", len(stuck))


def _check_ids(request: RunRequest) -> None:
    check_token(request.user_id, "user_id")
    if request.thread_id is not None:
        check_token(request.thread_id, "thread_id")
    if request.client_msg_id is not None:
        check_token(request.client_msg_id, "client_msg_id")
