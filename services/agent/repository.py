"""Threads and runs storage: the only module that speaks SQLAlchemy.

The service and the runner see plain :class:`StoredThread` / :class:`StoredRun` values, never
sessions or rows, so the storage can change (or be faked in a test) without touching the logic.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from services.agent.models import Base, RunRecord, RunStatus, ThreadRecord

__all__ = ["AgentRepository", "StoredRun", "StoredThread", "create_tables", "open_engine"]

TITLE_LENGTH = 80


@dataclass(frozen=True, slots=True)
class StoredThread:
    id: str
    user_id: str
    title: str


@dataclass(frozen=True, slots=True)
class StoredRun:
    id: str
    thread_id: str
    user_id: str
    status: RunStatus
    content: str
    created_at: datetime
    finished_at: datetime | None
    result: str | None
    error_code: str | None
    error_message: str | None


def open_engine(database_url: str) -> AsyncEngine:
    """An engine for ``database_url``; a SQLite file's folder is created, as a fresh clone has none.

    Raises ValueError for a URL SQLAlchemy cannot use (the message does not repeat the URL).
    """
    try:
        url = make_url(database_url)
        is_sqlite = url.get_backend_name() == "sqlite"
        if is_sqlite and url.database not in (None, "", ":memory:"):
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url)
    except ArgumentError as exc:
        raise ValueError(str(exc)) from None
    if is_sqlite:
        event.listen(engine.sync_engine, "connect", _tune_sqlite)
    return engine


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Many runs write at once: WAL lets readers go on while one writes, and SQLite only enforces
    # the runs -> threads foreign key when asked to.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


async def create_tables(engine: AsyncEngine) -> None:
    """Create missing tables. Stands in for migrations until Alembic arrives."""
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)


class AgentRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def create_thread(self, user_id: str, first_message: str) -> StoredThread:
        """A new thread of ``user_id``, titled after its first message."""
        row = ThreadRecord(id=uuid.uuid4().hex, user_id=user_id, title=first_message[:TITLE_LENGTH])
        async with self._sessions() as session, session.begin():
            session.add(row)
        return StoredThread(id=row.id, user_id=row.user_id, title=row.title)

    async def find_thread(self, thread_id: str, user_id: str) -> StoredThread | None:
        """The thread if it exists *and* belongs to ``user_id``; other people's threads are None."""
        query = select(ThreadRecord).where(
            ThreadRecord.id == thread_id, ThreadRecord.user_id == user_id
        )
        async with self._sessions() as session:
            row = await session.scalar(query)
        if row is None:
            return None
        return StoredThread(id=row.id, user_id=row.user_id, title=row.title)

    async def thread_messages(self, thread_id: str) -> list[str]:
        """The user's messages in this thread so far, oldest first."""
        query = (
            select(RunRecord.content)
            .where(RunRecord.thread_id == thread_id)
            .order_by(RunRecord.created_at, RunRecord.id)
        )
        async with self._sessions() as session:
            return list(await session.scalars(query))

    async def create_run(
        self, *, thread_id: str, user_id: str, content: str, client_msg_id: str | None = None
    ) -> StoredRun:
        row = RunRecord(
            id=uuid.uuid4().hex,
            thread_id=thread_id,
            user_id=user_id,
            status=RunStatus.RUNNING.value,
            content=content,
            client_msg_id=client_msg_id,
            created_at=datetime.now(UTC),
        )
        async with self._sessions() as session, session.begin():
            session.add(row)
        return _stored_run(row)

    async def finish_run(
        self,
        run_id: str,
        status: RunStatus,
        *,
        result: str | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> bool:
        """Move a running run to ``status``; False if it had already finished (nothing changes)."""
        if not RunStatus.RUNNING.can_become(status):
            raise ValueError(f"a run cannot finish as {status}")
        # The WHERE on status is the guard: of two racing finishes only one updates the row.
        statement = (
            update(RunRecord)
            .where(RunRecord.id == run_id, RunRecord.status == RunStatus.RUNNING.value)
            .values(
                status=status.value,
                finished_at=datetime.now(UTC),
                result=result,
                error_code=error_code,
                error_message=error_message,
            )
        )
        async with self._sessions() as session, session.begin():
            outcome = await session.execute(statement)
        return bool(getattr(outcome, "rowcount", 0))

    async def get_run(self, run_id: str) -> StoredRun | None:
        async with self._sessions() as session:
            row = await session.get(RunRecord, run_id)
        return None if row is None else _stored_run(row)


def _stored_run(row: RunRecord) -> StoredRun:
    return StoredRun(
        id=row.id,
        thread_id=row.thread_id,
        user_id=row.user_id,
        status=RunStatus(row.status),
        content=row.content,
        created_at=row.created_at,
        finished_at=row.finished_at,
        result=row.result,
        error_code=row.error_code,
        error_message=row.error_message,
    )
