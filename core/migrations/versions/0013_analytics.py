"""analytics: account snapshots, daily collections, post and account rollups

Raw snapshots (``metric_snapshots``, ``account_snapshots``) stay plain
append-only tables with a time index that the retention purge walks; the
analytics reads use only the rollups, whose size grows with posts and
account-days, not with collections. (Monthly partitions on PostgreSQL were
considered: they make the purge a ``DROP`` but every collection insert and
the per-target history read then go through partition routing; not done.)

Revision ID: 0013
Revises: 0010 (the lead re-chains it after 0011/0012 at merge)
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from clientnest.db import UTCDateTime

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = UTCDateTime(timezone=True)


def _figures(*names: str) -> list[sa.Column]:
    return [sa.Column(n, sa.BigInteger(), nullable=True) for n in names]


_POST = ("impressions", "reach", "likes", "comments", "shares", "saves", "clicks", "video_views", "engagements")


def _fk(col: str, table: str, pk: bool = False) -> sa.Column:
    return sa.Column(col, Id, sa.ForeignKey(f"{table}.id", ondelete="CASCADE"), nullable=False, primary_key=pk)


def upgrade() -> None:
    op.create_index("ix_metric_snapshots_time", "metric_snapshots", ["fetched_at"])

    op.create_table(
        "account_snapshots",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        _fk("workspace_id", "workspaces"),
        _fk("account_id", "social_accounts"),
        sa.Column("fetched_at", TS, nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("period_end", TS, nullable=True),
        *_figures("followers", "impressions", "reach", "profile_views", "engagements"),
        sa.Column("raw", sa.JSON(), nullable=True),
    )
    op.create_index("ix_account_snapshots_account_time", "account_snapshots", ["account_id", "fetched_at"])
    op.create_index("ix_account_snapshots_time", "account_snapshots", ["fetched_at"])

    op.create_table(
        "account_collections",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        _fk("workspace_id", "workspaces"),
        _fk("account_id", "social_accounts"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("due_at", TS, nullable=True),
        sa.Column("claimed_at", TS, nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.JSON(), nullable=True),
        sa.Column("last_done_at", TS, nullable=True),
        sa.Column("last_lifetime", sa.JSON(), nullable=True),
        sa.UniqueConstraint("account_id"),
    )
    op.create_index("ix_account_collections_due", "account_collections", ["status", "due_at"])

    op.create_table(
        "post_rollups",
        sa.Column("target_id", Id, sa.ForeignKey("post_targets.id", ondelete="CASCADE"), primary_key=True),
        _fk("workspace_id", "workspaces"),
        _fk("account_id", "social_accounts"),
        _fk("post_id", "posts"),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("published_at", TS, nullable=False),
        sa.Column("local_day", sa.Date(), nullable=False),
        sa.Column("local_weekday", sa.SmallInteger(), nullable=False),
        sa.Column("local_hour", sa.SmallInteger(), nullable=False),
        sa.Column("media_kind", sa.String(16), nullable=False),
        sa.Column("text_length", sa.Integer(), nullable=False),
        sa.Column("hashtags", sa.SmallInteger(), nullable=False),
        sa.Column("has_link", sa.Boolean(), nullable=False),
        sa.Column("fetched_at", TS, nullable=False),
        sa.Column("snapshots", sa.Integer(), nullable=False),
        sa.Column("engagement_rate", sa.Float(), nullable=True),
        *_figures(*_POST, "rate_num", "rate_den"),
    )
    op.create_index("ix_post_rollups_ws_day", "post_rollups", ["workspace_id", "local_day"])
    op.create_index("ix_post_rollups_account_day", "post_rollups", ["account_id", "local_day"])

    op.create_table(
        "post_daily_rollups",
        sa.Column("target_id", Id, sa.ForeignKey("post_targets.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        _fk("workspace_id", "workspaces"),
        sa.Column("fetched_at", TS, nullable=False),
        *_figures(*_POST),
    )
    op.create_index("ix_post_daily_rollups_workspace_id", "post_daily_rollups", ["workspace_id"])

    op.create_table(
        "account_daily_rollups",
        sa.Column("account_id", Id, sa.ForeignKey("social_accounts.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        _fk("workspace_id", "workspaces"),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("posts", sa.Integer(), nullable=False),
        *_figures(*_POST, "rate_num", "rate_den"),
        *_figures("acct_followers", "acct_impressions", "acct_reach", "acct_profile_views", "acct_engagements"),
    )
    op.create_index("ix_account_daily_ws_day", "account_daily_rollups", ["workspace_id", "day"])


def downgrade() -> None:
    for table in ("account_daily_rollups", "post_daily_rollups", "post_rollups", "account_collections",
                  "account_snapshots"):
        op.drop_table(table)
    op.drop_index("ix_metric_snapshots_time", table_name="metric_snapshots")
