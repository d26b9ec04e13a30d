"""Where the run ledger's transactions run: a whole transaction per call, as one sync function.

The ledger writes a few times per run, so the cost of one transaction is the run host's cost.
Measured on this project's 2-core box (one UPDATE and its COMMIT, CPU per transaction): through
SQLAlchemy's async engine on aiosqlite 450 µs, because every statement, cursor and commit is a
hop to aiosqlite's thread and back; the same statement through a sync engine, the whole
transaction in one hop to one thread, 110 µs. So:

    SQLite       a sync engine on one connection, in one thread of its own: one hop per
                 transaction (SQLite has one writer at a time anyway)
    PostgreSQL   the async engine (asyncpg): the sync function runs under ``run_sync``, each
                 statement one round trip to the server, no thread

A transaction function takes a SQLAlchemy ``Connection`` (sync) and its arguments, uses Core
statements only, and is committed when it returns (rolled back if it raises).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
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
        self._thread: ThreadPoolExecutor | None = None
        if engine.dialect.name == "sqlite":
            self._sync = _sqlite_engine(engine)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="agent-db")

    async def run(self, transaction: Callable[..., T], *args: Any) -> T:
        """``transaction(connection, *args)``, committed when it returns."""
        if self._sync is None:
            async with self._async.begin() as conn:
                return await conn.run_sync(transaction, *args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._thread, partial(_in_transaction, self._sync, transaction, *args)
        )

    def close(self) -> None:
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None
        if self._sync is not None:
            self._sync.dispose()
            self._sync = None


def _in_transaction(engine: Engine, transaction: Callable[..., T], *args: Any) -> T:
    with engine.begin() as conn:
        return transaction(conn, *args)


def _sqlite_engine(engine: AsyncEngine) -> Engine:
    """The same SQLite file through the standard library's driver, on one connection, tuned as
    the async engine's connections are (see repository.open_engine)."""
    url = engine.url.set(drivername="sqlite+pysqlite")
    sync = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    event.listen(sync, "connect", tune_sqlite)
    return sync
