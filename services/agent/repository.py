"""Threads and run records: creating, finding and listing them (SQLAlchemy lives here and in
:mod:`services.agent.ledger`, which keeps a run's lifecycle: claims, leases, endings).

The service and the runner see plain :class:`StoredThread` / :class:`StoredRun` values, never
sessions or rows, so the storage can change (or be faked in a test) without touching the logic.
Timestamps leave this module as Unix seconds: SQLite hands DateTime back without its zone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Row, event, select, tuple_, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from services.agent.models import Base, RunRecord, RunStatus, ThreadRecord
from services.agent.paging import Page, Position, micros, moment

__all__ = [
    "AgentRepository",
    "DuplicateMessage",
    "StoredRun",
    "StoredThread",
    "create_tables",
    "epoch",
    "open_engine",
    "stored_run",
    "tune_sqlite",
]

TITLE_LENGTH = 80
# What a new run is told of its thread: the latest messages before it, as many as fit.
HISTORY_MAX_MESSAGES = 50
HISTORY_MAX_BYTES = 64_000


@dataclass(frozen=True, slots=True)
class StoredThread:
    id: str
    user_id: str
    title: str
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class StoredRun:
    id: str
    thread_id: str
    user_id: str
    status: RunStatus
    content: str
    created_at: float
    finished_at: float | None = None
    result: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    client_msg_id: str | None = None
    started_at: float | None = None
    owner: str | None = None
    cancel_requested: bool = False
    announced: bool = False
    first_seq: int | None = None  # where its agent_started is in the user's event log
    last_seq: int | None = None  # ... and its terminal event
    agent: str | None = None  # the agent the message named (None: the default)
    input_tokens: int | None = None
    output_tokens: int | None = None
    answer_message_id: str | None = None


class DuplicateMessage(Exception):
    """This user already sent a message with this client_msg_id: here is the run it started."""

    def __init__(self, original: StoredRun) -> None:
        super().__init__(original.id)
        self.original = original


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
        event.listen(engine.sync_engine, "connect", tune_sqlite)
    elif url.get_backend_name() == "postgresql":
        event.listen(engine.sync_engine, "before_cursor_execute", _without_nul, retval=True)
    return engine


def _without_nul(
    _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, executemany: bool
) -> tuple[str, Any]:
    # PostgreSQL's text cannot hold a NUL character (SQLite's can): a message, an answer or an
    # error holding one would fail to be stored, and its run with it. It is stored as U+FFFD.
    if executemany:
        return statement, [_nul_replaced(each) for each in parameters]
    return statement, _nul_replaced(parameters)


def _nul_replaced(values: Any) -> Any:
    if not any(isinstance(value, str) and "\x00" in value for value in values):
        return values  # the usual case: nothing copied
    return tuple(v.replace("\x00", "\ufffd") if isinstance(v, str) else v for v in values)


def tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Several agent processes and many runs write at once: WAL lets readers go on while one
    # writes, busy_timeout makes a writer wait its turn instead of failing, and SQLite only
    # enforces the runs -> threads foreign key when asked to. synchronous=NORMAL is WAL's
    # usual partner: a commit survives the process dying (a crash, a kill -9), and only a power
    # loss may take the last commits back; it spares an fsync per commit on the run host's hot
    # path. A deployment that needs more runs on PostgreSQL.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


async def create_tables(engine: AsyncEngine) -> None:
    """Create missing tables straight from the models: for tests on a throwaway database only.

    The service gets its schema from the Alembic migrations (:mod:`services.agent.migrate`).
    """
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)


class AgentRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def create_thread(self, user_id: str, first_message: str) -> StoredThread:
        """A new thread of ``user_id``, titled after its first message."""
        row = _new_thread(user_id, first_message)
        async with self._sessions() as session, session.begin():
            session.add(row)
        return _stored_thread(row)

    async def find_thread(self, thread_id: str, user_id: str) -> StoredThread | None:
        """The thread if it exists *and* belongs to ``user_id``; other people's threads are None."""
        query = select(ThreadRecord).where(
            ThreadRecord.id == thread_id, ThreadRecord.user_id == user_id
        )
        async with self._sessions() as session:
            row = await session.scalar(query)
        return None if row is None else _stored_thread(row)

    async def list_threads(
        self, user_id: str, *, limit: int, after: Position | None = None
    ) -> Page[StoredThread]:
        """A page of the user's threads, most recently used first, after ``after``."""
        order = (ThreadRecord.updated_at, ThreadRecord.id)
        query = select(ThreadRecord).where(ThreadRecord.user_id == user_id)
        if after is not None:
            query = query.where(tuple_(*order) < (moment(after.micros), after.id))
        query = query.order_by(*(column.desc() for column in order)).limit(limit + 1)
        async with self._sessions() as session:
            rows = list(await session.scalars(query))
        return Page(
            items=[_stored_thread(row) for row in rows[:limit]],
            positions=[Position(micros(row.updated_at), row.id) for row in rows[:limit]],
            more=len(rows) > limit,
        )

    async def thread_messages(self, thread_id: str, before_run: str | None = None) -> list[str]:
        """The latest messages in this thread before ``before_run`` (all of them without it),
        oldest first: at most HISTORY_MAX_MESSAGES, and HISTORY_MAX_BYTES of them in UTF-8 (the
        newest one always), so a long thread costs a new run no more than a short one."""
        order = (RunRecord.created_at, RunRecord.id)
        query = select(RunRecord.content).where(RunRecord.thread_id == thread_id)
        async with self._sessions() as session:
            if before_run is not None:
                where = (RunRecord.id == before_run, RunRecord.thread_id == thread_id)
                anchor = await session.execute(select(*order).where(*where))
                if (place := anchor.first()) is not None:
                    query = query.where(tuple_(*order) < tuple(place))
            query = query.order_by(*(column.desc() for column in order))
            newest_first = list(await session.scalars(query.limit(HISTORY_MAX_MESSAGES)))
        kept: list[str] = []
        spent = 0
        for content in newest_first:
            spent += len(content.encode())
            if kept and spent > HISTORY_MAX_BYTES:
                break
            kept.append(content)
        return kept[::-1]

    async def list_runs(
        self, thread_id: str, *, limit: int, after: Position | None = None
    ) -> Page[StoredRun]:
        """A page of the thread's runs, newest first, after ``after``."""
        order = (RunRecord.created_at, RunRecord.id)
        query = select(RunRecord).where(RunRecord.thread_id == thread_id)
        if after is not None:
            query = query.where(tuple_(*order) < (moment(after.micros), after.id))
        query = query.order_by(*(column.desc() for column in order)).limit(limit + 1)
        async with self._sessions() as session:
            rows = list(await session.scalars(query))
        return Page(
            items=[stored_run(row) for row in rows[:limit]],
            positions=[Position(micros(row.created_at), row.id) for row in rows[:limit]],
            more=len(rows) > limit,
        )

    async def create_run(
        self,
        *,
        user_id: str,
        content: str,
        thread_id: str | None = None,
        client_msg_id: str | None = None,
    ) -> StoredRun:
        """A queued run, in ``thread_id`` or in a new thread; one transaction, so a refused
        duplicate leaves no empty thread behind. Raises DuplicateMessage for a resent id."""
        now = datetime.now(UTC)
        thread = _new_thread(user_id, content) if thread_id is None else None
        row = RunRecord(
            id=uuid.uuid4().hex,
            thread_id=thread.id if thread is not None else thread_id,
            user_id=user_id,
            status=RunStatus.QUEUED.value,
            content=content,
            client_msg_id=client_msg_id,
            created_at=now,
        )
        try:
            async with self._sessions() as session, session.begin():
                if thread is not None:
                    session.add(thread)
                    await session.flush()  # the thread row first, for the foreign key
                else:
                    await session.execute(_touch(row.thread_id, now))
                session.add(row)
        except IntegrityError:
            original = await self.find_message(user_id, client_msg_id)
            if original is None:
                raise
            raise DuplicateMessage(original) from None
        return stored_run(row)

    async def find_message(self, user_id: str, client_msg_id: str | None) -> StoredRun | None:
        """The run this user's ``client_msg_id`` started, if any."""
        if client_msg_id is None:
            return None
        query = select(RunRecord).where(
            RunRecord.user_id == user_id, RunRecord.client_msg_id == client_msg_id
        )
        async with self._sessions() as session:
            row = await session.scalar(query)
        return None if row is None else stored_run(row)

    async def get_run(self, run_id: str) -> StoredRun | None:
        async with self._sessions() as session:
            row = await session.get(RunRecord, run_id)
        return None if row is None else stored_run(row)


