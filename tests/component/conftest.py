"""The database every service's component tests share: PostgreSQL where one answers.

The services that keep a database (auth, agent) run their component tests on SQLite and on
PostgreSQL. ``postgres_url`` is a new, empty PostgreSQL database made for one test on the server
at 127.0.0.1:5432 (CI has one; trust auth, database ``test``) and dropped after it. Where no
server answers, or none lets us in, the PostgreSQL variant is skipped, saying why.

A service's conftest decides which of its tests run on both. Auth's ``database_url`` fixture
is parametrized, so all of them do; a test marked ``both_databases`` (the agent's store tests)
gets its ``database_url`` fixture parametrized here, once per database, with ``request.param``
``"sqlite"`` or ``"postgresql"``.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

__all__ = ["DATABASES", "PG_ADMIN_DB", "PG_HOST", "PG_PORT", "PG_USERS", "postgres_url"]

PG_HOST, PG_PORT, PG_ADMIN_DB = "127.0.0.1", 5432, "test"
PG_USERS = ("postgres", "root")  # trust auth: whichever role the server has
DATABASES = ("sqlite", "postgresql")

_pg_user: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "both_databases: run the test once on SQLite and once on PostgreSQL"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marked = metafunc.definition.get_closest_marker("both_databases") is not None
    if marked and "database_url" in metafunc.fixturenames:
        metafunc.parametrize("database_url", DATABASES, indirect=True)


def _pg_answers() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1.0):
            return True
    except OSError:
        return False


async def _pg_admin() -> asyncpg.Connection:
    """A connection to the ``test`` database, as the first role the server accepts."""
    global _pg_user
    last: Exception | None = None
    for user in (_pg_user,) if _pg_user else PG_USERS:
        try:
            conn = await asyncpg.connect(
                host=PG_HOST, port=PG_PORT, user=user, database=PG_ADMIN_DB, timeout=10
            )
        except (asyncpg.PostgresError, OSError) as exc:
            last = exc
            continue
        _pg_user = user
        return conn
    pytest.skip(f"PostgreSQL variant skipped: cannot log in at {PG_HOST}:{PG_PORT}: {last!r}")


@pytest.fixture
async def postgres_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A new, empty PostgreSQL database for one test; dropped after it (connections and all)."""
    if not _pg_answers():
        pytest.skip(f"PostgreSQL variant skipped: no server answers at {PG_HOST}:{PG_PORT}")
    service = request.node.path.parent.name  # "auth", "agent": a leftover says whose it was
    name = f"agentwire_{service}_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    admin = await _pg_admin()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield f"postgresql+asyncpg://{_pg_user}@{PG_HOST}:{PG_PORT}/{name}"
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
