"""accounts_media: pending OAuth account candidates, unique media storage keys

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import clientnest.db  # noqa: F401

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("oauth_states", schema=None) as batch_op:
        batch_op.add_column(sa.Column("candidates_encrypted", sa.Text(), nullable=True))
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.create_index("ix_media_storage_key", ["storage_key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.drop_index("ix_media_storage_key")
    with op.batch_alter_table("oauth_states", schema=None) as batch_op:
        batch_op.drop_column("candidates_encrypted")
