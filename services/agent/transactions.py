"""The run ledger's transactions, each a sync function of a SQLAlchemy ``Connection`` (those that
take a message in are in :mod:`services.agent.recording`).

:class:`services.agent.database.Database` runs each one whole and commits it; the
:class:`services.agent.ledger.RunLedger` methods say what they mean. The statements come from
:mod:`services.agent.statements`; the rules live in their WHERE clauses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import Connection, select, update

from agentwire_sdk import Turn
from services.agent import statements as sql
from services.agent.hosting import decode_steps
from services.agent.models import CallStage, Ending, RunStatus
from services.agent.repository import StoredRun, stored_run

__all__ = ["Lease", "LeaseState", "Queued", "StoredCall", "history"]

RUNS, THREADS, CALLS = sql.RUNS, sql.THREADS, sql.CALLS
QUEUED, RUNNING = RunStatus.QUEUED.value, RunStatus.RUNNING.value


@dataclass(frozen=True, slots=True)
class Lease:
    """Who takes a run, and for how long from now."""

    owner: str
    seconds: float

    def values(self) -> dict[str, Any]:
        return {"owner": self.owner, "lease_expires_at": time.time() + self.seconds}

    def keys(self) -> dict[str, Any]:
        return {"b_owner": self.owner, "b_lease": time.time() + self.seconds}


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


@dataclass(frozen=True, slots=True)
class Queued:
    """A queued run that may start next (see :meth:`RunLedger.next_queued`)."""

    run_id: str
    thread_id: str
    user_id: str
    intake_seq: int | None


# Starting queued runs


def next_queued(conn: Connection, thread_id: str) -> Queued | None:
    row = conn.execute(sql.NEXT_QUEUED, {"b_thread": thread_id}).first()
    return None if row is None else Queued(row.id, thread_id, row.user_id, row.intake_seq)


def claim(
    conn: Connection, queued: Queued, lease: Lease
) -> tuple[StoredRun, tuple[Turn, ...]] | None:
    if conn.dialect.name == "postgresql":  # one promotion per thread at a time
        conn.execute(select(THREADS.c.id).where(THREADS.c.id == queued.thread_id).with_for_update())
    keys = {"b_run": queued.run_id, "b_thread": queued.thread_id, **lease.keys()}
    row = conn.execute(sql.CLAIM, keys).first()
    if row is None:
        return None
    run = stored_run(row)
    return run, history(conn, run)


def announce_and_next(
    conn: Connection, run_id: str, thread_id: str, owner: str, last_seq: int | None
) -> Queued | None:
    if conn.dialect.name == "postgresql":  # else a run recorded meanwhile may wait for a tick
        _lock_thread(conn, thread_id)
    mark_announced(conn, run_id, owner, last_seq)
    return next_queued(conn, thread_id)


def _lock_thread(conn: Connection, thread_id: str) -> None:
    """PostgreSQL: one change of a thread's runs at a time (record_intake's first write, a
    claim, an announcement). SQLite has one writer at a time anyway."""
    conn.execute(select(THREADS.c.id).where(THREADS.c.id == thread_id).with_for_update())


def waiting_threads(conn: Connection, limit: int) -> list[str]:
    other = RUNS.alias("other")
    running = (
        select(other.c.id)
        .where(
            other.c.thread_id == RUNS.c.thread_id,
            other.c.status != QUEUED,
            other.c.announced.is_(False),
        )
        .exists()
    )
    query = (
        select(RUNS.c.thread_id).where(RUNS.c.status == QUEUED, ~running).distinct().limit(limit)
    )
    return list(conn.scalars(query))


# Cancels


def cancel_queued(conn: Connection, run_id: str, lease: Lease) -> bool:
    outcome = conn.execute(
        update(RUNS)
        .where(RUNS.c.id == run_id, RUNS.c.status == QUEUED)
        .values(
            status=RunStatus.CANCELLED.value,
            finished_at=datetime.now(UTC),
            error_message=None,
            cancel_requested=True,
            **lease.values(),
        )
    )
    return bool(outcome.rowcount)


def request_cancel(conn: Connection, run_id: str) -> bool:
    outcome = conn.execute(
        update(RUNS)
        .where(RUNS.c.id == run_id, RUNS.c.status.in_((QUEUED, RUNNING)))
        .values(cancel_requested=True)
    )
    return bool(outcome.rowcount)


# Ending


def finish(
    conn: Connection,
    run_id: str,
    ending: Ending,
    started: bool,
    owner: str,
    calls_done: bool,
    first_seq: int | None = None,
) -> StoredRun | None:
    """A cancel recorded meanwhile wins over any other ending (FINISH refuses, then
    FINISH_CANCELLED records the cancel). ``calls_done``: the owner left no call open, so
    every call row of the run goes (some may still be waiting for the write-behind).
    ``first_seq``: where its agent_started was stored, if not recorded yet."""
    if calls_done:
        conn.execute(sql.CLOSE_CALLS_OF_RUN, {"b_run": run_id})
    now = datetime.now(UTC)
    keys = {
        "b_run": run_id,
        "b_owner": owner,
        "b_now": now,
        "b_started": now if started else None,
        "b_first_seq": first_seq,
    }
    if ending.status is not RunStatus.CANCELLED:
        row = conn.execute(sql.FINISH, {**keys, **_ending_keys(ending)}).first()
        if row is not None:
            return stored_run(row)
    row = conn.execute(sql.FINISH_CANCELLED, {**keys, **_ending_keys(Ending.cancelled())}).first()
    return None if row is None else stored_run(row)


def fail_announced_as(conn: Connection, run_id: str, owner: str, code: str, message: str) -> None:
    conn.execute(
        update(RUNS)
        .where(RUNS.c.id == run_id, RUNS.c.owner == owner)
        .values(status=RunStatus.FAILED.value, result=None, error_code=code, error_message=message)
    )


def mark_started(conn: Connection, run_id: str, first_seq: int | None = None) -> None:
    keys = {"b_run": run_id, "b_now": datetime.now(UTC), "b_first_seq": first_seq}
    conn.execute(sql.MARK_STARTED, keys)


def mark_announced(conn: Connection, run_id: str, owner: str, last_seq: int | None = None) -> None:
    conn.execute(sql.ANNOUNCED, {"b_run": run_id, "b_owner": owner, "b_last_seq": last_seq})


# Leases


def renew(conn: Connection, run_ids: list[str], lease: Lease) -> list[LeaseState]:
    conn.execute(
        update(RUNS)
        .where(RUNS.c.id.in_(run_ids), RUNS.c.owner == lease.owner)
        .values(lease_expires_at=time.time() + lease.seconds)
    )
    query = select(RUNS.c.id, RUNS.c.owner, RUNS.c.cancel_requested, RUNS.c.status).where(
        RUNS.c.id.in_(run_ids)
    )
    return [
        LeaseState(run_id, owner == lease.owner, bool(cancel), RunStatus(status))
        for run_id, owner, cancel, status in conn.execute(query).all()
    ]


def expired(conn: Connection, limit: int) -> list[str]:
    query = (
        select(RUNS.c.id)
        .where(RUNS.c.announced.is_(False), RUNS.c.lease_expires_at < time.time())
        .limit(limit)
    )
    return list(conn.scalars(query))


def take_over(conn: Connection, run_id: str, lease: Lease) -> bool:
    outcome = conn.execute(
        update(RUNS)
        .where(
            RUNS.c.id == run_id,
            RUNS.c.announced.is_(False),
            RUNS.c.lease_expires_at < time.time(),
        )
        .values(**lease.values())
    )
    return bool(outcome.rowcount)


# Tool calls


def open_call(
    conn: Connection, row: dict[str, Any], started: bool, first_seq: int | None = None
) -> None:
    if started:
        mark_started(conn, row["run_id"], first_seq)
    conn.execute(sql.INSERT_CALL, row)


def write_calls(conn: Connection, stages: dict[str, str], closed: set[str]) -> None:
    """Stages heard and calls ended since the last write, in one transaction."""
    if stages:
        conn.execute(sql.CALL_STAGE, [{"b_call": c, "b_stage": s} for c, s in stages.items()])
    if closed:
        conn.execute(sql.CLOSE_CALL, [{"b_call": call_id} for call_id in closed])


def open_calls(conn: Connection, run_id: str) -> list[StoredCall]:
    rows = conn.execute(select(CALLS).where(CALLS.c.run_id == run_id)).all()
    return [
        StoredCall(
            r.id, r.run_id, r.tool_name, CallStage(r.stage), msgspec.json.decode(r.parameters)
        )
        for r in rows
    ]


def get_run(conn: Connection, run_id: str) -> StoredRun | None:
    row = conn.execute(select(RUNS).where(RUNS.c.id == run_id)).first()
    return None if row is None else stored_run(row)


def call_row(
    call_id: str, run_id: str, tool_name: str, parameters: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": call_id,
        "run_id": run_id,
        "tool_name": tool_name,
        "parameters": msgspec.json.encode(parameters).decode(),
        "stage": CallStage.REQUESTED.value,
    }


def history(conn: Connection, run: StoredRun) -> tuple[Turn, ...]:
    """The thread before ``run``, oldest first (its newest HISTORY_RUNS runs): each message, and
    the answer and tool calls of each run that completed."""
    keys = {
        "b_thread": run.thread_id,
        "b_run": run.id,
        "b_before": datetime.fromtimestamp(run.created_at, UTC),
    }
    turns: list[Turn] = []
    for row in reversed(list(conn.execute(sql.HISTORY, keys))):
        turns.append(Turn("user", row.content))
        if row.status == RunStatus.COMPLETED.value and row.result is not None:
            turns.append(Turn("assistant", row.result, decode_steps(row.steps)))
    return tuple(turns)


def _ending_keys(ending: Ending) -> dict[str, Any]:
    return {
        "b_status": ending.status.value,
        "b_result": ending.result,
        "b_code": ending.error_code,
        "b_message": ending.error_message,
        "b_steps": ending.steps,
        "b_input_tokens": ending.input_tokens,
        "b_output_tokens": ending.output_tokens,
        "b_answer_message_id": ending.answer_message_id,
    }
