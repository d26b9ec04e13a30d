"""Taking a message from the queue in: the run ledger's transactions that record a run.

Sync functions of a SQLAlchemy ``Connection``, as in :mod:`services.agent.transactions`; run
whole by :class:`services.agent.database.Database` through :class:`services.agent.ledger.RunLedger`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from agentwire_sdk import Turn
from services.agent import statements as sql
from services.agent.models import RunStatus
from services.agent.repository import TITLE_LENGTH, StoredRun, epoch
from services.agent.transactions import Lease, history
from shared.wire.intake import RunIntake

__all__ = ["Intaken", "Recorded", "Refused", "record_cancelled", "record_intake"]

THREADS = sql.THREADS
QUEUED, RUNNING = RunStatus.QUEUED.value, RunStatus.RUNNING.value


class Intaken(Enum):
    """What became of a message taken from the queue."""

    STARTED = "started"  # recorded running, held by this process
    QUEUED = "queued"  # recorded queued: its thread is busy, or no slot was free
    DUPLICATE = "duplicate"  # its run was recorded before (a redelivery, a resend)
    THREAD_NOT_FOUND = "thread_not_found"  # nothing recorded
    THREAD_BUSY = "thread_busy"  # nothing recorded (DOUBLE_TEXT_POLICY=reject)


@dataclass(frozen=True, slots=True)
class Recorded:
    outcome: Intaken
    run: StoredRun | None = None
    history: tuple[Turn, ...] = ()


class Refused(Exception):
    """The message's run is not recorded: raised so that the transaction writes nothing."""

    def __init__(self, outcome: Intaken) -> None:
        super().__init__(outcome.value)
        self.outcome = outcome


# Taking work in


def record_intake(
    conn: Connection,
    intake: RunIntake,
    seq: int,
    start: Lease | None,
    reject_busy: bool,
    ahead: RunIntake | None,
) -> Recorded:
    """The first statement writes the thread (a row lock on PostgreSQL, SQLite's writer lock),
    so the reads after it see a thread nobody else is changing."""
    now = datetime.now(UTC)
    for maker in (intake, ahead):
        if maker is not None and maker.new_thread and maker.user_id == intake.user_id:
            _make_thread(conn, maker, now)
    if not conn.execute(sql.TOUCH_THREAD, _thread_keys(intake, now)).rowcount:
        raise Refused(Intaken.THREAD_NOT_FOUND)
    if conn.scalar(sql.RUN_KNOWN, _run_keys(intake)) is not None:
        return Recorded(Intaken.DUPLICATE)
    busy = ahead is not None or bool(conn.scalar(sql.OCCUPIED, {"b_thread": intake.thread_id}))
    if busy and reject_busy:
        raise Refused(Intaken.THREAD_BUSY)
    row = _run_row(intake, now, seq)
    if start is not None and not busy:
        row.update(status=RUNNING, **start.values())
    conn.execute(sql.INSERT_RUN, row)
    run = _stored(row)
    if run.status is not RunStatus.RUNNING:
        return Recorded(Intaken.QUEUED, run)
    earlier = () if intake.new_thread else history(conn, run)
    return Recorded(Intaken.STARTED, run, earlier)


def record_cancelled(
    conn: Connection, intake: RunIntake, seq: int, lease: Lease
) -> StoredRun | None:
    now = datetime.now(UTC)
    if intake.new_thread:
        _make_thread(conn, intake, now)
    # A write first, as in record_intake: the thread is ours alone until this ends.
    touched = conn.execute(sql.TOUCH_THREAD, _thread_keys(intake, now))
    if not touched.rowcount or conn.scalar(sql.RUN_KNOWN, _run_keys(intake)) is not None:
        return None
    row = _run_row(intake, now, seq)
    row.update(
        status=RunStatus.CANCELLED.value,
        finished_at=now,
        cancel_requested=True,
        **lease.values(),
    )
    conn.execute(sql.INSERT_RUN, row)
    return _stored(row)


_NEW_THREAD = {  # INSERT ... ON CONFLICT DO NOTHING: a thread another message made stays
    dialect: insert(THREADS).on_conflict_do_nothing(index_elements=["id"])
    for dialect, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}


def _make_thread(conn: Connection, intake: RunIntake, now: datetime) -> None:
    row = {
        "id": intake.thread_id,
        "user_id": intake.user_id,
        "title": intake.content[:TITLE_LENGTH],
        "created_at": now,
        "updated_at": now,
    }
    conn.execute(_NEW_THREAD[conn.dialect.name], row)


def _run_row(intake: RunIntake, now: datetime, seq: int) -> dict[str, Any]:
    return {
        "id": intake.run_id,
        "thread_id": intake.thread_id,
        "user_id": intake.user_id,
        "status": QUEUED,
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
        "first_seq": None,
        "last_seq": None,
        "agent": intake.agent,
        "steps": None,
        "input_tokens": None,
        "output_tokens": None,
        "answer_message_id": None,
    }


def _thread_keys(intake: RunIntake, now: datetime) -> dict[str, Any]:
    return {"b_thread": intake.thread_id, "b_user": intake.user_id, "b_now": now}


def _run_keys(intake: RunIntake) -> dict[str, Any]:
    return {"b_run": intake.run_id, "b_user": intake.user_id, "b_cmid": intake.client_msg_id}


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
        agent=row["agent"],
    )
