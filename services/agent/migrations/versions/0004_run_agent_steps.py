"""Runs remember which agent they asked for (``agent``), the tool calls they made (``steps``,
JSON, for the next turns' history), the tokens a model spent on them (``input_tokens``,
``output_tokens``, put on the terminal event) and the message id of their streamed answer
(``answer_message_id``, when it is not the run's first).

Revision ID: 0004_run_agent_steps
Revises: 0003_event_seqs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_run_agent_steps"
down_revision = "0003_event_seqs"
branch_labels = None
depends_on = None

_COLUMNS = (
    ("agent", sa.String(64)),
    ("steps", sa.Text()),
    ("input_tokens", sa.Integer()),
    ("output_tokens", sa.Integer()),
    ("answer_message_id", sa.String(128)),
)


def upgrade() -> None:
    # A database made by create_all from the current models (adopted by 0001) has them already.
    present = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("runs")}
    for name, kind in _COLUMNS:
        if name not in present:
            op.add_column("runs", sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    for name, _ in reversed(_COLUMNS):
        op.drop_column("runs", name)
