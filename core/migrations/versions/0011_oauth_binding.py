"""OAuth states carry the hash of a browser binding

The connect call sets a cookie (or hands an API client a value) whose SHA-256
is kept here; the callback is refused unless it brings the same value back, so
an ``authorization_url`` sent to someone else cannot connect their account to
the workspace of the person who started it.

Revision ID: 0011
Revises: 0010
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # nullable: states pending during the upgrade have none and are refused
    # (they expire within minutes anyway)
    with op.batch_alter_table("oauth_states") as batch:
        batch.add_column(sa.Column("binding_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("oauth_states") as batch:
        batch.drop_column("binding_hash")
