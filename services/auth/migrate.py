"""The auth database's migrations (``migrations/``); the mechanism is :mod:`shared.migrations`."""

from __future__ import annotations

from pathlib import Path

from shared.migrations import Migrations, SchemaOutOfDate

__all__ = [
    "MIGRATIONS",
    "MIGRATIONS_DIR",
    "SchemaOutOfDate",
    "check_at_head",
    "current_revision",
    "head",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
MIGRATIONS = Migrations(service="auth", directory=MIGRATIONS_DIR, lock_id=0x61757468)  # "auth"

head = MIGRATIONS.head
upgrade = MIGRATIONS.upgrade
current_revision = MIGRATIONS.current_revision
check_at_head = MIGRATIONS.check_at_head
