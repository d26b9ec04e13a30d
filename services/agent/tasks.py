"""The runs this agent process holds: one task each, with the handle that renews and stops it.

Three kinds of task hold a run's lease: a run being worked on (then closed), a run taken over
from a dead holder (closed for it), and a run cancelled while it waited (announced). Whichever
ends a run then promotes the thread's next queued run, so a queue moves on in whichever process
its previous run ended; a sweeper catches the rest (see :mod:`services.agent.supervision`).

Order: a thread's queued runs start in the order their messages reached the RUNS queue, even
when two agent processes record them the other way round.

Slots: a run takes one of this process's ``AGENT_MAX_CONCURRENT_RUNS`` slots *before* it is
recorded as running (by the intake, or by a promotion), and gives it back when its task ends. A
process with no free slot takes no work: the message waits in the queue, the run in its thread.

A run that ignores being stopped (its code swallows the cancellation) is abandoned after
``stop_grace_s``: its handle is fenced, so nothing it still tries to publish reaches the user;
its ending is recorded and announced from outside, and its slot is given back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from agentwire_sdk import Turn
from services.agent import observe
from services.agent.closing import Closer
from services.agent.control import RunHandle, StopReason
from services.agent.ledger import Queued
from services.agent.models import Ending
from services.agent.repository import StoredRun
from services.agent.runner import Runner, RunSpec, stopped_ending

__all__ = ["RunTasks", "Slots"]

log = logging.getLogger(__name__)

# After the grace period, stopped runs get this long to record and announce their end.
_CLOSE_TIMEOUT_S = 5.0
DEFAULT_STOP_GRACE_S = 5.0


class Slots:
    """How many more runs this process may work on at once."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._free = size
        self._freed = asyncio.Event()
        self._freed.set()

    @property
    def free(self) -> int:
        return self._free

    def take(self) -> bool:
        if self._free <= 0:
            return False
        self._free -= 1
        if self._free == 0:
            self._freed.clear()
        return True

    def give(self) -> None:
        self._free = min(self.size, self._free + 1)
        self._freed.set()

    async def wait_free(self) -> int:
        """Until a slot is free; how many are."""
        while self._free <= 0:
            await self._freed.wait()
        return self._free


class RunExecutor(Protocol):
    async def run(self, spec: RunSpec, handle: RunHandle) -> Ending | None: ...


class Promoter(Protocol):
    async def next_queued(self, thread_id: str) -> Queued | None: ...
    async def claim(self, queued: Queued) -> tuple[StoredRun, tuple[Turn, ...]] | None: ...


class ThreadOrder(Protocol):
    async def earlier_waiting(self, user_id: str, thread_id: str, seq: int) -> bool: ...


