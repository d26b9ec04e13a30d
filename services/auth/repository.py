"""The users table: the only module that speaks SQLAlchemy.

The service sees plain :class:`StoredUser` values and :class:`DuplicateEmail`, never sessions or
driver errors, so the storage can change (or be faked in a test) without touching the logic.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from services.auth.models import Base, User

__all__ = ["DuplicateEmail", "StoredUser", "UserRepository", "create_tables", "open_engine"]


class DuplicateEmail(Exception):
    """An account with this email already exists."""


@dataclass(frozen=True, slots=True)
class StoredUser:
    id: str
    email: str
    password_hash: str


def open_engine(database_url: str) -> AsyncEngine:
    """An engine for ``database_url``; a SQLite file's folder is created, as a fresh clone has none.

    Raises ValueError for a URL SQLAlchemy cannot use (the message does not repeat the URL).
    """
    try:
        url = make_url(database_url)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # hide_parameters: a failing INSERT's error would otherwise quote the password hash.
        return create_async_engine(url, hide_parameters=True)
    except (ArgumentError, ImportError) as exc:  # ImportError: the URL's driver is not installed
        raise ValueError(str(exc)) from None


async def create_tables(engine: AsyncEngine) -> None:
    """Create missing tables. Stands in for migrations until Alembic arrives."""
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)


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
        if row is None:
            return None
        return StoredUser(id=row.id, email=row.email, password_hash=row.password_hash)
