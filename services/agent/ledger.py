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
recording` for taking a message in, :mod:`services.agent.transactions` for the rest; SQLAlchemy
Core statements built once in :mod:`services.agent.statements`), run
whole by :class:`~services.agent.database.Database`. No ORM session, no identity map: rows leave
as :class:`StoredRun` values.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from agentwire_sdk import Turn
from services.agent import transactions as tx
from services.agent.database import Database
from services.agent.models import CallStage, Ending, RunStatus
from services.agent.recording import Intaken, Recorded, Refused, record_cancelled, record_intake
from services.agent.repository import StoredRun
from services.agent.statements import HISTORY_RUNS
from services.agent.transactions import Lease, LeaseState, Queued, StoredCall
from shared.wire.intake import RunIntake

__all__ = [
    "HISTORY_RUNS",
    "WRITE_BEHIND_S",
    "Intaken",
    "LeaseState",
    "Queued",
    "Recorded",
    "RunLedger",
    "StoredCall",
]

log = logging.getLogger(__name__)

WRITE_BEHIND_S = 0.25  # how late a call's stage and end may reach the database


class RunLedger:
    def __init__(self, engine: AsyncEngine, *, owner: str, lease_s: float) -> None:
        self._db = Database(engine)
        self.database = self._db  # shared with the approval store: one connection on SQLite
        self.owner = owner
        self.lease_s = lease_s
        self._lease = Lease(owner, lease_s)
        self._calls = _CallWrites(self._db)

    async def close(self) -> None:
        await self._calls.flush()
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
            return await self._db.run(record_intake, intake, seq, lease, reject_busy, ahead)
        except Refused as refused:  # rolled back: nothing written
            return Recorded(refused.outcome)
        except IntegrityError:  # recorded at this very moment by another process
            return Recorded(Intaken.DUPLICATE)

    async def record_cancelled(self, intake: RunIntake, seq: int) -> StoredRun | None:
        """A run cancelled while its message still waits in the queue: record it as ended
        (this process then owes its announcement). None if its run is recorded already."""
        try:
            return await self._db.run(record_cancelled, intake, seq, self._lease)
        except IntegrityError:  # an agent recorded it at this very moment
            return None

    # Starting queued runs

    async def next_queued(self, thread_id: str) -> Queued | None:
        """The thread's next queued run (in queue order), if nothing occupies the thread."""
        return await self._db.run(tx.next_queued, thread_id)

    async def claim(self, queued: Queued) -> tuple[StoredRun, tuple[Turn, ...]] | None:
        """Start ``queued`` here, if it is still queued and nothing occupies its thread; the run
        and its history (read in the same transaction)."""
        return await self._db.run(tx.claim, queued, self._lease)

    async def announce_and_next(
        self, run_id: str, thread_id: str, *, last_seq: int | None = None
    ) -> Queued | None:
        """Mark our run's end announced (it no longer occupies its thread; its terminal event
        is at ``last_seq``) and, in the same transaction, find the thread's next queued run."""
        return await self._db.run(tx.announce_and_next, run_id, thread_id, self.owner, last_seq)

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

    # Ending

    async def finish(
        self,
        run_id: str,
        ending: Ending,
        *,
        started: bool = False,
        calls_done: bool = False,
        first_seq: int | None = None,
    ) -> StoredRun | None:
        """Record how our running run ended; the run as ended, or None if it is not ours or not
        running any more. ``started``: its agent_started is stored (recorded now if it was not,
        with its seq ``first_seq``); ``calls_done``: no call of it is open (their rows go in the
        same transaction).

        A cancel recorded meanwhile wins over any other ending: its sender was told the run
        would end cancelled (CancelAccepted "cancelling"), and that must stay true.
        """
        if not RunStatus.RUNNING.can_become(ending.status):
            raise ValueError(f"a run cannot finish as {ending.status}")
        if not calls_done:
            await self._calls.flush()  # whoever settles its calls reads what they are now
        return await self._db.run(
            tx.finish, run_id, ending, started, self.owner, calls_done, first_seq
        )

    async def fail_announced_as(self, run_id: str, code: str, message: str) -> None:
        """The run's recorded ending could not be announced as it was (its event was too large
        to store): record the failure that was announced instead."""
        await self._db.run(tx.fail_announced_as, run_id, self.owner, code, message)

    async def mark_started(self, run_id: str, *, first_seq: int | None = None) -> None:
        """Its agent_started is stored (at ``first_seq``)."""
        await self._db.run(tx.mark_started, run_id, first_seq)

    async def mark_announced(self, run_id: str, *, last_seq: int | None = None) -> None:
        """Its terminal event is stored (at ``last_seq``)."""
        await self._db.run(tx.mark_announced, run_id, self.owner, last_seq)

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
        first_seq: int | None = None,
    ) -> None:
        """Record a call before it goes out; ``started``: the run's agent_started is stored (at
        ``first_seq``) and not yet recorded (recorded here, in the same transaction)."""
        row = tx.call_row(call_id, run_id, tool_name, parameters)
        await self._db.run(tx.open_call, row, started, first_seq)

    async def call_stage(self, call_id: str, stage: CallStage) -> None:
        """How far a call got. The first sign that a runner took it is written at once: from
        then on its tool_executing may be stored, and whoever ends the run must know. Later
        stages are written behind (see :class:`_CallWrites`)."""
        if self._calls.first_taken(call_id):
            await self._db.run(tx.write_calls, {call_id: stage.value}, set())
        else:
            self._calls.stage(call_id, stage)

    async def close_call(self, call_id: str) -> None:
        """A call answered: its row goes, written behind (see :class:`_CallWrites`)."""
        self._calls.close(call_id)

    async def open_calls(self, run_id: str) -> list[StoredCall]:
        await self._calls.flush()
        return await self._db.run(tx.open_calls, run_id)

    async def get_run(self, run_id: str) -> StoredRun | None:
        return await self._db.run(tx.get_run, run_id)


class _CallWrites:
    """A call's later changes, written behind in one transaction every ``WRITE_BEHIND_S``.

    They only tell whoever ends a run that this process could not end (a sweeper, after it
    died) how to settle its calls. A missed "running" leaves the call "taken", and the sweeper
    publishes its tool_executing again under the tool runner's own message id, which the stream
    drops as a duplicate (its window is 120 s, this delay a quarter second); a missed end leaves
    the call open, and the sweeper's tool_completed is likewise dropped. The opening and the
    first sign that a runner took the call are written at once (RunLedger.open_call and
    call_stage): without them a sweeper could not know that the call may have shown.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._stages: dict[str, str] = {}
        self._closed: set[str] = set()
        self._taken: set[str] = set()  # calls whose first stage is written
        self._timer: asyncio.TimerHandle | None = None
        self._writing: set[asyncio.Task[None]] = set()

    def first_taken(self, call_id: str) -> bool:
        """True the first time a stage is heard for ``call_id`` (it must be written now)."""
        if call_id in self._taken or call_id in self._closed:
            return False
        self._taken.add(call_id)
        return True

    def stage(self, call_id: str, stage: CallStage) -> None:
        if call_id not in self._closed:
            self._stages[call_id] = stage.value
            self._soon()

    def close(self, call_id: str) -> None:
        self._stages.pop(call_id, None)
        self._taken.discard(call_id)
        self._closed.add(call_id)
        self._soon()

    def _soon(self) -> None:
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(WRITE_BEHIND_S, self._write_now)

    def _write_now(self) -> None:
        task = asyncio.create_task(self.flush(), name="ledger-call-writes")
        self._writing.add(task)
        task.add_done_callback(self._writing.discard)

    async def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        stages, closed = self._stages, self._closed
        self._stages, self._closed = {}, set()
        if not stages and not closed:
            return
        try:
            await self._db.run(tx.write_calls, stages, closed)
        except Exception:
            log.exception(
                "could not write %d call change(s); trying again", len(stages) + len(closed)
            )
            self._stages = {**stages, **self._stages}
            self._closed |= closed
            self._soon()
