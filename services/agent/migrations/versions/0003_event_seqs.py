"""Runs remember where their events are in the user's event log: the seq of their agent_started
(``first_seq``) and of their terminal event (``last_seq``), so a client can read a finished run
back whole (``run_events``) after a reload.

Revision ID: 0003_event_seqs
Revises: 0002_intake_seq
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_event_seqs"
down_revision = "0002_intake_seq"
branch_labels = None
depends_on = None

_COLUMNS = ("first_seq", "last_seq")


def upgrade() -> None:
    # A database made by create_all from the current models (adopted by 0001) has them already.
    present = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("runs")}
    for name in _COLUMNS:
        if name not in present:
            op.add_column("runs", sa.Column(name, sa.BigInteger(), nullable=True))


def downgrade() -> None:
    for name in reversed(_COLUMNS):
        op.drop_column("runs", name)
