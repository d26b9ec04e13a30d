"""A run's lifecycle in the shared database: taken in, who holds it, until when, how it ended.

Every agent process reads and writes these rows, so each change is one guarded statement whose
WHERE clause is the rule it enforces; the row count (or the row RETURNING gives) says whether
this process won:

    record_intake  a stored message becomes a run: running (a slot was free and the thread is
                   idle) or queued; a redelivered message finds its run already there
    claim          queued -> running, only while nothing else occupies the thread
    finish         running -> terminal, only by the run's current owner
    take_over      an unannounced run whose lease ran out gets a new owner (exactly one sweeper)
    renew          a lease is extended only by the process that holds it

A run *occupies* its thread from the moment it is recorded until its terminal event is
announced, so the next run never starts before the previous one's last event.

This is the run host's hot path: each method is one transaction (:mod:`services.agent.
transactions`, SQLAlchemy Core statements built once in :mod:`services.agent.statements`), run
whole by :class:`~services.agent.database.Database`. No ORM session, no identity map: rows leave
as :class:`StoredRun` values.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.agent import transactions as tx
from services.agent.database import Database
from services.agent.models import CallStage, Ending, RunStatus
from services.agent.repository import StoredRun
from services.agent.statements import HISTORY_RUNS
from services.agent.transactions import (
    Intaken,
    Lease,
    LeaseState,
    Queued,
    Recorded,
    StoredCall,
    stored_run_of,
)
from shared.wire.intake import RunIntake

__all__ = [
    "HISTORY_RUNS",
    "Intaken",
    "LeaseState",
    "Queued",
    "Recorded",
    "RunLedger",
    "StoredCall",
    "stored_run_of",
]


class RunLedger:
    def __init__(self, engine: AsyncEngine, *, owner: str, lease_s: float) -> None:
        self._db = Database(engine)
        self.owner = owner
        self.lease_s = lease_s
        self._lease = Lease(owner, lease_s)

    def close(self) -> None:
        self._db.close()

    # Taking work in

    async def record_intake(
        self,
        intake: RunIntake,
        *,
        seq: int,
        start: bool,
        reject_busy: bool = False,
        ahead: RunIntake | None = None,
    ) -> Recorded:
        """Record the run of a message from the queue (stored at ``seq``), in one transaction.

        ``start``: this process has a slot for it; it starts if its thread is idle. ``ahead``:
        an earlier message of the same thread that still waits in the queue; the thread counts
        as busy, and if that message starts the thread, the thread is made from it here (the
        same row its own recording makes).
        """
        lease = self._lease if start else None
        try:
            return await self._db.run(tx.record_intake, intake, seq, lease, reject_busy, ahead)
        except IntegrityError:  # recorded at this very moment by another process
            return Recorded(Intaken.DUPLICATE)

    async def record_cancelled(self, intake: RunIntake, seq: int) -> StoredRun | None:
        """A run cancelled while its message still waits in the queue: record it as ended
        (this process then owes its announcement). None if its run is recorded already."""
        try:
            return await self._db.run(tx.record_cancelled, intake, seq, self._lease)
        except IntegrityError:  # an agent recorded it at this very moment
            return None

    # Starting queued runs

    async def next_queued(self, thread_id: str) -> Queued | None:
        """The thread's next queued run (in queue order), if nothing occupies the thread."""
        return await self._db.run(tx.next_queued, thread_id)

    async def claim(self, queued: Queued) -> tuple[StoredRun, tuple[str, ...]] | None:
        """Start ``queued`` here, if it is still queued and nothing occupies its thread; the run
        and its history (read in the same transaction)."""
        return await self._db.run(tx.claim, queued, self._lease)

    async def announce_and_next(self, run_id: str, thread_id: str) -> Queued | None:
        """Mark our run's end announced (it no longer occupies its thread) and, in the same
        transaction, find the thread's next queued run."""
        return await self._db.run(tx.announce_and_next, run_id, thread_id, self.owner)

    async def promote(self, thread_id: str) -> StoredRun | None:
        """Start the thread's next queued run if nothing occupies the thread; it is ours."""
        queued = await self.next_queued(thread_id)
        claimed = None if queued is None else await self.claim(queued)
        return None if claimed is None else claimed[0]

    async def waiting_threads(self, limit: int = 20) -> list[str]:
        """Threads with a queued run and nothing occupying them (no process had a slot, or
        their promoter died)."""
        return await self._db.run(tx.waiting_threads, limit)

    # Cancels

    async def cancel_queued(self, run_id: str) -> bool:
        """A queued run ends as cancelled before it ever ran; we then owe its announcement."""
        return await self._db.run(tx.cancel_queued, run_id, self._lease)

    async def request_cancel(self, run_id: str) -> bool:
        """Remember the cancel on a run still going (its owner may not have looked yet)."""
        return await self._db.run(tx.request_cancel, run_id)

    async def drop_queued(self, run_id: str) -> bool:
        """Remove a queued run that was never started."""
        return await self._db.run(tx.drop_queued, run_id)

    # Ending

    async def finish(
        self, run_id: str, ending: Ending, *, started: bool = False
    ) -> StoredRun | None:
        """Record how our running run ended; the run as ended, or None if it is not ours or not
        running any more. ``started``: its agent_started is stored (recorded now if it was not).

        A cancel recorded meanwhile wins over any other ending: its sender was told the run
        would end cancelled (CancelAccepted "cancelling"), and that must stay true.
        """
        if not RunStatus.RUNNING.can_become(ending.status):
            raise ValueError(f"a run cannot finish as {ending.status}")
        return await self._db.run(tx.finish, run_id, ending, started, self.owner)

    async def fail_announced_as(self, run_id: str, code: str, message: str) -> None:
        """The run's recorded ending could not be announced as it was (its event was too large
        to store): record the failure that was announced instead."""
        await self._db.run(tx.fail_announced_as, run_id, self.owner, code, message)

    async def mark_started(self, run_id: str) -> None:
        await self._db.run(tx.mark_started, run_id)

    async def mark_announced(self, run_id: str) -> None:
        await self._db.run(tx.mark_announced, run_id, self.owner)

    # Leases

    async def renew(self, run_ids: list[str]) -> list[LeaseState]:
        """Extend our leases on ``run_ids``; say which are still ours and which were cancelled."""
        if not run_ids:
            return []
        return await self._db.run(tx.renew, run_ids, self._lease)

    async def expired(self, limit: int = 20) -> list[str]:
        """Unannounced runs whose holder stopped renewing their lease."""
        return await self._db.run(tx.expired, limit)

    async def take_over(self, run_id: str) -> bool:
        """Become the holder of an expired run; of several sweepers exactly one wins."""
        return await self._db.run(tx.take_over, run_id, self._lease)

    # Tool calls

    async def open_call(
        self,
        call_id: str,
        run_id: str,
        tool_name: str,
        parameters: dict[str, Any],
        *,
        started: bool = False,
    ) -> None:
        """Record a call before it goes out; ``started``: the run's agent_started is stored and
        not yet recorded (recorded here, in the same transaction)."""
        row = tx.call_row(call_id, run_id, tool_name, parameters)
        await self._db.run(tx.open_call, row, started)

    async def call_stage(self, call_id: str, stage: CallStage) -> None:
        await self._db.run(tx.call_stage, call_id, stage.value)

    async def close_call(self, call_id: str) -> None:
        await self._db.run(tx.close_call, call_id)

    async def open_calls(self, run_id: str) -> list[StoredCall]:
        return await self._db.run(tx.open_calls, run_id)

    async def get_run(self, run_id: str) -> StoredRun | None:
        return await self._db.run(tx.get_run, run_id)
