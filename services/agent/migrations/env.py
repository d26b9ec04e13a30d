"""Alembic's entry point, run by :mod:`services.agent.migrate` on a connection it hands over.

The service's engine is async and migrations run inside its event loop (at start-up), so the
connection comes in through ``config.attributes`` from ``AsyncConnection.run_sync`` rather than
being opened here; the caller owns the transaction and commits it.
"""

from __future__ import annotations

from alembic import context

from services.agent.migrate import VERSION_TABLE
from services.agent.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the agent migrations with `python -m services.agent migrate`")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    # SQLite alters a table by copying it; batch mode lets autogenerate write such migrations.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
