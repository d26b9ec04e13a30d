"""The auth schema as SQLAlchemy 2 declarative models.

The tables are made by the Alembic migrations in ``migrations/versions`` (``target_metadata`` is
``Base.metadata``), never by ``create_all``: a schema change is a new migration, and these models
describe the result.

Times in the refresh tables are unix seconds (floats): compared in SQL and in Python alike with
no time-zone handling, which SQLite and PostgreSQL would otherwise each do their own way.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, Float, ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "RefreshFamily", "RefreshToken", "User"]


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
    # Unix second before which this user's access tokens are revoked; new ones never start earlier.
    tokens_valid_from: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class RefreshFamily(Base):
    """A login session: every refresh token rotated from one login; its id is the ``sid``."""

    __tablename__ = "refresh_families"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float, default=None)
    revoked_reason: Mapped[str | None] = mapped_column(String(32), default=None)


class RefreshToken(Base):
    """One refresh token, by the SHA-256 of its value: the value itself is never stored."""

    __tablename__ = "refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    family_id: Mapped[str] = mapped_column(ForeignKey("refresh_families.id"), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    spent_at: Mapped[float | None] = mapped_column(Float, default=None)
