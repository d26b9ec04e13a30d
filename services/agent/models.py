"""Threads and runs as SQLAlchemy 2 declarative models, plus the run lifecycle they record.

Tables are created at start-up for now; keeping the schema on one ``Base.metadata`` is what lets
Alembic adopt it later (``target_metadata = Base.metadata``) without rewriting it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import DateTime, ForeignKey, Index, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "RunRecord", "RunStatus", "ThreadRecord"]


def _now() -> datetime:
    return datetime.now(UTC)


class RunStatus(StrEnum):
    """A run's lifecycle: ``running`` ends exactly once, in one terminal status.

    Issue 4 adds ``cancelled`` (and perhaps ``queued``); the guard below is where it goes.
    """

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self is not RunStatus.RUNNING

    def can_become(self, new: RunStatus) -> bool:
        return self is RunStatus.RUNNING and new.is_terminal


class Base(DeclarativeBase):
    pass


class ThreadRecord(Base):
    """A conversation: the runs a user started in it share its history."""

    __tablename__ = "threads"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class RunRecord(Base):
    """One message and what the agent made of it."""

    __tablename__ = "runs"
    # History is read as "this thread's runs, oldest first".
    __table_args__ = (Index("ix_runs_thread_created", "thread_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    thread_id: Mapped[str] = mapped_column(ForeignKey("threads.id"))
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.RUNNING.value)
    content: Mapped[str] = mapped_column(Text)
    # Kept now so issue 4's idempotent submit can look it up; no uniqueness is promised yet.
    client_msg_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    result: Mapped[str | None] = mapped_column(Text, default=None)
    error_code: Mapped[str | None] = mapped_column(String(32), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
