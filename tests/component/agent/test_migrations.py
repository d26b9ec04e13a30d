"""The agent schema through Alembic: at start-up, by command, over an old database, in agreement.

Every test with a database runs on SQLite and on PostgreSQL (see tests/component/conftest.py).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from services.agent import migrate
from services.agent.__main__ import main
from services.agent.models import Base
from services.agent.node import AgentNode
from services.agent.repository import AgentRepository, create_tables, open_engine
from services.agent.settings import AgentSettings
from shared.settings import Env, SettingsError

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.both_databases  # database_url: a fresh database, in a fresh folder


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = open_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


def _differences(connection: Connection) -> list:
    context = MigrationContext.configure(connection, opts={"version_table": migrate.VERSION_TABLE})
    return compare_metadata(context, Base.metadata)


def _names(connection: Connection) -> set[str]:
    inspector = inspect(connection)
    tables = inspector.get_table_names()
    indexes = {index["name"] for table in tables for index in inspector.get_indexes(table)}
    return {f"table:{table}" for table in tables} | {f"index:{index}" for index in indexes}


async def test_the_migrations_make_exactly_the_schema_the_models_describe(
    engine: AsyncEngine,
) -> None:
    assert await migrate.upgrade(engine) == migrate.head()

    async with engine.connect() as connection:
        assert await connection.run_sync(_differences) == []
        names = await connection.run_sync(_names)
    assert {
        "table:threads",
        "table:runs",
        "table:open_tool_calls",
        "index:ix_threads_user_id",
        "index:ix_runs_user_id",
        "index:ix_runs_thread_created",
        "index:ix_runs_unannounced_lease",
        "index:ix_runs_status_thread",
        "index:ix_open_tool_calls_run_id",
    } <= names


async def test_migrating_twice_changes_nothing(engine: AsyncEngine) -> None:
    assert await migrate.upgrade(engine) == await migrate.upgrade(engine) == migrate.head()


async def test_agents_starting_at_once_on_postgresql_migrate_one_after_the_other(
    postgres_url: str,
) -> None:
    # Several agent machines on one database, started together, each migrating at start-up:
    # the advisory lock lines them up (SQLite, one machine's file, has no such lock).
    engines = [open_engine(postgres_url) for _ in range(3)]
    try:
        revisions = await asyncio.gather(*(migrate.upgrade(engine) for engine in engines))
        async with engines[0].connect() as connection:
            assert await connection.run_sync(_differences) == []
    finally:
        for engine in engines:
            await engine.dispose()

    assert revisions == [migrate.head()] * 3


async def test_a_database_made_before_migrations_is_adopted_with_its_runs(
    engine: AsyncEngine,
) -> None:
    # What the service's old ``create_all`` left behind: the tables and no version table.
    await create_tables(engine)
    run = await AgentRepository(engine).create_run(user_id="alice", content="kept")

    assert await migrate.upgrade(engine) == migrate.head()

    assert (await AgentRepository(engine).get_run(run.id)) is not None
    async with engine.connect() as connection:
        assert await connection.run_sync(_differences) == []


async def test_with_migrations_off_start_up_refuses_an_old_schema(
    database_url: str, engine: AsyncEngine
) -> None:
    node = AgentNode(AgentSettings(database_url=database_url, migrate_on_start=False))
    with pytest.raises(migrate.SchemaOutOfDate, match="dev migrate"):
        await node.start()
    await node.stop()

    assert await migrate.current_revision(engine) is None


def test_migrating_at_start_up_is_on_unless_turned_off() -> None:
    assert AgentSettings.from_env(Env({})).migrate_on_start
    off = AgentSettings.from_env(Env({"AGENT_MIGRATE_ON_START": "false"}))
    assert not off.migrate_on_start
    with pytest.raises(SettingsError, match="AGENT_MIGRATE_ON_START"):
        AgentSettings.from_env(Env({"AGENT_MIGRATE_ON_START": "maybe"}))


def _run_agent(*args: str, **env_vars: str) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, **env_vars}
    return subprocess.run(
        [sys.executable, "-m", "services.agent", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _run_migrate(database_url: str) -> subprocess.CompletedProcess[str]:
    return _run_agent("migrate", DATABASE_URL=database_url)


async def test_the_migrate_command_brings_the_database_to_the_newest_revision(
    database_url: str, engine: AsyncEngine
) -> None:
    result = _run_migrate(database_url)

    assert result.returncode == 0, result.stderr
    assert f"at revision {migrate.head()}" in result.stdout
    assert await migrate.current_revision(engine) == migrate.head()


def test_the_migrate_command_refuses_a_bad_url_without_repeating_it() -> None:
    result = _run_migrate("nosuchdriver://admin:s3cret@db/agent")

    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr and "s3cret" not in result.stderr


def test_an_unknown_command_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["upgrade"]) == 2
    assert "usage" in capsys.readouterr().err


def test_with_migrations_off_the_process_exits_on_an_old_schema(database_url: str) -> None:
    result = _run_agent(DATABASE_URL=database_url, AGENT_MIGRATE_ON_START="false")

    assert result.returncode == 3
    assert "AGENT_MIGRATE_ON_START" in result.stderr and "ready" not in result.stdout
