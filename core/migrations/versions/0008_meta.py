"""meta: indexes the webhooks use to find accounts and post targets by platform ids

Revision ID: 0008
Revises: 0007
"""
from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op

import clientnest.db  # noqa: F401

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A webhook event names a Page / Instagram / X account id and a post id;
    # the same platform account may be connected in several workspaces.
    op.create_index("ix_social_accounts_platform_external", "social_accounts", ["platform", "external_id"])
    op.create_index("ix_targets_account_external", "post_targets", ["account_id", "external_id"])


def downgrade() -> None:
    op.drop_index("ix_targets_account_external", table_name="post_targets")
    op.drop_index("ix_social_accounts_platform_external", table_name="social_accounts")
