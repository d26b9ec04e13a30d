"""The auth schema as SQLAlchemy 2 declarative models.

Tables are created at start-up for now; keeping the schema here, on one ``Base.metadata``, is
what lets Alembic adopt it later (``target_metadata = Base.metadata``) without rewriting it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "User"]


def _now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class User(Base):
    """One account. ``email`` is stored normalised, so its unique index is case-insensitive."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
