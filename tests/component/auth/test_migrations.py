"""The auth schema through Alembic: at start-up, by command, over an old database, in agreement.

Every test runs on SQLite and, where a server answers, on PostgreSQL (see conftest.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from litestar.testing import AsyncTestClient
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.auth import migrate
from services.auth.models import Base
from services.auth.passwords import PasswordHasher
from services.auth.repository import open_engine
from services.auth.settings import AuthSettings
from tests.component.auth.support import EMAIL, PASSWORD, log_in, register

MakeClient = Callable[[AuthSettings], AsyncTestClient]


@pytest.fixture
async def engine(database_url: str):
    engine = open_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_start_up_brings_a_new_database_to_the_newest_revision(
    settings: AuthSettings, make_client: MakeClient, engine: AsyncEngine
) -> None:
    async with make_client(settings) as client:
        assert (await register(client)).status_code == 201

    assert await migrate.current_revision(engine) == migrate.head()


def _differences(connection: Connection) -> list:
    return compare_metadata(MigrationContext.configure(connection), Base.metadata)


async def test_the_migrations_make_exactly_the_schema_the_models_describe(
    engine: AsyncEngine,
) -> None:
    await migrate.upgrade(engine)

    async with engine.connect() as connection:
        assert await connection.run_sync(_differences) == []


async def test_migrating_twice_changes_nothing(engine: AsyncEngine) -> None:
    assert await migrate.upgrade(engine) == await migrate.upgrade(engine) == migrate.head()


async def test_a_database_made_before_migrations_is_adopted_with_its_accounts(
    settings: AuthSettings, make_client: MakeClient, engine: AsyncEngine, hasher: PasswordHasher
) -> None:
    # What the service's old ``create_all`` left behind: a users table and no alembic_version.
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "CREATE TABLE users (id VARCHAR(64) NOT NULL PRIMARY KEY, "
                "email VARCHAR(254) NOT NULL UNIQUE, password_hash VARCHAR(255) NOT NULL, "
                "created_at TIMESTAMP WITH TIME ZONE NOT NULL)"
            )
        )
        await connection.execute(
            text("INSERT INTO users VALUES ('old_user', :email, :hash, :created)"),
            {"email": EMAIL, "hash": await hasher.hash(PASSWORD), "created": datetime.now(UTC)},
        )

    async with make_client(settings) as client:
        response = await log_in(client)

    assert response.status_code == 200, response.text
    assert await migrate.current_revision(engine) == migrate.head()


async def test_with_migrations_off_start_up_refuses_an_old_schema(
    settings: AuthSettings, make_client: MakeClient, engine: AsyncEngine
) -> None:
    no_migrations = replace(settings, migrate_on_start=False)

    # The test client reports a failed start-up inside an exception group.
    refused = pytest.RaisesExc(migrate.SchemaOutOfDate, match="dev migrate")
    with pytest.RaisesGroup(refused, flatten_subgroups=True):
        async with make_client(no_migrations):
            pass

    await migrate.upgrade(engine)
    async with make_client(no_migrations) as client:
        assert (await register(client)).status_code == 201


def _run_migrate(database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "services.auth", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_the_migrate_command_brings_the_database_to_the_newest_revision(
    database_url: str, engine: AsyncEngine
) -> None:
    result = _run_migrate(database_url)

    assert result.returncode == 0, result.stderr
    assert f"at revision {migrate.head()}" in result.stdout
    assert await migrate.current_revision(engine) == migrate.head()


def test_the_migrate_command_refuses_a_bad_url_without_repeating_it() -> None:
    result = _run_migrate("nosuchdriver://admin:s3cret@db/auth")

    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr and "s3cret" not in result.stderr
