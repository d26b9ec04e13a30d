"""The runs this agent process holds: one task each, with the handle that renews and stops it.

Three kinds of task hold a run's lease: a run being worked on (then closed), a run taken over
from a dead holder (closed for it), and a queued run cancelled here (announced). Whichever ends a
run then promotes the thread's next queued run, so a queue moves on in whichever process its
previous run ended; a sweeper catches the rest (see :mod:`services.agent.supervision`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from services.agent.closing import Closer
from services.agent.control import RunHandle, StopReason
from services.agent.models import Ending
from services.agent.repository import StoredRun
from services.agent.runner import RunSpec

__all__ = ["RunTasks"]

log = logging.getLogger(__name__)

# After the grace period, stopped runs get this long to record and announce their end.
_CLOSE_TIMEOUT_S = 5.0


class RunExecutor(Protocol):
    async def run(self, spec: RunSpec, handle: RunHandle) -> Ending | None: ...


class Promoter(Protocol):
    async def promote(self, thread_id: str) -> StoredRun | None: ...


class History(Protocol):
    async def thread_messages(self, thread_id: str, before_run: str | None = None) -> list[str]: ...


class RunTasks:
    def __init__(
        self,
        *,
        runner: RunExecutor,
        closer: Closer,
        ledger: Promoter,
        history: History,
        lease_s: float,
    ) -> None:
        self._runner = runner
        self._closer = closer
        self._ledger = ledger
        self._history = history
        self._lease_s = lease_s
        self._held: dict[str, RunHandle] = {}
        self._stopping = False

    @property
    def running(self) -> int:
        return len(self._held)

    def held(self) -> dict[str, RunHandle]:
        return dict(self._held)

    def stop(self, run_id: str, reason: StopReason) -> bool:
        handle = self._held.get(run_id)
        return handle is not None and handle.stop(reason)

    async def promote(self, thread_id: str) -> StoredRun | None:
        """Start the thread's next queued run here, if the thread is free; return it."""
        if self._stopping:
            return None
        run = await self._ledger.promote(thread_id)
        if run is not None:
            await self._start(run)
        return run

    async def _start(self, run: StoredRun) -> None:
        history = await self._history.thread_messages(run.thread_id, before_run=run.id)
        spec = RunSpec(run.id, run.thread_id, run.user_id, run.content, tuple(history))
        handle = self._hold(run.id, lambda handle: self._work(spec, handle))
        if run.cancel_requested:  # cancelled while it waited in the queue, a moment ago
            handle.stop(StopReason.CANCELLED)

    def recover(self, run_id: str) -> None:
        """Close a run this process has just taken over (see RunLedger.take_over)."""
        self._hold(run_id, lambda handle: self._recover(run_id, handle))

    def announce(self, run: StoredRun) -> None:
        """Announce a run this process has just ended in the database (a queued-run cancel)."""
        self._hold(run.id, lambda handle: self._announce(run, handle))

    def _hold(self, run_id: str, work: Callable[[RunHandle], Awaitable[None]]) -> RunHandle:
        handle = RunHandle(run_id, self._lease_s)
        handle.task = asyncio.create_task(self._guarded(run_id, work(handle)), name=f"run-{run_id}")
        self._held[run_id] = handle
        handle.task.add_done_callback(lambda _: self._release(run_id, handle))
        return handle

    def _release(self, run_id: str, handle: RunHandle) -> None:
        if self._held.get(run_id) is handle:
            del self._held[run_id]

    async def _guarded(self, run_id: str, work: Awaitable[None]) -> None:
        try:
            await work
        except Exception:  # the lease lapses, and a sweeper finishes what this could not
            log.exception("run %s: could not finish closing it; a sweeper will", run_id)

    async def _work(self, spec: RunSpec, handle: RunHandle) -> None:
        ending = await self._runner.run(spec, handle)
        if ending is None:
            return
        if ending.error_code is not None:
            log.warning(
                "run %s failed: %s: %s", spec.run_id, ending.error_code, ending.error_message
            )
        handle.closing = True
        await self._closer.close(spec.run_id, ending)
        await self.promote(spec.thread_id)

    async def _recover(self, run_id: str, handle: RunHandle) -> None:
        handle.closing = True
        run = await self._closer.recover(run_id)
        if run is not None:
            await self.promote(run.thread_id)

    async def _announce(self, run: StoredRun, handle: RunHandle) -> None:
        handle.closing = True
        await self._closer.announce(run.id)
        await self.promote(run.thread_id)

    async def shutdown(self, grace_s: float) -> None:
        """Start nothing new; let runs finish for ``grace_s``; stop the rest, which then fail
        visibly (agent_stopped) and are announced before this returns."""
        self._stopping = True
        if not self._held:
            return
        tasks = [h.task for h in self._held.values() if h.task is not None]
        log.info("waiting up to %.1fs for %d run(s) to finish", grace_s, len(tasks))
        _, pending = await asyncio.wait(tasks, timeout=grace_s)
        if not pending:
            return
        log.warning("stopping %d run(s) still going at shutdown", len(pending))
        for handle in list(self._held.values()):
            handle.stop(StopReason.SHUTDOWN)
        _, stuck = await asyncio.wait(pending, timeout=_CLOSE_TIMEOUT_S)
        if stuck:
            log.error("%d run(s) could not announce their end before shutdown", len(stuck))
            for task in stuck:
                task.cancel()
