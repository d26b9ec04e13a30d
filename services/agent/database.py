"""Where the run ledger's transactions run: a whole transaction per call, as one sync function.

The ledger writes a few times per run, so the cost of one transaction is the run host's cost.
Measured on this project's 2-core box (one UPDATE and its COMMIT, CPU per transaction): through
SQLAlchemy's async engine on aiosqlite 450 µs, because every statement, cursor and commit is a
hop to aiosqlite's thread and back; a sync engine with the whole transaction in one hop to a
thread of its own 110 µs; the same on the event loop's own thread about 60 µs, and agent CPU per
built-in run fell from 6.9 to 5.4 ms with it. So:

    SQLite       a sync engine on one connection, called on the event loop's thread: a
                 transaction here is a few short statements on a local file (tens of µs in WAL
                 mode, no fsync with synchronous=NORMAL); the loop waits for it as it would
                 wait for the thread. SQLite has one writer at a time anyway; when another
                 process holds the lock, busy_timeout makes this one wait, loop included, so a
                 deployment with several agent processes under load belongs on PostgreSQL.
    PostgreSQL   the async engine (asyncpg): the sync function runs under ``run_sync``, each
                 statement one round trip to the server, the loop free meanwhile

A transaction function takes a SQLAlchemy ``Connection`` (sync) and its arguments, uses Core
statements only, and is committed when it returns (rolled back if it raises).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import StaticPool

from services.agent.repository import tune_sqlite  # the one place the pragmas are set

__all__ = ["Database"]

T = TypeVar("T")


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.postgres = engine.dialect.name == "postgresql"
        self._async = engine
        self._sync: Engine | None = None
        if engine.dialect.name == "sqlite":
            self._sync = _sqlite_engine(engine)

    async def run(self, transaction: Callable[..., T], *args: Any) -> T:
        """``transaction(connection, *args)``, committed when it returns."""
        if self._sync is not None:
            with self._sync.begin() as conn:
                return transaction(conn, *args)
        async with self._async.begin() as conn:
            return await conn.run_sync(transaction, *args)

    def close(self) -> None:
        if self._sync is not None:
            self._sync.dispose()
            self._sync = None


def _sqlite_engine(engine: AsyncEngine) -> Engine:
    """The same SQLite file through the standard library's driver, on one connection, tuned as
    the async engine's connections are (see repository.open_engine)."""
    url = engine.url.set(drivername="sqlite+pysqlite")
    sync = create_engine(url, poolclass=StaticPool)
    event.listen(sync, "connect", tune_sqlite)
    return sync
