"""The run ledger's SQL, built once: each statement is a SQLAlchemy Core construct with bound
parameters, so a call only binds values (no expression building, and one compiled-cache entry).

Parameter names start with ``b_`` (SQLAlchemy reserves a column's own name in SET clauses).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, and_, bindparam, delete, exists, func, insert, select, update

from services.agent.models import OpenToolCall, RunRecord, RunStatus, ThreadRecord

__all__ = [
    "ANNOUNCED",
    "CALLS",
    "CALL_STAGE",
    "CLAIM",
    "CLOSE_CALL",
    "CLOSE_CALLS_OF_RUN",
    "FINISH",
    "FINISH_CANCELLED",
    "HISTORY",
    "HISTORY_RUNS",
    "INSERT_CALL",
    "INSERT_RUN",
    "MARK_STARTED",
    "NEXT_QUEUED",
    "OCCUPIED",
    "RUNS",
    "RUN_KNOWN",
    "THREADS",
    "TOUCH_THREAD",
]

RUNS = RunRecord.__table__
THREADS = ThreadRecord.__table__
CALLS = OpenToolCall.__table__

QUEUED = RunStatus.QUEUED.value
RUNNING = RunStatus.RUNNING.value
# A new run is given at most this many of its thread's earlier messages (the newest).
HISTORY_RUNS = 50

_OTHER = RUNS.alias("other")


def _running_in(thread: Any) -> Any:
    """Some run of the thread is going, or ended and not yet announced."""
    return exists().where(
        _OTHER.c.thread_id == thread, _OTHER.c.status != QUEUED, _OTHER.c.announced.is_(False)
    )


# A thread's queued runs start in the order their messages reached the queue.
QUEUE_ORDER = (func.coalesce(RUNS.c.intake_seq, 0), RUNS.c.created_at, RUNS.c.id)

TOUCH_THREAD = (
    update(THREADS)
    .where(THREADS.c.id == bindparam("b_thread"), THREADS.c.user_id == bindparam("b_user"))
    .values(updated_at=bindparam("b_now"))
)
RUN_KNOWN = (  # by its id, or by the user's client_msg_id (NULL never matches)
    select(RUNS.c.id)
    .where(
        (RUNS.c.id == bindparam("b_run"))
        | and_(RUNS.c.user_id == bindparam("b_user"), RUNS.c.client_msg_id == bindparam("b_cmid"))
    )
    .limit(1)
)
OCCUPIED = select(  # waiting, going, or ended and not yet announced
    exists().where(RUNS.c.thread_id == bindparam("b_thread"), RUNS.c.announced.is_(False))
)
INSERT_RUN = insert(RUNS)
HISTORY = (
    select(RUNS.c.content, RUNS.c.status, RUNS.c.result, RUNS.c.steps)
    .where(RUNS.c.thread_id == bindparam("b_thread"), RUNS.c.id != bindparam("b_run"))
    .where(RUNS.c.created_at <= bindparam("b_before"))
    .order_by(RUNS.c.created_at.desc(), RUNS.c.id.desc())
    .limit(HISTORY_RUNS)
)
NEXT_QUEUED = (
    select(RUNS.c.id, RUNS.c.user_id, RUNS.c.intake_seq)
    .where(RUNS.c.thread_id == bindparam("b_thread"), RUNS.c.status == QUEUED)
    .where(~_running_in(bindparam("b_thread")))
    .order_by(*QUEUE_ORDER)
    .limit(1)
)
CLAIM = (
    update(RUNS)
    .where(
        RUNS.c.id == bindparam("b_run"),
        RUNS.c.status == QUEUED,
        ~_running_in(bindparam("b_thread")),
    )
    .values(status=RUNNING, owner=bindparam("b_owner"), lease_expires_at=bindparam("b_lease"))
    .returning(*RUNS.c)
)
MARK_STARTED = (  # with the seq its agent_started was stored at, when known
    update(RUNS)
    .where(RUNS.c.id == bindparam("b_run"), RUNS.c.started_at.is_(None))
    .values(
        started_at=bindparam("b_now"),
        first_seq=func.coalesce(RUNS.c.first_seq, bindparam("b_first_seq", type_=BigInteger)),
    )
)
_ENDING = {
    "status": bindparam("b_status"),
    "finished_at": bindparam("b_now"),
    "result": bindparam("b_result"),
    "error_code": bindparam("b_code"),
    "error_message": bindparam("b_message"),
    # agent_started was stored if the owner says so: recorded with the ending, at no extra cost
    "started_at": func.coalesce(RUNS.c.started_at, bindparam("b_started")),
    "first_seq": func.coalesce(RUNS.c.first_seq, bindparam("b_first_seq", type_=BigInteger)),
    "steps": bindparam("b_steps"),
    "input_tokens": bindparam("b_input_tokens"),
    "output_tokens": bindparam("b_output_tokens"),
    "answer_message_id": bindparam("b_answer_message_id"),
}
_OURS_RUNNING = and_(
    RUNS.c.id == bindparam("b_run"), RUNS.c.status == RUNNING, RUNS.c.owner == bindparam("b_owner")
)
FINISH = (
    update(RUNS)
    .where(_OURS_RUNNING, RUNS.c.cancel_requested.is_(False))
    .values(**_ENDING)
    .returning(*RUNS.c)
)
FINISH_CANCELLED = update(RUNS).where(_OURS_RUNNING).values(**_ENDING).returning(*RUNS.c)
ANNOUNCED = (  # with the seq its terminal event was stored at
    update(RUNS)
    .where(RUNS.c.id == bindparam("b_run"), RUNS.c.owner == bindparam("b_owner"))
    .values(
        announced=True,
        lease_expires_at=None,
        last_seq=func.coalesce(bindparam("b_last_seq", type_=BigInteger), RUNS.c.last_seq),
    )
)
INSERT_CALL = insert(CALLS)
CALL_STAGE = (
    update(CALLS).where(CALLS.c.id == bindparam("b_call")).values(stage=bindparam("b_stage"))
)
CLOSE_CALL = delete(CALLS).where(CALLS.c.id == bindparam("b_call"))
CLOSE_CALLS_OF_RUN = delete(CALLS).where(CALLS.c.run_id == bindparam("b_run"))
