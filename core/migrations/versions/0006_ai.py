"""ai: usage events hold the budget while a request runs, and count items

``ai_usage_events.status`` (reserved | ok | failed) lets a request reserve its
estimated cost before the provider is called, so concurrent requests cannot
together overrun a workspace's monthly budget; ``items`` counts the texts of a
sentiment batch or the posts a draft request asked for.

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import clientnest.db  # noqa: F401

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ai_usage_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=16), nullable=False, server_default="ok"))
        batch_op.add_column(sa.Column("items", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("ai_usage_events", schema=None) as batch_op:
        batch_op.drop_column("items")
        batch_op.drop_column("status")
