"""Bringing the agent database to the newest schema with Alembic, from async code.

Used at start-up (``AGENT_MIGRATE_ON_START``, on by default for development) and by
``python -m services.agent migrate`` (``./dev migrate``). With migrations off, start-up only
checks that the database is at the newest revision and refuses to serve an older schema.

The revision is kept in its own table, ``agent_alembic_version``, so the agent and auth schemas
can share one database (one ``DATABASE_URL`` for both) without reading each other's revision.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = [
    "MIGRATIONS_DIR",
    "VERSION_TABLE",
    "SchemaOutOfDate",
    "check_at_head",
    "current_revision",
    "head",
    "upgrade",
]

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
VERSION_TABLE = "agent_alembic_version"
# Any fixed number: every agent process migrating the same PostgreSQL database takes this lock,
# so two starting at once run the migrations one after the other instead of racing.
_PG_LOCK_ID = 0x6167656E  # "agen"


class SchemaOutOfDate(RuntimeError):
    """The database is not at the newest revision and migrating at start-up is off."""


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision the code knows."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
    command.upgrade(_config(connection), "head")


def _current(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


async def upgrade(engine: AsyncEngine) -> str:
    """Apply every missing migration in one transaction; return the revision now current."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)
        revision = await connection.run_sync(_current)
    log.info("agent database at revision %s", revision)
    assert revision is not None
    return revision


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(_current)


async def check_at_head(engine: AsyncEngine) -> None:
    """Raise SchemaOutOfDate unless the database is at the newest revision."""
    current, newest = await current_revision(engine), head()
    if current != newest:
        raise SchemaOutOfDate(
            f"the agent database is at revision {current or 'none'}, the code needs {newest}: "
            "run `./dev migrate` (python -m services.agent migrate) or set AGENT_MIGRATE_ON_START=1"
        )
