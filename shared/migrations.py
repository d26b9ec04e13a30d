"""Bringing a service's database to the newest schema with Alembic, from async code.

Each service with a database (auth, agent) keeps its revisions in ``services/<name>/migrations/``
and describes them with one :class:`Migrations`. Used at start-up (``<NAME>_MIGRATE_ON_START``,
on by default for development) and by ``python -m services.<name> migrate`` (``./dev migrate``).
With migrations off, start-up only checks the database is at the newest revision and refuses to
serve an older schema.

Each service records its revision in its own version table, so several services may share one
database without reading each other's revision. On PostgreSQL every process migrating takes an
advisory lock first, so two starting at once migrate one after the other instead of racing.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.settings import SettingsError

__all__ = ["Migrations", "SchemaOutOfDate"]

log = logging.getLogger(__name__)


class SchemaOutOfDate(RuntimeError):
    """The database is not at the newest revision and migrating at start-up is off."""


@dataclass(frozen=True)
class Migrations:
    service: str  # "auth": names the log line, the command and the setting in messages
    directory: Path
    lock_id: int  # any fixed number, one per service
    version_table: str = "alembic_version"

    def _config(self, connection: Connection | None = None) -> Config:
        config = Config()
        config.set_main_option("script_location", str(self.directory))
        config.attributes["connection"] = connection
        return config

    def head(self) -> str:
        """The newest revision the code knows."""
        revision = ScriptDirectory.from_config(self._config()).get_current_head()
        assert revision is not None
        return revision

    def _upgrade(self, connection: Connection) -> None:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": self.lock_id})
        command.upgrade(self._config(connection), "head")

    def _current(self, connection: Connection) -> str | None:
        opts = {"version_table": self.version_table}
        return MigrationContext.configure(connection, opts=opts).get_current_revision()

    async def upgrade(self, engine: AsyncEngine) -> str:
        """Apply every missing migration in one transaction; return the revision now current."""
        async with engine.begin() as connection:
            await connection.run_sync(self._upgrade)
            revision = await connection.run_sync(self._current)
        log.info("%s database at revision %s", self.service, revision)
        assert revision is not None
        return revision

    async def current_revision(self, engine: AsyncEngine) -> str | None:
        async with engine.connect() as connection:
            return await connection.run_sync(self._current)

    async def check_at_head(self, engine: AsyncEngine) -> None:
        """Raise SchemaOutOfDate unless the database is at the newest revision."""
        current, newest = await self.current_revision(engine), self.head()
        if current != newest:
            name = self.service
            raise SchemaOutOfDate(
                f"the {name} database is at revision {current or 'none'}, the code needs "
                f"{newest}: run `./dev migrate` (python -m services.{name} migrate) or set "
                f"{name.upper()}_MIGRATE_ON_START=1"
            )

    def command(
        self, database_url: Callable[[], str], open_engine: Callable[[str], AsyncEngine]
    ) -> int:
        """``python -m services.<name> migrate``: the exit status (0 done, 1 failed, 2 bad URL).

        The URL is never printed, as it may hold a password.
        """
        try:
            revision = asyncio.run(self._upgrade_once(database_url(), open_engine))
        except (SettingsError, ValueError) as exc:
            print(f"{self.service} migrate: DATABASE_URL: {exc}", file=sys.stderr)
            return 2
        except (OSError, SQLAlchemyError) as exc:
            print(
                f"{self.service} migrate: failed: {exc.__class__.__name__}: {exc}", file=sys.stderr
            )
            return 1
        print(f"{self.service} database at revision {revision}", flush=True)
        return 0

    async def _upgrade_once(
        self, database_url: str, open_engine: Callable[[str], AsyncEngine]
    ) -> str:
        engine = open_engine(database_url)
        try:
            return await self.upgrade(engine)
        finally:
            await engine.dispose()
