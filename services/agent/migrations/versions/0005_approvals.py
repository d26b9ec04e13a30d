"""Approvals a run waits for: one row each, decided once (the first decision written wins).

Revision ID: 0005_approvals
Revises: 0004_run_agent_steps
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_approvals"
down_revision = "0004_run_agent_steps"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database made by create_all from the current models (adopted by 0001) has it already.
    if "approvals" in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        "approvals",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("tool_call_id", sa.String(64), nullable=False),
        sa.Column("tool_name", sa.String(64), nullable=False),
        sa.Column("parameters", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("question", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(16), nullable=True),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_approvals_run_status", "approvals", ["run_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_approvals_run_status", table_name="approvals")
    op.drop_table("approvals")
