"""Approvals in the database: opened by a run, decided once, read by whoever waits or ends it.

Every decision is one guarded UPDATE (``status = 'pending'``): the first of the user's tabs,
the expiry timer, a stop or a sweeper to write wins, and each of them reads back what won.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import Connection, Row, insert, select, update

from services.agent.database import Database
from services.agent.models import ApprovalRecord, ApprovalStatus

__all__ = ["ApprovalStore", "StoredApproval"]

APPROVALS = ApprovalRecord.__table__
_PENDING = ApprovalStatus.PENDING.value


@dataclass(frozen=True, slots=True)
class StoredApproval:
    id: str
    run_id: str
    user_id: str
    tool_call_id: str
    tool_name: str
    parameters: dict[str, Any]
    reason: str
    question: str | None
    status: ApprovalStatus
    decision_reason: str | None
    decided_by: str | None
    expires_at: float

    @property
    def pending(self) -> bool:
        return self.status is ApprovalStatus.PENDING


class ApprovalStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def open(self, approval: StoredApproval) -> None:
        await self._db.run(_open, approval)

    async def get(self, approval_id: str) -> StoredApproval | None:
        return await self._db.run(_get, approval_id, None)

    async def decide(
        self,
        approval_id: str,
        status: ApprovalStatus,
        *,
        user_id: str | None = None,
        reason: str | None = None,
        decided_by: str = "user",
    ) -> tuple[StoredApproval, bool] | None:
        """Write ``status`` if the approval is still pending (and, with ``user_id``, that
        user's); the approval as it now stands and whether this was the decision taken. None:
        no such approval (of that user)."""
        return await self._db.run(_decide, approval_id, status, user_id, reason, decided_by)

    async def pending(self, run_id: str) -> list[StoredApproval]:
        return await self._db.run(_pending, run_id)


def _open(conn: Connection, approval: StoredApproval) -> None:
    conn.execute(
        insert(APPROVALS).values(
            id=approval.id,
            run_id=approval.run_id,
            user_id=approval.user_id,
            tool_call_id=approval.tool_call_id,
            tool_name=approval.tool_name,
            parameters=msgspec.json.encode(approval.parameters).decode(),
            reason=approval.reason,
            question=approval.question,
            status=_PENDING,
            expires_at=approval.expires_at,
            created_at=datetime.now(UTC),
        )
    )


def _get(conn: Connection, approval_id: str, user_id: str | None) -> StoredApproval | None:
    query = select(APPROVALS).where(APPROVALS.c.id == approval_id)
    if user_id is not None:
        query = query.where(APPROVALS.c.user_id == user_id)
    row = conn.execute(query).first()
    return None if row is None else _stored(row)


def _decide(
    conn: Connection,
    approval_id: str,
    status: ApprovalStatus,
    user_id: str | None,
    reason: str | None,
    decided_by: str,
) -> tuple[StoredApproval, bool] | None:
    guarded = update(APPROVALS).where(APPROVALS.c.id == approval_id, APPROVALS.c.status == _PENDING)
    if user_id is not None:
        guarded = guarded.where(APPROVALS.c.user_id == user_id)
    written = conn.execute(
        guarded.values(status=status.value, decision_reason=reason, decided_by=decided_by)
    )
    approval = _get(conn, approval_id, user_id)
    return None if approval is None else (approval, written.rowcount == 1)


def _pending(conn: Connection, run_id: str) -> list[StoredApproval]:
    query = select(APPROVALS).where(APPROVALS.c.run_id == run_id, APPROVALS.c.status == _PENDING)
    return [_stored(row) for row in conn.execute(query)]


def _stored(row: Row[Any]) -> StoredApproval:
    return StoredApproval(
        id=row.id,
        run_id=row.run_id,
        user_id=row.user_id,
        tool_call_id=row.tool_call_id,
        tool_name=row.tool_name,
        parameters=msgspec.json.decode(row.parameters) if row.parameters else {},
        reason=row.reason,
        question=row.question,
        status=ApprovalStatus(row.status),
        decision_reason=row.decision_reason,
        decided_by=row.decided_by,
        expires_at=row.expires_at,
    )