def _new_thread(user_id: str, first_message: str) -> ThreadRecord:
    now = datetime.now(UTC)
    return ThreadRecord(
        id=uuid.uuid4().hex,
        user_id=user_id,
        title=first_message[:TITLE_LENGTH],
        created_at=now,
        updated_at=now,
    )


def _touch(thread_id: str, when: datetime) -> Any:
    return update(ThreadRecord).where(ThreadRecord.id == thread_id).values(updated_at=when)


def epoch(value: datetime | None) -> float | None:
    """Unix seconds; a zone-less value (SQLite's) was written as UTC."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _stored_thread(row: ThreadRecord) -> StoredThread:
    return StoredThread(
        id=row.id,
        user_id=row.user_id,
        title=row.title,
        created_at=epoch(row.created_at) or 0.0,
        updated_at=epoch(row.updated_at) or 0.0,
    )


def stored_run(row: RunRecord | Row[Any]) -> StoredRun:
    """A run as the rest of the service sees it, from an ORM row or a Core one (same names)."""
    return StoredRun(
        id=row.id,
        thread_id=row.thread_id,
        user_id=row.user_id,
        status=RunStatus(row.status),
        content=row.content,
        created_at=epoch(row.created_at) or 0.0,
        finished_at=epoch(row.finished_at),
        result=row.result,
        error_code=row.error_code,
        error_message=row.error_message,
        client_msg_id=row.client_msg_id,
        started_at=epoch(row.started_at),
        owner=row.owner,
        cancel_requested=bool(row.cancel_requested),
        announced=bool(row.announced),
        first_seq=row.first_seq,
        last_seq=row.last_seq,
        agent=row.agent,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        answer_message_id=row.answer_message_id,
    )
