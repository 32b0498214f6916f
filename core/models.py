"""The data model. Every workspace-owned row carries ``workspace_id`` and is
reached only through its workspace (invariant 4).

Statuses are plain strings checked in Python (the enums below), so adding one
needs no database type migration on PostgreSQL.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .db import Base, UTCDateTime, utcnow

__all__ = [
    "Role",
    "AccountStatus",
    "PostStatus",
    "TargetStatus",
    "AttemptOutcome",
    "User",
    "Workspace",
    "Membership",
    "ApiToken",
    "WorkspacePlatform",
    "OAuthState",
    "SocialAccount",
    "Media",
    "Post",
    "PostMedia",
    "PostTarget",
    "PublishAttempt",
    "PostingSlot",
    "MetricSnapshot",
    "InboxComment",
    "ReplyMode",
    "ReplyStatus",
    "FollowUpKind",
    "FollowUpStatus",
    "FollowUp",
    "AIUsageEvent",
    "AuditEvent",
    "IdempotencyRecord",
]

# BigInteger ids on PostgreSQL, INTEGER on SQLite (where only INTEGER PRIMARY
# KEY autoincrements).
Id = BigInteger().with_variant(Integer(), "sqlite")


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    EDITOR = "editor"
    VIEWER = "viewer"


class AccountStatus(StrEnum):
    CONNECTED = "connected"
    NEEDS_RECONNECT = "needs_reconnect"
    DISABLED = "disabled"


class PostStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    PARTIALLY_PUBLISHED = "partially_published"
    #: a target may have gone out and nobody can tell: check before posting again
    UNCONFIRMED = "unconfirmed"
    FAILED = "failed"
    CANCELED = "canceled"


class TargetStatus(StrEnum):
    DRAFT = "draft"            # not scheduled yet
    SCHEDULED = "scheduled"    # due at next_attempt_at
    QUEUED = "queued"          # claimed by a dispatcher, job enqueued
    PUBLISHING = "publishing"  # a worker holds it until lease_expires_at
    UNKNOWN = "unknown"        # outcome ambiguous; reconcile before sending again
    HELD = "held"              # account needs reconnecting
    PUBLISHED = "published"
    #: final: the outcome stayed unknown and the platform cannot be asked (no
    #: lookup for this account, or the lookup gave up); it may be live, so the
    #: user checks the profile (``last_error.profile_url``) before posting again
    UNCONFIRMED = "unconfirmed"
    FAILED = "failed"
    CANCELED = "canceled"


class AttemptOutcome(StrEnum):
    STARTED = "started"
    PUBLISHED = "published"
    NOT_SENT = "not_sent"
    AMBIGUOUS = "ambiguous"
    AUTH = "auth"
    PERMANENT = "permanent"
    FOUND = "found"            # reconciliation found the earlier publish
    NOT_FOUND = "not_found"    # reconciliation proved nothing was published
    ABANDONED = "abandoned"    # lease expired, worker presumed dead


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(back_populates="user", cascade="all, delete-orphan")


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    ai_budget_usd: Mapped[Decimal] = mapped_column(Numeric(12, 4), default=Decimal("3.00"))
    brand_voice: Mapped[str] = mapped_column(Text, default="")
    reply_rules: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: what happens to a scored inbox comment (:class:`ReplyMode`)
    reply_mode: Mapped[str] = mapped_column(String(16), default="draft", server_default="draft")

    memberships: Mapped[list[Membership]] = relationship(back_populates="workspace", cascade="all, delete-orphan")


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("workspace_id", "user_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(back_populates="memberships")
    workspace: Mapped[Workspace] = relationship(back_populates="memberships")


class ApiToken(Base):
    """Only the SHA-256 of the token is stored; the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WorkspacePlatform(Base):
    """Per-workspace switch for a platform; no row means enabled."""

    __tablename__ = "workspace_platforms"

    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    platform: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class OAuthState(Base):
    """A pending OAuth connection: single use, bound to workspace and user."""

    __tablename__ = "oauth_states"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: SHA-256 of the value the starting browser holds (cookie) or the API
    #: client was given: the callback must bring it back
    binding_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(64))
    redirect_uri: Mapped[str] = mapped_column(Text)
    verifier_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: Fernet token of the accounts a callback returned when there were several
    #: to choose from (Pages, organizations); cleared when the choice is made
    candidates_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)


