"""Every agent process's supervisor: keep our leases, hear cancels, take over the dead's runs.

Once per tick (a third of RUN_LEASE_S, so a lease survives two missed renewals)::

    renew      extend the lease of every run this process holds; a run whose lease another
               process took is stopped silently (LEASE_LOST); a run whose cancel was recorded but
               whose broadcast we missed is stopped as CANCELLED
    sweep      any unannounced run whose lease ran out (its process was killed, or hung) is taken
               over (one guarded UPDATE: one sweeper wins) and closed here: its open tool calls
               settled, agent_failed agent_lost (or agent_cancelled, if asked) published
    promote    a thread whose queue stalled (its promoter died between two steps) moves on

A killed agent's run therefore ends within RUN_LEASE_S + one tick + the tool-cancel wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from services.agent.control import StopReason
from services.agent.ledger import LeaseState
from services.agent.models import RunStatus
from services.agent.tasks import RunTasks

__all__ = ["Supervisor"]

log = logging.getLogger(__name__)


class SupervisedLedger(Protocol):
    async def renew(self, run_ids: list[str]) -> list[LeaseState]: ...
    async def expired(self, limit: int = 20) -> list[str]: ...
    async def take_over(self, run_id: str) -> bool: ...
    async def waiting_threads(self, limit: int = 20) -> list[str]: ...


class Supervisor:
    def __init__(self, tasks: RunTasks, ledger: SupervisedLedger, *, interval_s: float) -> None:
        self._tasks = tasks
        self._ledger = ledger
        self._interval_s = interval_s
        self._loop: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop = asyncio.create_task(self._run(), name="supervisor")

    async def stop(self) -> None:
        if self._loop is not None:
            loop, self._loop = self._loop, None
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop

    async def _run(self) -> None:
        while True:
            await self.tick()
            await asyncio.sleep(self._interval_s)

    async def tick(self) -> None:
        """One round; a failing step (the database busy, say) is logged and retried next tick."""
        steps: tuple[Callable[[], Awaitable[None]], ...] = (
            self.renew,
            self.sweep,
            self.promote_waiting,
        )
        for step in steps:
            try:
                await step()
            except Exception:
                log.exception("supervisor: %s failed", step.__name__)

    async def renew(self) -> None:
        held = self._tasks.held()
        sent_at = time.monotonic()
        for state in await self._ledger.renew(list(held)):
            handle = held[state.run_id]
            if not state.held:
                log.warning("run %s: lease taken over by another agent", state.run_id)
                handle.stop(StopReason.LEASE_LOST)
                continue
            handle.renewed(sent_at)
            if state.cancel_requested and state.status is RunStatus.RUNNING:
                handle.stop(StopReason.CANCELLED)

    async def sweep(self) -> None:
        held = self._tasks.held()
        for run_id in await self._ledger.expired():
            # Our own runs are renewed above; if one lapsed anyway, another sweeper may take it.
            if run_id not in held and await self._ledger.take_over(run_id):
                log.warning("run %s: its agent stopped renewing; taking it over", run_id)
                self._tasks.recover(run_id)

    async def promote_waiting(self) -> None:
        for thread_id in await self._ledger.waiting_threads():
            await self._tasks.promote(thread_id)
