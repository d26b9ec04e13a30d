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

This is the run host's hot path, so it speaks SQLAlchemy Core with statements built once
(:mod:`services.agent.statements`): one transaction per change of state, no ORM session or
identity map (the rows leave as :class:`StoredRun` values).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import msgspec
from sqlalchemy import Row, delete, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.agent.models import CallStage, Ending, RunStatus
from services.agent.repository import TITLE_LENGTH, StoredRun, epoch
from services.agent.statements import (
    ANNOUNCED,
    CALL_STAGE,
    CALLS,
    CLAIM,
    CLOSE_CALL,
    FINISH,
    FINISH_CANCELLED,
    HISTORY,
    HISTORY_RUNS,
    INSERT_CALL,
    INSERT_RUN,
    MARK_STARTED,
    NEXT_QUEUED,
    OCCUPIED,
    RUN_KNOWN,
    RUNS,
    THREADS,
    TOUCH_THREAD,
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
]


@dataclass(frozen=True, slots=True)
class LeaseState:
    run_id: str
    held: bool  # still ours
    cancel_requested: bool
    status: RunStatus


@dataclass(frozen=True, slots=True)
class StoredCall:
    id: str
    run_id: str
    tool_name: str
    stage: CallStage = CallStage.REQUESTED
    parameters: dict[str, Any] = field(default_factory=dict)


class Intaken(Enum):
    """What became of a message taken from the queue."""

    STARTED = "started"  # recorded running, held by this process
    QUEUED = "queued"  # recorded queued: its thread is busy, or no slot was free
    DUPLICATE = "duplicate"  # its run was recorded before (a redelivery, a resend)
    THREAD_NOT_FOUND = "thread_not_found"  # nothing recorded
    THREAD_BUSY = "thread_busy"  # nothing recorded (DOUBLE_TEXT_POLICY=reject)


@dataclass(frozen=True, slots=True)
class Queued:
    """A queued run that may start next (see :meth:`RunLedger.next_queued`)."""

    run_id: str
    thread_id: str
    user_id: str
    intake_seq: int | None


@dataclass(frozen=True, slots=True)
class Recorded:
    outcome: Intaken
    run: StoredRun | None = None
    history: tuple[str, ...] = ()


