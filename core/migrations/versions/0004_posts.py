"""posts: indexes for the post list's filters (status, scheduled time)

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op

import clientnest.db  # noqa: F401

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.create_index("ix_posts_ws_status", ["workspace_id", "status", "id"], unique=False)
        batch_op.create_index("ix_posts_ws_scheduled", ["workspace_id", "scheduled_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_index("ix_posts_ws_scheduled")
        batch_op.drop_index("ix_posts_ws_status")