class RunTasks:
    def __init__(
        self,
        *,
        runner: RunExecutor,
        closer: Closer,
        ledger: Promoter,
        slots: Slots,
        order: ThreadOrder,
        lease_s: float,
        stop_grace_s: float = DEFAULT_STOP_GRACE_S,
    ) -> None:
        self._runner = runner
        self._closer = closer
        self._ledger = ledger
        self.slots = slots
        self._order = order
        self._lease_s = lease_s
        self._stop_grace_s = stop_grace_s
        self._held: dict[str, RunHandle] = {}
        self._abandoned: set[asyncio.Task[None]] = set()
        self._stopping = False

    @property
    def runner(self) -> Runner:
        return self._runner

    @property
    def running(self) -> int:
        return len(self._held)

    @property
    def stopping(self) -> bool:
        return self._stopping

    def held(self) -> dict[str, RunHandle]:
        return dict(self._held)

    def stop(self, run_id: str, reason: StopReason) -> bool:
        handle = self._held.get(run_id)
        if handle is None or not handle.stop(reason):
            return False
        asyncio.get_running_loop().call_later(self._stop_grace_s, self._abandon_if_stuck, handle)
        return True

    async def promote(self, thread_id: str, queued: Queued | None = None) -> StoredRun | None:
        """Start the thread's next queued run here (``queued``, if the caller has just found
        it), if the thread is free and a slot is, and no earlier message of the thread still
        waits in the RUNS queue (its run goes first: the agent that records it promotes again);
        return it."""
        if self._stopping or not self.slots.take():
            return None
        try:
            promoted = await self._claim_next(thread_id, queued)
        except BaseException:
            self.slots.give()
            raise
        if promoted is None:
            self.slots.give()
            return None
        run, history = promoted
        self.start(run, history)
        return run

    async def promote_queued(self, queued: Queued) -> StoredRun | None:
        return await self.promote(queued.thread_id, queued)

    async def _claim_next(
        self, thread_id: str, queued: Queued | None
    ) -> tuple[StoredRun, tuple[Turn, ...]] | None:
        if queued is None:
            queued = await self._ledger.next_queued(thread_id)
        if queued is None:
            return None
        seq = queued.intake_seq
        if seq and await self._order.earlier_waiting(queued.user_id, thread_id, seq):
            return None
        return await self._ledger.claim(queued)

    def start(self, run: StoredRun, history: tuple[Turn, ...] = ()) -> None:
        """Work on ``run``, recorded as running and held by this process, with a slot taken."""
        spec = RunSpec(run.id, run.thread_id, run.user_id, run.content, history, run.agent)
        self._hold(run.id, lambda handle: self._work(spec, handle), slot=True)
        if run.cancel_requested:  # cancelled while it waited in the queue, a moment ago
            self.stop(run.id, StopReason.CANCELLED)

    def recover(self, run_id: str) -> None:
        """Close a run this process has just taken over (see RunLedger.take_over)."""
        self._hold(run_id, lambda handle: self._recover(run_id, handle))

    def announce(self, run: StoredRun) -> None:
        """Announce a run this process has just ended in the database (a queued-run cancel)."""
        self._hold(run.id, lambda handle: self._announce(run, handle))

    def _hold(
        self, run_id: str, work: Callable[[RunHandle], Awaitable[None]], *, slot: bool = False
    ) -> RunHandle:
        handle = RunHandle(run_id, self._lease_s, slot=slot)
        handle.give_slot = lambda: self._give_slot(handle)
        handle.regain_slot = lambda: self._regain_slot(handle)
        handle.task = asyncio.create_task(
            self._guarded(run_id, work(handle)),
            name=f"run-{run_id}",
            context=observe.run_context(run_id),  # its ids in every log line, its trace
        )
        self._held[run_id] = handle
        handle.task.add_done_callback(lambda _: self._release(run_id, handle))
        return handle

    def _release(self, run_id: str, handle: RunHandle) -> None:
        if self._held.get(run_id) is handle:
            del self._held[run_id]
        self._give_slot(handle)

    def _give_slot(self, handle: RunHandle) -> None:
        if handle.slot:
            handle.slot = False
            self.slots.give()

    async def _regain_slot(self, handle: RunHandle) -> None:
        """A run that gave its slot back while it waited goes on only with one again."""
        while not handle.slot:
            await self.slots.wait_free()
            if self.slots.take():
                handle.slot = True

    async def _guarded(self, run_id: str, work: Awaitable[None]) -> None:
        try:
            await work
        except Exception:  # the lease lapses, and a sweeper finishes what this could not
            log.exception("run %s: could not finish closing it; a sweeper will", run_id)

    async def _work(self, spec: RunSpec, handle: RunHandle) -> None:
        ending = await self._runner.run(spec, handle)
        if ending is None or handle.fenced:
            return
        if ending.error_code is not None:
            log.warning(
                "run %s failed: %s: %s", spec.run_id, ending.error_code, ending.error_message
            )
        handle.closing = True
        queued = await self._closer.close(
            spec.run_id,
            ending,
            open_calls=handle.open_calls > 0,
            started=handle.started,
            first_seq=handle.first_seq,
        )
        self._give_slot(handle)  # the run's work is over: its slot may start the next one
        if queued is not None:
            await self.promote_queued(queued)

    def _abandon_if_stuck(self, handle: RunHandle) -> None:
        """A stopped run still going after the grace: end it from outside, fence it off."""
        task = handle.task
        if (
            task is None
            or task.done()
            or handle.closing
            or self._held.get(handle.run_id) is not handle
        ):
            return
        log.error(
            "run %s ignored being stopped (%s) for %.1fs: ending it without its code",
            handle.run_id,
            handle.reason,
            self._stop_grace_s,
        )
        handle.fence()
        self._abandoned.add(task)
        task.add_done_callback(self._abandoned.discard)
        ending = stopped_ending(handle.reason)
        if ending is None:  # another process holds it now and ends it
            self._release(handle.run_id, handle)
            return
        del self._held[handle.run_id]
        handle.slot = False  # handed to the closer, which gives it back when it is done
        self._hold(handle.run_id, lambda h: self._close_abandoned(handle, h, ending), slot=True)

    async def _close_abandoned(self, stuck: RunHandle, handle: RunHandle, ending: Ending) -> None:
        handle.closing = True
        queued = await self._closer.close(
            stuck.run_id, ending, started=stuck.started, first_seq=stuck.first_seq
        )
        self._give_slot(handle)
        if queued is not None:
            await self.promote_queued(queued)

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
        if self._held:
            tasks = [h.task for h in self._held.values() if h.task is not None]
            log.info("waiting up to %.1fs for %d run(s) to finish", grace_s, len(tasks))
            _, pending = await asyncio.wait(tasks, timeout=grace_s)
            if pending:
                log.warning("stopping %d run(s) still going at shutdown", len(pending))
                for handle in list(self._held.values()):
                    handle.stop(StopReason.SHUTDOWN)
                _, stuck = await asyncio.wait(pending, timeout=_CLOSE_TIMEOUT_S)
                if stuck:
                    log.error("%d run(s) could not announce their end before shutdown", len(stuck))
                    for task in stuck:
                        task.cancel()
        for task in self._abandoned:  # fenced runaways: one more cancel, and no waiting on them
            task.cancel()
