"""Threads, runs and open tool calls as SQLAlchemy 2 declarative models, plus the run lifecycle.

The schema, as the migrations leave it: the database is made by the Alembic revisions in
``migrations/`` (``target_metadata = Base.metadata``), never by ``create_all`` in the service; a
schema change is a new migration, and tests/component/agent/test_migrations.py checks the two agree.

A run's supervision lives in its row, because every agent process shares the database:
``owner`` and ``lease_expires_at`` say who is working on it and until when (renewed every
second); ``cancel_requested`` survives a cancel that arrives before the owner looks;
``started_at`` records that ``agent_started`` is stored; ``announced`` that the terminal event is;
``intake_seq`` is the message's place in the RUNS queue (its runs start in that order);
``first_seq`` / ``last_seq`` are where the run's events are in the user's event log (the seqs of
its agent_started and of its terminal event), recorded with writes the run makes anyway.
A run that has ended in the table but is not yet announced is still somebody's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "CANCEL_REASON",
    "Base",
    "CallStage",
    "Ending",
    "OpenToolCall",
    "RunRecord",
    "RunStatus",
    "ThreadRecord",
]


CANCEL_REASON = "cancelled by the user"


def _now() -> datetime:
    return datetime.now(UTC)


class RunStatus(StrEnum):
    """A run's lifecycle::

        queued ──> running ──> completed | failed | cancelled
           └────────────────────────────────────────┘ (cancelled while waiting)

    A queued run waits for the thread's previous run to end (the double-texting policy).
    """

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    def can_become(self, new: RunStatus) -> bool:
        return new in _NEXT[self]


_TERMINAL = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED})
_NEXT = {
    RunStatus.QUEUED: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED}),
    RunStatus.RUNNING: _TERMINAL,
    RunStatus.COMPLETED: frozenset(),
    RunStatus.FAILED: frozenset(),
    RunStatus.CANCELLED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class Ending:
    """How a run ended, as recorded and then announced; ``steps`` (its tool calls, JSON) and the
    tokens a model spent are recorded with it."""

    status: RunStatus
    result: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    # What the run leaves for later (not part of how it ended: equal endings may differ here).
    steps: str | None = field(default=None, compare=False)
    input_tokens: int | None = field(default=None, compare=False)
    output_tokens: int | None = field(default=None, compare=False)
    answer_message_id: str | None = field(default=None, compare=False)

    @classmethod
    def completed(cls, answer: str) -> Ending:
        return cls(RunStatus.COMPLETED, result=answer)

    @classmethod
    def failed(cls, code: str, message: str) -> Ending:
        return cls(RunStatus.FAILED, error_code=str(code), error_message=message)

    @classmethod
    def cancelled(cls, reason: str = CANCEL_REASON) -> Ending:
        return cls(RunStatus.CANCELLED, error_message=reason)


class CallStage(StrEnum):
    """How far an open tool call got, as far as the agent heard (from the runner's heartbeats).

    requested: sent, nobody has said they took it; taken: a tool runner holds it, and may store
    its tool_executing any moment; running: its tool_executing is stored.
    """

    REQUESTED = "requested"
    TAKEN = "taken"
    RUNNING = "running"


class Base(DeclarativeBase):
    pass


class ThreadRecord(Base):
    """A conversation: the runs a user started in it share its history."""

    __tablename__ = "threads"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    # Bumped by every new run, so "my threads, latest first" needs no join.
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class RunRecord(Base):
    """One message, what the agent made of it, and who is responsible for it right now."""

    __tablename__ = "runs"
    __table_args__ = (
        # History is read as "this thread's runs, oldest first".
        Index("ix_runs_thread_created", "thread_id", "created_at"),
        # The sweeper's questions: whose lease has run out before their run was announced, and
        # which threads have a run waiting?
        Index("ix_runs_unannounced_lease", "announced", "lease_expires_at"),
        Index("ix_runs_status_thread", "status", "thread_id"),
        # Idempotent submit: a resent client_msg_id finds the original run (NULLs never clash).
        UniqueConstraint("user_id", "client_msg_id", name="uq_runs_user_client_msg"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    thread_id: Mapped[str] = mapped_column(ForeignKey("threads.id"))
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.QUEUED.value)
    content: Mapped[str] = mapped_column(Text)
    client_msg_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    result: Mapped[str | None] = mapped_column(Text, default=None)
    error_code: Mapped[str | None] = mapped_column(String(32), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    owner: Mapped[str | None] = mapped_column(String(128), default=None)
    # Unix seconds rather than a DateTime: compared on every sweep, and SQLite keeps DateTime
    # as text without its zone.
    lease_expires_at: Mapped[float | None] = mapped_column(Float, default=None)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    announced: Mapped[bool] = mapped_column(Boolean, default=False)
    # The message's sequence in the RUNS stream: a thread's queued runs start in this order.
    intake_seq: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # The seqs of its agent_started and its terminal event in the EVENTS stream, once stored:
    # a client reads the whole run back with run_events(first_seq - 1, last_seq).
    first_seq: Mapped[int | None] = mapped_column(BigInteger, default=None)
    last_seq: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # The agent the message named (None: the deployment's default).
    agent: Mapped[str | None] = mapped_column(String(64), default=None)
    # The run's tool calls as JSON ([{name, parameters, result, error}]), written with its ending:
    # what the thread's later runs are told of it.
    steps: Mapped[str | None] = mapped_column(Text, default=None)
    # Tokens a model spent on it, put on its terminal event.
    input_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    output_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    # The streamed answer's message id, when not the run's default one (agent_completed names it).
    answer_message_id: Mapped[str | None] = mapped_column(String(128), default=None)


class ApprovalStatus(StrEnum):
    """An approval's lifecycle: pending, then exactly one decision (the first one written)."""

    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class ApprovalRecord(Base):
    """A person's approval a run waits for (a gated tool call, or an agent's question).

    The decision is one guarded UPDATE (``WHERE status = 'pending'``): whichever of the user's
    tabs, the expiry timer or a stop writes first wins, and every other sees what won."""

    __tablename__ = "approvals"
    __table_args__ = (Index("ix_approvals_run_status", "run_id", "status"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    user_id: Mapped[str] = mapped_column(String(64))
    tool_call_id: Mapped[str] = mapped_column(String(64))
    tool_name: Mapped[str] = mapped_column(String(64))
    parameters: Mapped[str] = mapped_column(Text, default="{}")  # JSON
    reason: Mapped[str] = mapped_column(Text, default="")
    question: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[str] = mapped_column(String(16), default=ApprovalStatus.PENDING.value)
    decision_reason: Mapped[str | None] = mapped_column(Text, default=None)
    decided_by: Mapped[str | None] = mapped_column(String(16), default=None)
    expires_at: Mapped[float] = mapped_column(Float)  # Unix seconds
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class OpenToolCall(Base):
    """A tool call whose reply the run has not had yet.

    Whoever ends the run (its owner, or a sweeper after the owner died) reads these to stop the
    calls and, for a call the user may have seen start (``stage``), to make sure its
    ``tool_completed`` is stored before the run's terminal event.
    """

    __tablename__ = "open_tool_calls"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the tool_call_id
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    tool_name: Mapped[str] = mapped_column(String(64))
    parameters: Mapped[str] = mapped_column(Text, default="{}")  # JSON, as the planner asked
    stage: Mapped[str] = mapped_column(String(16), default=CallStage.REQUESTED.value)
