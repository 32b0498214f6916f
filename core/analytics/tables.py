"""The analytics tables.

* :class:`AccountSnapshot`: one collection of an account's own figures;
  append-only (never updated), kept for ``analytics_raw_retention_days``, as
  :class:`~clientnest.models.MetricSnapshot` is for posts;
* :class:`AccountCollection`: the daily collection of one account, a row the
  follow-up sweep claims like a follow-up (status, due time, runs, attempts);
* :class:`PostRollup`: per published target, its latest figures and what the
  best-time and prediction services need (local weekday and hour, media kind,
  length ...), updated as each snapshot arrives;
* :class:`PostDailyRollup`: per target and day, its figures at the end of that
  day (a post's growth curve, kept after the raw snapshots are purged);
* :class:`AccountDailyRollup`: per account and local day, the totals of the
  posts published that day (maintained by difference as their snapshots
  arrive) and the account's own figures of that day.

Days are calendar days in the workspace's time zone at the time the row was
written. Rollups are kept for good.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Date, Float, ForeignKey, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow

__all__ = ["AccountSnapshot", "AccountCollection", "PostRollup", "PostDailyRollup", "AccountDailyRollup",
           "FIGURE_COLUMNS"]

Id = BigInteger().with_variant(Integer(), "sqlite")
Count = BigInteger

#: the post figures every rollup carries, plus engagements and the rate's parts
FIGURE_COLUMNS: tuple[str, ...] = (
    "impressions", "reach", "likes", "comments", "shares", "saves", "clicks", "video_views",
    "engagements", "rate_num", "rate_den",
)


class AccountSnapshot(Base):
    __tablename__ = "account_snapshots"
    __table_args__ = (
        Index("ix_account_snapshots_account_time", "account_id", "fetched_at"),
        # the retention purge walks by time
        Index("ix_account_snapshots_time", "fetched_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("social_accounts.id", ondelete="CASCADE"))
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: "day" (amounts of the platform's last complete day) or "lifetime" (running totals)
    period: Mapped[str] = mapped_column(String(16), default="day")
    period_end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    followers: Mapped[int | None] = mapped_column(Count, nullable=True)
    impressions: Mapped[int | None] = mapped_column(Count, nullable=True)
    reach: Mapped[int | None] = mapped_column(Count, nullable=True)
    profile_views: Mapped[int | None] = mapped_column(Count, nullable=True)
    engagements: Mapped[int | None] = mapped_column(Count, nullable=True)
    raw: Mapped[Any] = mapped_column(JSON, nullable=True)


class AccountCollection(Base):
    """The daily collection of one account's figures."""

    __tablename__ = "account_collections"
    __table_args__ = (Index("ix_account_collections_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("social_accounts.id", ondelete="CASCADE"), unique=True)
    #: the follow-up statuses: pending, queued (the job is enqueued); never done: it is daily
    status: Mapped[str] = mapped_column(String(16), default="pending")
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    last_done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: the last lifetime totals seen (platforms answering "lifetime"): today's
    #: amounts are the difference
    last_lifetime: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class PostRollup(Base):
    __tablename__ = "post_rollups"
    __table_args__ = (
        Index("ix_post_rollups_ws_day", "workspace_id", "local_day"),
        Index("ix_post_rollups_account_day", "account_id", "local_day"),
    )

    target_id: Mapped[int] = mapped_column(ForeignKey("post_targets.id", ondelete="CASCADE"), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("social_accounts.id", ondelete="CASCADE"))
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    local_day: Mapped[date] = mapped_column(Date)
    #: 0 = Monday, in the workspace's zone
    local_weekday: Mapped[int] = mapped_column(SmallInteger)
    local_hour: Mapped[int] = mapped_column(SmallInteger)
    #: none | image | images | video
    media_kind: Mapped[str] = mapped_column(String(16), default="none")
    text_length: Mapped[int] = mapped_column(Integer, default=0)
    hashtags: Mapped[int] = mapped_column(SmallInteger, default=0)
    has_link: Mapped[bool] = mapped_column(Boolean, default=False)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)
    snapshots: Mapped[int] = mapped_column(Integer, default=0)
    engagement_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    impressions: Mapped[int | None] = mapped_column(Count, nullable=True)
    reach: Mapped[int | None] = mapped_column(Count, nullable=True)
    likes: Mapped[int | None] = mapped_column(Count, nullable=True)
    comments: Mapped[int | None] = mapped_column(Count, nullable=True)
    shares: Mapped[int | None] = mapped_column(Count, nullable=True)
    saves: Mapped[int | None] = mapped_column(Count, nullable=True)
    clicks: Mapped[int | None] = mapped_column(Count, nullable=True)
    video_views: Mapped[int | None] = mapped_column(Count, nullable=True)
    engagements: Mapped[int | None] = mapped_column(Count, nullable=True)
    rate_num: Mapped[int | None] = mapped_column(Count, nullable=True)
    rate_den: Mapped[int | None] = mapped_column(Count, nullable=True)


class PostDailyRollup(Base):
    __tablename__ = "post_daily_rollups"

    target_id: Mapped[int] = mapped_column(ForeignKey("post_targets.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)
    impressions: Mapped[int | None] = mapped_column(Count, nullable=True)
    reach: Mapped[int | None] = mapped_column(Count, nullable=True)
    likes: Mapped[int | None] = mapped_column(Count, nullable=True)
    comments: Mapped[int | None] = mapped_column(Count, nullable=True)
    shares: Mapped[int | None] = mapped_column(Count, nullable=True)
    saves: Mapped[int | None] = mapped_column(Count, nullable=True)
    clicks: Mapped[int | None] = mapped_column(Count, nullable=True)
    video_views: Mapped[int | None] = mapped_column(Count, nullable=True)
    engagements: Mapped[int | None] = mapped_column(Count, nullable=True)


class AccountDailyRollup(Base):
    __tablename__ = "account_daily_rollups"
    __table_args__ = (Index("ix_account_daily_ws_day", "workspace_id", "day"),)

    account_id: Mapped[int] = mapped_column(ForeignKey("social_accounts.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(64))
    #: posts published that day that have figures
    posts: Mapped[int] = mapped_column(Integer, default=0)
    impressions: Mapped[int | None] = mapped_column(Count, nullable=True)
    reach: Mapped[int | None] = mapped_column(Count, nullable=True)
    likes: Mapped[int | None] = mapped_column(Count, nullable=True)
    comments: Mapped[int | None] = mapped_column(Count, nullable=True)
    shares: Mapped[int | None] = mapped_column(Count, nullable=True)
    saves: Mapped[int | None] = mapped_column(Count, nullable=True)
    clicks: Mapped[int | None] = mapped_column(Count, nullable=True)
    video_views: Mapped[int | None] = mapped_column(Count, nullable=True)
    engagements: Mapped[int | None] = mapped_column(Count, nullable=True)
    rate_num: Mapped[int | None] = mapped_column(Count, nullable=True)
    rate_den: Mapped[int | None] = mapped_column(Count, nullable=True)
    #: the account's own figures of that day (followers: the level when collected)
    acct_followers: Mapped[int | None] = mapped_column(Count, nullable=True)
    acct_impressions: Mapped[int | None] = mapped_column(Count, nullable=True)
    acct_reach: Mapped[int | None] = mapped_column(Count, nullable=True)
    acct_profile_views: Mapped[int | None] = mapped_column(Count, nullable=True)
    acct_engagements: Mapped[int | None] = mapped_column(Count, nullable=True)