class RunLedger:
    def __init__(self, engine: AsyncEngine, *, owner: str, lease_s: float) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._insert = postgresql.insert if self._postgres else sqlite.insert
        self.owner = owner
        self.lease_s = lease_s

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection]:
        async with self._engine.begin() as conn:
            yield conn

    async def _write(self, statement: Any) -> bool:
        async with self._transaction() as conn:
            outcome = await conn.execute(statement)
        return bool(outcome.rowcount)

    async def _first(self, statement: Any) -> Row[Any] | None:
        async with self._transaction() as conn:
            return (await conn.execute(statement)).first()

    def _lease(self) -> dict[str, Any]:
        return {"owner": self.owner, "lease_expires_at": time.time() + self.lease_s}

    def _lease_keys(self) -> dict[str, Any]:
        return {"b_owner": self.owner, "b_lease": time.time() + self.lease_s}

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
        same row its own recording makes). The first statement writes the thread (a row lock
        on PostgreSQL, SQLite's writer lock), so the reads after it see a thread nobody else is
        changing.
        """
        try:
            return await self._record_intake(intake, seq, start, reject_busy, ahead)
        except IntegrityError:  # recorded at this very moment by another process
            return Recorded(Intaken.DUPLICATE)

    async def _record_intake(
        self,
        intake: RunIntake,
        seq: int,
        start: bool,
        reject_busy: bool,
        ahead: RunIntake | None,
    ) -> Recorded:
        now = datetime.now(UTC)
        async with self._transaction() as conn:
            for maker in (intake, ahead):
                if maker is not None and maker.new_thread and maker.user_id == intake.user_id:
                    await conn.execute(
                        self._insert(THREADS)
                        .values(_thread_row(maker, now))
                        .on_conflict_do_nothing(index_elements=["id"])
                    )
            touched = await conn.execute(TOUCH_THREAD, _thread_keys(intake, now))
            if not touched.rowcount:
                return Recorded(Intaken.THREAD_NOT_FOUND)
            if await conn.scalar(RUN_KNOWN, _run_keys(intake)) is not None:
                return Recorded(Intaken.DUPLICATE)
            busy = ahead is not None or bool(
                await conn.scalar(OCCUPIED, {"b_thread": intake.thread_id})
            )
            if busy and reject_busy:
                await conn.rollback()
                return Recorded(Intaken.THREAD_BUSY)
            row = _run_row(intake, now, seq)
            if start and not busy:
                row.update(status=RunStatus.RUNNING.value, **self._lease())
            await conn.execute(INSERT_RUN, row)
            run = _stored(row)
            if run.status is not RunStatus.RUNNING:
                return Recorded(Intaken.QUEUED, run)
            history = () if intake.new_thread else await _history(conn, run)
            return Recorded(Intaken.STARTED, run, history)

    async def record_cancelled(self, intake: RunIntake, seq: int) -> StoredRun | None:
        """A run cancelled while its message still waits in the queue: record it as ended
        (this process then owes its announcement). None if its run is recorded already."""
        now = datetime.now(UTC)
        try:
            async with self._transaction() as conn:
                return await self._record_cancelled(conn, intake, seq, now)
        except IntegrityError:  # an agent recorded it at this very moment
            return None

    async def _record_cancelled(
        self, conn: AsyncConnection, intake: RunIntake, seq: int, now: datetime
    ) -> StoredRun | None:
        if intake.new_thread:
            await conn.execute(
                self._insert(THREADS)
                .values(_thread_row(intake, now))
                .on_conflict_do_nothing(index_elements=["id"])
            )
        # A write first, as in record_intake: the thread is ours alone until this ends.
        touched = await conn.execute(TOUCH_THREAD, _thread_keys(intake, now))
        if not touched.rowcount or await conn.scalar(RUN_KNOWN, _run_keys(intake)) is not None:
            return None
        row = _run_row(intake, now, seq)
        row.update(
            status=RunStatus.CANCELLED.value,
            finished_at=now,
            cancel_requested=True,
            **self._lease(),
        )
        await conn.execute(INSERT_RUN, row)
        return _stored(row)

    # Starting queued runs

    async def next_queued(self, thread_id: str) -> Queued | None:
        """The thread's next queued run (in queue order), if nothing occupies the thread."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(NEXT_QUEUED, {"b_thread": thread_id})).first()
        return None if row is None else Queued(row.id, thread_id, row.user_id, row.intake_seq)

    async def claim(self, queued: Queued) -> tuple[StoredRun, tuple[str, ...]] | None:
        """Start ``queued`` here, if it is still queued and nothing occupies its thread; the run
        and its history (read in the same transaction)."""
        thread_id = queued.thread_id
        keys = {"b_run": queued.run_id, "b_thread": thread_id, **self._lease_keys()}
        async with self._transaction() as conn:
            if self._postgres:  # serialise promotions per thread; SQLite serialises all writes
                await conn.execute(
                    select(THREADS.c.id).where(THREADS.c.id == thread_id).with_for_update()
                )
            row = (await conn.execute(CLAIM, keys)).first()
            if row is None:
                return None
            run = stored_run_of(row)
            return run, await _history(conn, run)

    async def announce_and_next(self, run_id: str, thread_id: str) -> Queued | None:
        """Mark our run's end announced (it no longer occupies its thread) and, in the same
        transaction, find the thread's next queued run."""
        async with self._transaction() as conn:
            await conn.execute(ANNOUNCED, {"b_run": run_id, "b_owner": self.owner})
            row = (await conn.execute(NEXT_QUEUED, {"b_thread": thread_id})).first()
        return None if row is None else Queued(row.id, thread_id, row.user_id, row.intake_seq)

    async def promote(self, thread_id: str) -> StoredRun | None:
        """Start the thread's next queued run if nothing occupies the thread; it is ours."""
        queued = await self.next_queued(thread_id)
        claimed = None if queued is None else await self.claim(queued)
        return None if claimed is None else claimed[0]

    async def waiting_threads(self, limit: int = 20) -> list[str]:
        """Threads with a queued run and nothing occupying them (no process had a slot, or
        their promoter died)."""
        other = RUNS.alias("other")
        running = exists().where(
            other.c.thread_id == RUNS.c.thread_id,
            other.c.status != RunStatus.QUEUED.value,
            other.c.announced.is_(False),
        )
        query = (
            select(RUNS.c.thread_id)
            .where(RUNS.c.status == RunStatus.QUEUED.value, ~running)
            .distinct()
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            return list(await conn.scalars(query))

    # Cancels

    async def cancel_queued(self, run_id: str) -> bool:
        """A queued run ends as cancelled before it ever ran; we then owe its announcement."""
        return await self._write(
            update(RUNS)
            .where(RUNS.c.id == run_id, RUNS.c.status == RunStatus.QUEUED.value)
            .values(
                status=RunStatus.CANCELLED.value,
                finished_at=datetime.now(UTC),
                error_message=None,
                cancel_requested=True,
                **self._lease(),
            )
        )

    async def request_cancel(self, run_id: str) -> bool:
        """Remember the cancel on a run still going (its owner may not have looked yet)."""
        going = (RunStatus.QUEUED.value, RunStatus.RUNNING.value)
        return await self._write(
            update(RUNS)
            .where(RUNS.c.id == run_id, RUNS.c.status.in_(going))
            .values(cancel_requested=True)
        )

    async def drop_queued(self, run_id: str) -> bool:
        """Remove a queued run that was never started."""
        return await self._write(
            delete(RUNS).where(RUNS.c.id == run_id, RUNS.c.status == RunStatus.QUEUED.value)
        )

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
        now = datetime.now(UTC)
        keys = {"b_run": run_id, "b_owner": self.owner, "b_now": now}
        keys["b_started"] = now if started else None
        async with self._transaction() as conn:
            if ending.status is not RunStatus.CANCELLED:
                row = (await conn.execute(FINISH, {**keys, **_ending_keys(ending)})).first()
                if row is not None:
                    return stored_run_of(row)
            cancelled = _ending_keys(Ending.cancelled())
            row = (await conn.execute(FINISH_CANCELLED, {**keys, **cancelled})).first()
            return None if row is None else stored_run_of(row)

    async def fail_announced_as(self, run_id: str, code: str, message: str) -> None:
        """The run's recorded ending could not be announced as it was (its event was too large
        to store): record the failure that was announced instead."""
        await self._write(
            update(RUNS)
            .where(RUNS.c.id == run_id, RUNS.c.owner == self.owner)
            .values(
                status=RunStatus.FAILED.value, result=None, error_code=code, error_message=message
            )
        )

    async def mark_started(self, run_id: str) -> None:
        async with self._transaction() as conn:
            await conn.execute(MARK_STARTED, {"b_run": run_id, "b_now": datetime.now(UTC)})

    async def mark_announced(self, run_id: str) -> None:
        async with self._transaction() as conn:
            await conn.execute(ANNOUNCED, {"b_run": run_id, "b_owner": self.owner})

    # Leases

    async def renew(self, run_ids: list[str]) -> list[LeaseState]:
        """Extend our leases on ``run_ids``; say which are still ours and which were cancelled."""
        if not run_ids:
            return []
        query = select(RUNS.c.id, RUNS.c.owner, RUNS.c.cancel_requested, RUNS.c.status).where(
            RUNS.c.id.in_(run_ids)
        )
        async with self._transaction() as conn:
            await conn.execute(
                update(RUNS)
                .where(RUNS.c.id.in_(run_ids), RUNS.c.owner == self.owner)
                .values(lease_expires_at=time.time() + self.lease_s)
            )
            rows = (await conn.execute(query)).all()
        return [
            LeaseState(run_id, owner == self.owner, bool(cancel), RunStatus(status))
            for run_id, owner, cancel, status in rows
        ]

    async def expired(self, limit: int = 20) -> list[str]:
        """Unannounced runs whose holder stopped renewing their lease."""
        query = (
            select(RUNS.c.id)
            .where(RUNS.c.announced.is_(False), RUNS.c.lease_expires_at < time.time())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            return list(await conn.scalars(query))

    async def take_over(self, run_id: str) -> bool:
        """Become the holder of an expired run; of several sweepers exactly one wins."""
        return await self._write(
            update(RUNS)
            .where(
                RUNS.c.id == run_id,
                RUNS.c.announced.is_(False),
                RUNS.c.lease_expires_at < time.time(),
            )
            .values(**self._lease())
        )

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
        row = {
            "id": call_id,
            "run_id": run_id,
            "tool_name": tool_name,
            "parameters": msgspec.json.encode(parameters).decode(),
            "stage": CallStage.REQUESTED.value,
        }
        async with self._transaction() as conn:
            if started:
                await conn.execute(MARK_STARTED, {"b_run": run_id, "b_now": datetime.now(UTC)})
            await conn.execute(INSERT_CALL, row)

    async def call_stage(self, call_id: str, stage: CallStage) -> None:
        async with self._transaction() as conn:
            await conn.execute(CALL_STAGE, {"b_call": call_id, "b_stage": stage.value})

    async def close_call(self, call_id: str) -> None:
        async with self._transaction() as conn:
            await conn.execute(CLOSE_CALL, {"b_call": call_id})

    async def open_calls(self, run_id: str) -> list[StoredCall]:
        query = select(CALLS).where(CALLS.c.run_id == run_id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            StoredCall(
                r.id, r.run_id, r.tool_name, CallStage(r.stage), msgspec.json.decode(r.parameters)
            )
            for r in rows
        ]

    async def get_run(self, run_id: str) -> StoredRun | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(RUNS).where(RUNS.c.id == run_id))).first()
        return None if row is None else stored_run_of(row)


def _thread_row(intake: RunIntake, now: datetime) -> dict[str, Any]:
    return {
        "id": intake.thread_id,
        "user_id": intake.user_id,
        "title": intake.content[:TITLE_LENGTH],
        "created_at": now,
        "updated_at": now,
    }


def _run_row(intake: RunIntake, now: datetime, seq: int) -> dict[str, Any]:
    return {
        "id": intake.run_id,
        "thread_id": intake.thread_id,
        "user_id": intake.user_id,
        "status": RunStatus.QUEUED.value,
        "content": intake.content,
        "client_msg_id": intake.client_msg_id,
        "created_at": now,
        "started_at": None,
        "finished_at": None,
        "result": None,
        "error_code": None,
        "error_message": None,
        "owner": None,
        "lease_expires_at": None,
        "cancel_requested": False,
        "announced": False,
        "intake_seq": seq,
    }


def _thread_keys(intake: RunIntake, now: datetime) -> dict[str, Any]:
    return {"b_thread": intake.thread_id, "b_user": intake.user_id, "b_now": now}


def _run_keys(intake: RunIntake) -> dict[str, Any]:
    return {"b_run": intake.run_id, "b_user": intake.user_id, "b_cmid": intake.client_msg_id}


async def _history(conn: AsyncConnection, run: StoredRun) -> tuple[str, ...]:
    """The thread's messages before ``run``, oldest first (the newest HISTORY_RUNS of them)."""
    keys = {
        "b_thread": run.thread_id,
        "b_run": run.id,
        "b_before": datetime.fromtimestamp(run.created_at, UTC),
    }
    return tuple(reversed(list(await conn.scalars(HISTORY, keys))))


def _ending_keys(ending: Ending) -> dict[str, Any]:
    return {
        "b_status": ending.status.value,
        "b_result": ending.result,
        "b_code": ending.error_code,
        "b_message": ending.error_message,
    }


def _stored(row: dict[str, Any]) -> StoredRun:
    return StoredRun(
        id=row["id"],
        thread_id=row["thread_id"],
        user_id=row["user_id"],
        status=RunStatus(row["status"]),
        content=row["content"],
        created_at=epoch(row["created_at"]) or 0.0,
        finished_at=epoch(row["finished_at"]),
        client_msg_id=row["client_msg_id"],
        owner=row["owner"],
        cancel_requested=bool(row["cancel_requested"]),
    )


def stored_run_of(row: Row[Any]) -> StoredRun:
    return StoredRun(
        id=row.id,
        thread_id=row.thread_id,
        user_id=row.user_id,
        status=RunStatus(row.status),
        content=row.content,
        created_at=epoch(row.created_at) or 0.0,
        finished_at=epoch(row.finished_at),
        result=row.result,
        error_code=row.error_code,
        error_message=row.error_message,
        client_msg_id=row.client_msg_id,
        started_at=epoch(row.started_at),
        owner=row.owner,
        cancel_requested=bool(row.cancel_requested),
        announced=bool(row.announced),
    )
