"""Runs remember their place in the RUNS queue, so a thread's queued runs start in the order
their messages were accepted, whichever agent process recorded them first.

Revision ID: 0002_intake_seq
Revises: 0001_initial
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_intake_seq"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database made by create_all from the current models (adopted by 0001) has it already.
    columns = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("runs")}
    if "intake_seq" not in columns:
        op.add_column("runs", sa.Column("intake_seq", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("runs", "intake_seq")
