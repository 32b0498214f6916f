"""publish jobs carry several targets: each queued target records its job

The dispatcher groups the targets it claims into publish jobs; a target's
``job_id`` says which job it waits in, so the dispatcher can tell a target
whose job was lost (Redis flushed, a worker killed mid-batch) from one still
waiting in the queue.

Revision ID: 0010
Revises: 0009
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("post_targets") as batch:
        batch.add_column(sa.Column("job_id", sa.String(length=120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("post_targets") as batch:
        batch.drop_column("job_id")