class SocialAccount(Base):
    __tablename__ = "social_accounts"
    __table_args__ = (
        UniqueConstraint("workspace_id", "platform", "external_id"),
        # webhooks find the accounts of an event by platform id, across workspaces
        Index("ix_social_accounts_platform_external", "platform", "external_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(255), default="")
    username: Mapped[str | None] = mapped_column(String(255), nullable=True)
    kind: Mapped[str] = mapped_column(String(32), default="user")
    #: Fernet token of the JSON credentials (never returned by the API)
    credentials_encrypted: Mapped[str] = mapped_column(Text)
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(32), default=AccountStatus.CONNECTED)
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    connected_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Media(Base):
    __tablename__ = "media"
    # the public media route finds an upload by its (unguessable) storage key
    __table_args__ = (Index("ix_media_storage_key", "storage_key", unique=True),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    storage_key: Mapped[str] = mapped_column(String(512))
    kind: Mapped[str] = mapped_column(String(16))  # image | gif | video
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sha256: Mapped[str] = mapped_column(String(64))
    original_name: Mapped[str] = mapped_column(String(255), default="")
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (
        Index("ix_posts_workspace_created", "workspace_id", "id"),
        # the list filters: by status (newest first) and by scheduled time
        Index("ix_posts_ws_status", "workspace_id", "status", "id"),
        Index("ix_posts_ws_scheduled", "workspace_id", "scheduled_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    text: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str | None] = mapped_column(Text, nullable=True)
    thread: Mapped[list[str]] = mapped_column(JSON, default=list)
    first_comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(32), default=PostStatus.DRAFT)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    targets: Mapped[list[PostTarget]] = relationship(
        back_populates="post", cascade="all, delete-orphan", order_by="PostTarget.id"
    )
    media_links: Mapped[list[PostMedia]] = relationship(
        cascade="all, delete-orphan", order_by="PostMedia.position"
    )


class PostMedia(Base):
    __tablename__ = "post_media"

    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media.id", ondelete="RESTRICT"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    media: Mapped[Media] = relationship()


class PostTarget(Base):
    """One post on one account: the unit the engine schedules and publishes."""

    __tablename__ = "post_targets"
    __table_args__ = (
        UniqueConstraint("post_id", "account_id"),
        # the dispatcher's query: due targets by status and time
        Index("ix_targets_due", "status", "next_attempt_at"),
        Index("ix_targets_account_status", "account_id", "status"),
        # webhooks link a comment to the target by the post's platform id
        Index("ix_targets_account_external", "account_id", "external_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("social_accounts.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(64))
    text_override: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(32), default=TargetStatus.DRAFT)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: when the dispatcher should next act on it (schedule time or retry time)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: the publish job a queued target waits in (several targets share a job)
    job_id: Mapped[str | None] = mapped_column(String(120), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    external_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    external_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    extra_ids: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    post: Mapped[Post] = relationship(back_populates="targets")
    account: Mapped[SocialAccount] = relationship()
    attempt_log: Mapped[list[PublishAttempt]] = relationship(
        cascade="all, delete-orphan", order_by="PublishAttempt.id"
    )


class PublishAttempt(Base):
    """Recorded (and committed) before the platform is called (invariant 2)."""

    __tablename__ = "publish_attempts"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("post_targets.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16), default="publish")  # publish | reconcile
    outcome: Mapped[str] = mapped_column(String(32), default=AttemptOutcome.STARTED)
    worker: Mapped[str | None] = mapped_column(String(255), nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: the platform's id of the post this attempt published or found
    external_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PostingSlot(Base):
    """A weekly wall-clock slot in the workspace zone (kept across DST)."""

    __tablename__ = "posting_slots"
    __table_args__ = (UniqueConstraint("account_id", "weekday", "minute_of_day"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("social_accounts.id", ondelete="CASCADE"))
    weekday: Mapped[int] = mapped_column(Integer)  # 0 = Monday
    minute_of_day: Mapped[int] = mapped_column(Integer)  # 9:30 -> 570


class MetricSnapshot(Base):
    __tablename__ = "metric_snapshots"
    # the raw-snapshot retention purge walks by time (analytics_raw_retention_days)
    __table_args__ = (Index("ix_metric_snapshots_time", "fetched_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("post_targets.id", ondelete="CASCADE"), index=True)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    impressions: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    reach: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    likes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    comments: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    shares: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    saves: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    clicks: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    video_views: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    raw: Mapped[Any] = mapped_column(JSON, nullable=True)


class ReplyMode(StrEnum):
    """A workspace's reply policy for scored inbox comments."""

    OFF = "off"                      # nothing is drafted or sent
    DRAFT = "draft"                  # every comment gets an AI-drafted reply for a human to send
    AUTO_POSITIVE = "auto_positive"  # positive comments needing no human are answered at once


class ReplyStatus(StrEnum):
    """Where the reply to an inbox comment stands (``None``: nothing yet)."""

    PENDING = "pending"        # the policy wants a draft; the AI has not written it yet
    DRAFTED = "drafted"        # a draft waits for a human
    SCHEDULED = "scheduled"    # to be sent at reply_due_at (a retry after "not sent")
    QUEUED = "queued"          # the send job is enqueued
    SENDING = "sending"        # committed before the platform is called
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"        # the platform may or may not have it: a human checks


class InboxComment(Base):
    """A comment received by webhook or poll; unique per account and platform id."""

    __tablename__ = "inbox_comments"
    __table_args__ = (
        UniqueConstraint("account_id", "external_id"),
        # the inbox list: newest first within a workspace
        Index("ix_inbox_ws_id", "workspace_id", "id"),
        # the AI job's and the sweep's queries: unscored comments, replies due
        Index("ix_inbox_unscored", "sentiment_label", "ai_next_at"),
        Index("ix_inbox_reply_due", "reply_status", "reply_due_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("social_accounts.id", ondelete="CASCADE"))
    target_id: Mapped[int | None] = mapped_column(ForeignKey("post_targets.id", ondelete="SET NULL"), nullable=True)
    platform: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(255))
    post_external_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    parent_external_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    author_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    author_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    text: Mapped[str] = mapped_column(Text, default="")
    commented_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sentiment_label: Mapped[str | None] = mapped_column(String(16), nullable=True)
    sentiment_score: Mapped[float | None] = mapped_column(nullable=True)
    needs_human: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    reply_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reply_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    raw: Mapped[Any] = mapped_column(JSON, nullable=True)
    #: why the scorer flagged it (complaint, question, urgent ...)
    sentiment_reasons: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    scored_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: AI work (scoring, drafting) waits until then: a job's lease, or the
    #: back-off after the budget ran out; ``None``: as soon as possible
    ai_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: brand rules the drafted reply still breaks (shown to the human)
    reply_violations: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    #: who asked for the reply to be sent; ``None``: the auto_positive policy
    reply_requested_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    reply_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reply_queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: when the last send began ("sending" committed before the platform call)
    reply_attempted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reply_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reply_external_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reply_error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class FollowUpKind(StrEnum):
    METRICS = "metrics"
    COMMENTS = "comments"


class FollowUpStatus(StrEnum):
    PENDING = "pending"  # due at due_at
    QUEUED = "queued"    # claimed by a sweep, job enqueued
    DONE = "done"
    FAILED = "failed"    # stopped for good (last_error says why)


class FollowUp(Base):
    """Work due after a target is published: a metrics collection (one row per
    slot of ``metrics_schedule_hours``) or the comment poll (one row that moves
    its ``due_at`` forward after each poll until the polling window ends)."""

    __tablename__ = "followups"
    __table_args__ = (
        UniqueConstraint("target_id", "kind", "slot"),
        # the sweep's query: due rows by status and time
        Index("ix_followups_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("post_targets.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    #: metrics: the index in the schedule; comments: 0
    slot: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default=FollowUpStatus.PENDING)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: claims so far (names the job: ``followup-<id>-<runs>``)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    #: consecutive failures of the current run
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AIUsageEvent(Base):
    """One AI request, metered from the provider's own usage figures."""

    __tablename__ = "ai_usage_events"
    __table_args__ = (Index("ix_ai_usage_ws_time", "workspace_id", "created_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    feature: Mapped[str] = mapped_column(String(32))
    provider: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(128))
    cached: Mapped[bool] = mapped_column(Boolean, default=False)
    prompt_cache_hit_tokens: Mapped[int] = mapped_column(Integer, default=0)
    prompt_cache_miss_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[Decimal] = mapped_column(Numeric(14, 8), default=Decimal(0))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: "reserved" while the provider answers (its estimated cost holds the
    #: budget against concurrent requests), then "ok" or "failed"
    status: Mapped[str] = mapped_column(String(16), default="ok", server_default="ok")
    #: texts scored (a sentiment batch) or posts asked for (drafts); 1 otherwise
    items: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class AuditEvent(Base):
    """Who did what to which object, and when. Never holds secrets."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_ws_time", "workspace_id", "created_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int | None] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=True)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    actor: Mapped[str] = mapped_column(String(64), default="user")  # user | system | worker
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IdempotencyRecord(Base):
    """First response to an ``Idempotency-Key`` on a workspace's POST."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("workspace_id", "user_id", "key"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# the analytics tables live with their package; imported here so that every
# table is on Base.metadata whenever the models are (migrations, tests' wipe)
from .analytics import tables as _analytics_tables  # noqa: E402,F401
