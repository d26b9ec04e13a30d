"""Refresh tokens in families, and the per-user cut-off for revoked access tokens.

Revision ID: 0002_refresh_tokens
Revises: 0001_users
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_refresh_tokens"
down_revision = "0001_users"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("tokens_valid_from", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.create_table(
        "refresh_families",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.String(64), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("revoked_at", sa.Float(), nullable=True),
        sa.Column("revoked_reason", sa.String(32), nullable=True),
    )
    op.create_index("ix_refresh_families_user_id", "refresh_families", ["user_id"])
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("family_id", sa.String(32), sa.ForeignKey("refresh_families.id"), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("issued_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("spent_at", sa.Float(), nullable=True),
    )
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"])


def downgrade() -> None:
    op.drop_index("ix_refresh_tokens_family_id", "refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_index("ix_refresh_families_user_id", "refresh_families")
    op.drop_table("refresh_families")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("tokens_valid_from")
