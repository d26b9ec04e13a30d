"""The agent database's migrations (``migrations/``); the mechanism is :mod:`shared.migrations`.

The revision is kept in its own table, ``agent_alembic_version``, so the agent and auth schemas
can share one database (one ``DATABASE_URL`` for both) without reading each other's revision.
"""

from __future__ import annotations

from pathlib import Path

from shared.migrations import Migrations, SchemaOutOfDate

__all__ = [
    "MIGRATIONS",
    "MIGRATIONS_DIR",
    "VERSION_TABLE",
    "SchemaOutOfDate",
    "check_at_head",
    "current_revision",
    "head",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
VERSION_TABLE = "agent_alembic_version"
MIGRATIONS = Migrations(
    service="agent", directory=MIGRATIONS_DIR, lock_id=0x6167656E, version_table=VERSION_TABLE
)

head = MIGRATIONS.head
upgrade = MIGRATIONS.upgrade
current_revision = MIGRATIONS.current_revision
check_at_head = MIGRATIONS.check_at_head
