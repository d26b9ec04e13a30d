"""The users table: accounts, their password hashes and their token cut-off.

With :mod:`services.auth.refresh_repository` the only modules that speak SQLAlchemy. The service
sees plain :class:`StoredUser` values and :class:`DuplicateEmail`, never sessions or driver
errors, so the storage can change (or be faked in a test) without touching the logic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from services.auth.models import User

__all__ = ["DuplicateEmail", "StoredUser", "UserRepository", "open_engine"]


class DuplicateEmail(Exception):
    """An account with this email already exists."""


@dataclass(frozen=True, slots=True)
class StoredUser:
    id: str
    email: str
    password_hash: str = field(repr=False)
    tokens_valid_from: int = 0


def _stored(row: User) -> StoredUser:
    return StoredUser(
        id=row.id,
        email=row.email,
        password_hash=row.password_hash,
        tokens_valid_from=row.tokens_valid_from or 0,
    )


def open_engine(database_url: str) -> AsyncEngine:
    """An engine for ``database_url``; a SQLite file's folder is created, as a fresh clone has none.

    Raises ValueError for a URL SQLAlchemy cannot use (the message does not repeat the URL).
    """
    try:
        url = make_url(database_url)
        is_sqlite = url.get_backend_name() == "sqlite"
        if is_sqlite and url.database not in (None, "", ":memory:"):
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # hide_parameters: a failing INSERT's error would otherwise quote the password hash.
        engine = create_async_engine(url, hide_parameters=True, pool_pre_ping=True)
    except (ArgumentError, ImportError) as exc:  # ImportError: the URL's driver is not installed
        raise ValueError(str(exc)) from None
    if is_sqlite:
        event.listen(engine.sync_engine, "connect", _tune_sqlite)
    return engine


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Every login writes its session while others read their user. In SQLite's default journal
    # mode a commit waits for every reader, so a burst of logins starved writers past the busy
    # timeout ("database is locked", a 500). WAL lets readers and the one writer go on together;
    # busy_timeout makes writers wait their turn longer. As in services/agent/repository.py.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class UserRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def add(self, user: StoredUser) -> None:
        """Insert ``user``; raise DuplicateEmail if the email is taken (even by a racing insert)."""
        async with self._sessions() as session:
            session.add(User(id=user.id, email=user.email, password_hash=user.password_hash))
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
                if await self.find_by_email(user.email) is None:
                    raise
                raise DuplicateEmail(user.email) from None

    async def find_by_email(self, email: str) -> StoredUser | None:
        async with self._sessions() as session:
            row = await session.scalar(select(User).where(User.email == email))
        return None if row is None else _stored(row)

    async def find_by_id(self, user_id: str) -> StoredUser | None:
        async with self._sessions() as session:
            row = await session.get(User, user_id)
        return None if row is None else _stored(row)
