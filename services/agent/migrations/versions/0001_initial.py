"""Threads, runs and open tool calls, as the service made them with ``create_all`` before.

A database made that way already has the tables and no version table; this revision then adopts
each table that exists as it is instead of failing on "table threads already exists".

Revision ID: 0001_initial
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "threads" not in existing:
        _create_threads()
    if "runs" not in existing:
        _create_runs()
    if "open_tool_calls" not in existing:
        _create_open_tool_calls()


def _create_threads() -> None:
    op.create_table(
        "threads",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("title", sa.String(80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_threads_user_id", "threads", ["user_id"])


def _create_runs() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("thread_id", sa.String(64), sa.ForeignKey("threads.id"), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("client_msg_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error_code", sa.String(32), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(128), nullable=True),
        sa.Column("lease_expires_at", sa.Float(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("announced", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("user_id", "client_msg_id", name="uq_runs_user_client_msg"),
    )
    op.create_index("ix_runs_user_id", "runs", ["user_id"])
    op.create_index("ix_runs_thread_created", "runs", ["thread_id", "created_at"])
    op.create_index("ix_runs_unannounced_lease", "runs", ["announced", "lease_expires_at"])
    op.create_index("ix_runs_status_thread", "runs", ["status", "thread_id"])


def _create_open_tool_calls() -> None:
    op.create_table(
        "open_tool_calls",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("tool_name", sa.String(64), nullable=False),
        sa.Column("parameters", sa.Text(), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
    )
    op.create_index("ix_open_tool_calls_run_id", "open_tool_calls", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_open_tool_calls_run_id", "open_tool_calls")
    op.drop_table("open_tool_calls")
    for index in (
        "ix_runs_status_thread",
        "ix_runs_unannounced_lease",
        "ix_runs_thread_created",
        "ix_runs_user_id",
    ):
        op.drop_index(index, "runs")
    op.drop_table("runs")
    op.drop_index("ix_threads_user_id", "threads")
    op.drop_table("threads")
