"""A run's lifecycle in the shared database: who holds it, until when, and how it ended.

Every agent process reads and writes these rows, so each change is one guarded UPDATE whose
WHERE clause is the rule it enforces; ``rowcount`` says whether this process won:

    promote      queued -> running, only while nothing else occupies the thread
    finish       running -> terminal, only by the run's current owner
    take_over    an unannounced run whose lease ran out gets a new owner (exactly one sweeper)
    renew        a lease is extended only by the process that holds it

A run *occupies* its thread from the moment it runs until its terminal event is announced, so
the next queued run never starts before the previous one's last event.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import aliased

from services.agent.models import (
    CallStage,
    Ending,
    OpenToolCall,
    RunRecord,
    RunStatus,
    ThreadRecord,
)
from services.agent.repository import StoredRun, stored_run

__all__ = ["LeaseState", "RunLedger", "StoredCall"]


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


class RunLedger:
    def __init__(self, engine: AsyncEngine, *, owner: str, lease_s: float) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._postgres = engine.dialect.name == "postgresql"
        self.owner = owner
        self.lease_s = lease_s

    async def _write(self, statement: Any) -> bool:
        async with self._sessions() as session, session.begin():
            outcome = await session.execute(statement)
        return bool(getattr(outcome, "rowcount", 0))

    def _lease(self) -> dict[str, Any]:
        return {"owner": self.owner, "lease_expires_at": time.time() + self.lease_s}

    async def promote(self, thread_id: str) -> StoredRun | None:
        """Start the thread's oldest queued run if nothing occupies the thread; it is ours."""
        first = (
            select(RunRecord.id)
            .where(RunRecord.thread_id == thread_id, RunRecord.status == RunStatus.QUEUED.value)
            .order_by(RunRecord.created_at, RunRecord.id)
            .limit(1)
        )
        other = aliased(RunRecord)
        busy = exists().where(
            other.thread_id == thread_id,
            (other.status != RunStatus.QUEUED.value) & other.announced.is_(False),
        )
        async with self._sessions() as session, session.begin():
            if self._postgres:  # serialise promotions per thread; SQLite serialises all writes
                await session.execute(
                    select(ThreadRecord.id).where(ThreadRecord.id == thread_id).with_for_update()
                )
            run_id = await session.scalar(first)
            if run_id is None:
                return None
            claimed = await session.execute(
                update(RunRecord)
                .where(RunRecord.id == run_id, RunRecord.status == RunStatus.QUEUED.value, ~busy)
                .values(status=RunStatus.RUNNING.value, **self._lease())
            )
            if not getattr(claimed, "rowcount", 0):
                return None
            return stored_run(await session.get_one(RunRecord, run_id))

    async def waiting_threads(self, limit: int = 20) -> list[str]:
        """Threads with a queued run and nothing occupying them (their promoter died)."""
        other = aliased(RunRecord)
        busy = exists().where(
            other.thread_id == RunRecord.thread_id,
            (other.status != RunStatus.QUEUED.value) & other.announced.is_(False),
        )
        query = (
            select(RunRecord.thread_id)
            .where(RunRecord.status == RunStatus.QUEUED.value, ~busy)
            .distinct()
            .limit(limit)
        )
        async with self._sessions() as session:
            return list(await session.scalars(query))

    async def cancel_queued(self, run_id: str) -> bool:
        """A queued run ends as cancelled before it ever ran; we then owe its announcement."""
        return await self._write(
            update(RunRecord)
            .where(RunRecord.id == run_id, RunRecord.status == RunStatus.QUEUED.value)
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
            update(RunRecord)
            .where(RunRecord.id == run_id, RunRecord.status.in_(going))
            .values(cancel_requested=True)
        )

    async def drop_queued(self, run_id: str) -> bool:
        """Remove a queued run that was never started (refused under the reject policy)."""
        return await self._write(
            delete(RunRecord).where(
                RunRecord.id == run_id, RunRecord.status == RunStatus.QUEUED.value
            )
        )

    async def finish(self, run_id: str, ending: Ending) -> bool:
        """Record how our running run ended; False if it is not ours or not running any more.

        A cancel recorded meanwhile wins over any other ending: its sender was told the run
        would end cancelled (CancelAccepted "cancelling"), and that must stay true.
        """
        if not RunStatus.RUNNING.can_become(ending.status):
            raise ValueError(f"a run cannot finish as {ending.status}")
        ours = (
            RunRecord.id == run_id,
            RunRecord.status == RunStatus.RUNNING.value,
            RunRecord.owner == self.owner,
        )
        if ending.status is not RunStatus.CANCELLED and await self._write(
            update(RunRecord)
            .where(*ours, RunRecord.cancel_requested.is_(False))
            .values(**_ended(ending))
        ):
            return True
        return await self._write(
            update(RunRecord).where(*ours).values(**_ended(Ending.cancelled()))
        )

    async def mark_started(self, run_id: str) -> None:
        await self._write(
            update(RunRecord).where(RunRecord.id == run_id).values(started_at=datetime.now(UTC))
        )

    async def mark_announced(self, run_id: str) -> None:
        await self._write(
            update(RunRecord)
            .where(RunRecord.id == run_id, RunRecord.owner == self.owner)
            .values(announced=True, lease_expires_at=None)
        )

    async def renew(self, run_ids: list[str]) -> list[LeaseState]:
        """Extend our leases on ``run_ids``; say which are still ours and which were cancelled."""
        if not run_ids:
            return []
        await self._write(
            update(RunRecord)
            .where(RunRecord.id.in_(run_ids), RunRecord.owner == self.owner)
            .values(lease_expires_at=time.time() + self.lease_s)
        )
        query = select(
            RunRecord.id, RunRecord.owner, RunRecord.cancel_requested, RunRecord.status
        ).where(RunRecord.id.in_(run_ids))
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [
            LeaseState(run_id, owner == self.owner, bool(cancel), RunStatus(status))
            for run_id, owner, cancel, status in rows
        ]

    async def expired(self, limit: int = 20) -> list[str]:
        """Unannounced runs whose holder stopped renewing their lease."""
        query = (
            select(RunRecord.id)
            .where(RunRecord.announced.is_(False), RunRecord.lease_expires_at < time.time())
            .limit(limit)
        )
        async with self._sessions() as session:
            return list(await session.scalars(query))

    async def take_over(self, run_id: str) -> bool:
        """Become the holder of an expired run; of several sweepers exactly one wins."""
        return await self._write(
            update(RunRecord)
            .where(
                RunRecord.id == run_id,
                RunRecord.announced.is_(False),
                RunRecord.lease_expires_at < time.time(),
            )
            .values(**self._lease())
        )

    async def open_call(
        self, call_id: str, run_id: str, tool_name: str, parameters: dict[str, Any]
    ) -> None:
        row = OpenToolCall(
            id=call_id,
            run_id=run_id,
            tool_name=tool_name,
            parameters=msgspec.json.encode(parameters).decode(),
        )
        async with self._sessions() as session, session.begin():
            session.add(row)

    async def call_stage(self, call_id: str, stage: CallStage) -> None:
        await self._write(
            update(OpenToolCall).where(OpenToolCall.id == call_id).values(stage=stage.value)
        )

    async def close_call(self, call_id: str) -> None:
        await self._write(delete(OpenToolCall).where(OpenToolCall.id == call_id))

    async def open_calls(self, run_id: str) -> list[StoredCall]:
        query = select(OpenToolCall).where(OpenToolCall.run_id == run_id)
        async with self._sessions() as session:
            rows = await session.scalars(query)
            return [
                StoredCall(
                    r.id,
                    r.run_id,
                    r.tool_name,
                    CallStage(r.stage),
                    msgspec.json.decode(r.parameters),
                )
                for r in rows
            ]

    async def get_run(self, run_id: str) -> StoredRun | None:
        async with self._sessions() as session:
            row = await session.get(RunRecord, run_id)
        return None if row is None else stored_run(row)


def _stored_call(row: OpenToolCall) -> StoredCall:
    parameters = msgspec.json.decode(row.parameters)
    return StoredCall(row.id, row.run_id, row.tool_name, CallStage(row.stage), parameters)


def _ended(ending: Ending) -> dict[str, Any]:
    return {
        "status": ending.status.value,
        "finished_at": datetime.now(UTC),
        "result": ending.result,
        "error_code": ending.error_code,
        "error_message": ending.error_message,
    }
