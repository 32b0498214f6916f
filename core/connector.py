"""The connector contract: what a social-network plugin implements.

A connector plugin registers a subclass of :class:`SocialConnector` through the
``clientnest_register_connectors`` hook. The core creates one instance per
process from the plugin's validated configuration and calls its methods through
the operation hooks in :mod:`clientnest.hookspecs`, so that other plugins can
wrap or replace any operation.

Every method that talks to the platform raises only the classes of
:mod:`clientnest.errors`; classification happens once, in the connector.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from .config import ConfigSchema

__all__ = [
    "Capability",
    "Credentials",
    "Account",
    "AuthorizationRequest",
    "MediaItem",
    "PostContent",
    "PublishResult",
    "PostMetrics",
    "AccountMetrics",
    "Comment",
    "CommentPage",
    "PlatformRules",
    "RuleViolation",
    "SocialConnector",
]


class Capability(StrEnum):
    """What a connector can do; the conformance kit checks each declared one."""

    OAUTH = "oauth"
    REFRESH = "refresh"
    PUBLISH_TEXT = "publish_text"
    PUBLISH_LINK = "publish_link"
    PUBLISH_IMAGE = "publish_image"
    PUBLISH_MULTI_IMAGE = "publish_multi_image"
    PUBLISH_VIDEO = "publish_video"
    PUBLISH_THREAD = "publish_thread"
    FIRST_COMMENT = "first_comment"
    DELETE = "delete"
    METRICS = "metrics"
    #: account-level figures (followers, profile insights): ``fetch_account_metrics``
    ACCOUNT_METRICS = "account_metrics"
    COMMENTS = "comments"
    REPLY = "reply"
    LOOKUP = "lookup"
    WEBHOOKS = "webhooks"


def _dt(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


@dataclass
class Credentials:
    """What a platform gave us to act for an account. Stored encrypted.

    :param access_token: the bearer token (or page token).
    :param refresh_token: for platforms that rotate tokens (X, LinkedIn).
    :param expires_at: aware UTC datetime when ``access_token`` stops working.
    :param extra: anything else the connector needs (scopes, token secret ...).
    """

    access_token: str
    refresh_token: str | None = None
    expires_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["expires_at"] = self.expires_at.isoformat() if self.expires_at else None
        return d

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Credentials:
        return cls(
            access_token=str(data["access_token"]),
            refresh_token=data.get("refresh_token"),
            expires_at=_dt(data.get("expires_at")),
            extra=dict(data.get("extra") or {}),
        )

    def __repr__(self) -> str:  # never let a token reach a log line through repr()
        return f"Credentials(expires_at={self.expires_at!r}, extra_keys={sorted(self.extra)})"


@dataclass
class Account:
    """A platform identity the connector acts as (a Page, a member, an org ...).

    :param external_id: the platform's id (LinkedIn: the full URN).
    :param credentials: what to authenticate with.
    :param display_name: human name shown in the UI.
    :param username: handle, where the platform has one.
    :param kind: e.g. ``user``, ``page``, ``business``, ``person``, ``organization``.
    """

    external_id: str
    credentials: Credentials
    display_name: str = ""
    username: str | None = None
    kind: str = "user"
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class AuthorizationRequest:
    """Where to send the user to approve access.

    :param url: the platform's authorize URL, with ``state`` in it.
    :param verifier: a PKCE code verifier the core keeps server-side (X).
    """

    url: str
    verifier: str | None = None


@dataclass
class MediaItem:
    """A stored upload attached to a post.

    :param kind: ``image``, ``gif`` or ``video``.
    :param url: a URL the platform can fetch (required by Instagram), if any.
    :param read: returns the bytes (for platforms that take uploads).
    """

    id: str
    kind: str
    content_type: str
    size: int
    width: int | None = None
    height: int | None = None
    url: str | None = None
    read: Callable[[], bytes] | None = field(default=None, repr=False, compare=False)


@dataclass
class PostContent:
    """What to publish on one account.

    :param text: the text for this target (override already applied).
    :param media: the attached media, in order.
    :param link: a link to share, for platforms that render link previews.
    :param thread: follow-up texts published as a reply chain (X).
    :param first_comment: a comment the connector adds right after publishing.
    :param key: a stable idempotency key for this target (same on every retry).
    """

    text: str
    media: list[MediaItem] = field(default_factory=list)
    link: str | None = None
    thread: list[str] = field(default_factory=list)
    first_comment: str | None = None
    key: str = ""


@dataclass
class PublishResult:
    """The platform's record of a publish.

    :param external_id: the platform's id of the post (first of a thread).
    :param url: a permalink, if known (it may be missing; that is not a failure).
    :param extra_ids: ids of thread replies, the first comment, uploaded media.
    """

    external_id: str
    url: str | None = None
    published_at: datetime | None = None
    extra_ids: dict[str, Any] = field(default_factory=dict)
    raw: Any = None


@dataclass
class PostMetrics:
    """Metrics of one published post, normalised; ``None`` where not given."""

    external_id: str
    impressions: int | None = None
    reach: int | None = None
    likes: int | None = None
    comments: int | None = None
    shares: int | None = None
    saves: int | None = None
    clicks: int | None = None
    video_views: int | None = None
    raw: Any = None

    NAMES: ClassVar[tuple[str, ...]] = (
        "impressions", "reach", "likes", "comments", "shares", "saves", "clicks", "video_views",
    )


@dataclass
class AccountMetrics:
    """Account-level figures, normalised; ``None`` where the platform gives no
    such figure (a missing figure is not a zero).

    ``followers`` is a level (the count when fetched). The other figures are
    amounts over ``period``: ``"day"`` (the platform's last complete day,
    ending at ``period_end``) or ``"lifetime"`` (running totals since the
    account began, e.g. LinkedIn's organization share statistics; the core
    turns them into daily amounts by difference).

    :param external_id: the account's platform id.
    :param followers: followers (X, Instagram), Page followers (Facebook),
        organization followers (LinkedIn).
    :param impressions: times the account's content was seen.
    :param reach: unique accounts that saw it.
    :param profile_views: views of the profile or Page.
    :param engagements: interactions, as the platform defines them.
    """

    external_id: str
    followers: int | None = None
    impressions: int | None = None
    reach: int | None = None
    profile_views: int | None = None
    engagements: int | None = None
    period: str = "day"
    period_end: datetime | None = None
    raw: Any = None

    NAMES: ClassVar[tuple[str, ...]] = ("followers", "impressions", "reach", "profile_views", "engagements")


@dataclass
class Comment:
    """A comment (or reply) on a published post."""

    external_id: str
    post_external_id: str
    text: str
    author_id: str | None = None
    author_name: str | None = None
    created_at: datetime | None = None
    parent_external_id: str | None = None
    raw: Any = None


@dataclass
class CommentPage:
    comments: list[Comment]
    next_cursor: str | None = None


@dataclass
class RuleViolation:
    """Why content does not fit a platform: ``rule`` is a stable code."""

    rule: str
    message: str


_HASHTAG = re.compile(r"(?<!\w)#\w+")


@dataclass(frozen=True)
class PlatformRules:
    """What a platform accepts, checked before a post is scheduled.

    Sizes are bytes; ``None`` means no limit of that kind.
    """

    max_length: int
    requires_media: bool = False
    max_media: int = 0
    max_images: int = 0
    max_videos: int = 0
    mixed_media: bool = False
    image_types: tuple[str, ...] = ("image/jpeg", "image/png")
    video_types: tuple[str, ...] = ("video/mp4",)
    max_image_bytes: int | None = None
    max_video_bytes: int | None = None
    max_hashtags: int | None = None
    max_thread: int = 0
    first_comment: bool = False
    notes: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class SocialConnector:
    """Base class of connector plugins.

    Subclasses set the class attributes and override the methods that match
    their ``capabilities``; a method for a capability that is not declared
    raises :class:`NotImplementedError` and is never called by the core.
    """

    #: platform name, unique across installed plugins (``twitter``, ``linkedin``)
    name: ClassVar[str] = ""
    #: shown to users
    display_name: ClassVar[str] = ""
    #: the plugin's version
    version: ClassVar[str] = "0"
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    config_schema: ClassVar[ConfigSchema] = ConfigSchema()
    rules: ClassVar[PlatformRules] = PlatformRules(max_length=0)

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = dict(config)

    # -- validation -----------------------------------------------------------
    def text_length(self, text: str) -> int:
        """Length as the platform counts it (X weights URLs and CJK)."""
        return len(text)

    def validate(self, content: PostContent, rules: PlatformRules | None = None) -> list[RuleViolation]:
        """Check ``content`` against ``rules`` (default :attr:`rules`; the core
        passes the answer of ``clientnest_platform_rules``). Empty list: it fits."""
        r = rules or self.rules
        out: list[RuleViolation] = []
        texts = [content.text, *content.thread]
        for i, text in enumerate(texts):
            n = self.text_length(text)
            if n > r.max_length:
                where = "text" if i == 0 else f"thread[{i - 1}]"
                out.append(RuleViolation(
                    "max_length", f"{where} is {n} characters; {self.display_name or self.name} allows {r.max_length}"))
        if not content.text.strip() and not content.media:
            out.append(RuleViolation("empty", "a post needs text or media"))
        if r.requires_media and not content.media:
            out.append(RuleViolation("requires_media", f"{self.display_name or self.name} posts need at least one image or video"))
        if content.thread and len(content.thread) > r.max_thread:
            out.append(RuleViolation("max_thread", f"at most {r.max_thread} thread replies allowed"))
        if content.first_comment and not r.first_comment:
            out.append(RuleViolation("first_comment", "this platform does not support a first comment"))
        if r.max_hashtags is not None:
            tags = len(_HASHTAG.findall(content.text))
            if tags > r.max_hashtags:
                out.append(RuleViolation("max_hashtags", f"{tags} hashtags; at most {r.max_hashtags} allowed"))
        images = [m for m in content.media if m.kind in ("image", "gif")]
        videos = [m for m in content.media if m.kind == "video"]
        if content.media and len(content.media) > r.max_media:
            out.append(RuleViolation("max_media", f"{len(content.media)} media; at most {r.max_media} allowed"))
        if len(images) > r.max_images:
            out.append(RuleViolation("max_images", f"{len(images)} images; at most {r.max_images} allowed"))
        if len(videos) > r.max_videos:
            out.append(RuleViolation("max_videos", f"{len(videos)} videos; at most {r.max_videos} allowed"))
        if images and videos and not r.mixed_media:
            out.append(RuleViolation("mixed_media", "images and videos cannot be mixed in one post"))
        for m in content.media:
            allowed = r.video_types if m.kind == "video" else r.image_types
            if m.content_type not in allowed:
                out.append(RuleViolation("media_type", f"media {m.id}: {m.content_type} not accepted (allowed: {', '.join(allowed)})"))
            limit = r.max_video_bytes if m.kind == "video" else r.max_image_bytes
            if limit is not None and m.size > limit:
                out.append(RuleViolation("media_size", f"media {m.id}: {m.size} bytes; at most {limit} allowed"))
        return out

    # -- sandbox --------------------------------------------------------------
    @classmethod
    def sandbox(cls) -> Any:
        """A WSGI app imitating the platform (real response shapes, OAuth that
        approves at once, fault injection), or ``None`` if the plugin has none.
        The embedded mode mounts it at ``/sandbox/<name>``."""
        return None

    @classmethod
    def sandbox_config(cls, base_url: str) -> dict[str, Any]:
        """Settings that point this connector at its sandbox served at ``base_url``."""
        return {}

    # -- connecting -----------------------------------------------------------
    def authorization_url(self, redirect_uri: str, state: str) -> AuthorizationRequest:
        """Begin OAuth: the URL to send the user to (``Capability.OAUTH``)."""
        raise NotImplementedError

    def complete_authorization(
        self, code: str, redirect_uri: str, verifier: str | None
    ) -> list[Account]:
        """Exchange the code; return every account the user can pick."""
        raise NotImplementedError

    def connect_with_token(self, credentials: Mapping[str, Any]) -> list[Account]:
        """Direct connection with a token the user already has."""
        raise NotImplementedError

    def refresh(self, account: Account) -> Credentials:
        """New credentials for ``account`` (``Capability.REFRESH``)."""
        raise NotImplementedError

    # -- publishing -----------------------------------------------------------
    def publish(self, account: Account, content: PostContent) -> PublishResult:
        raise NotImplementedError

    def find_published(
        self, account: Account, content: PostContent, since: datetime
    ) -> PublishResult | None:
        """Exact lookup for reconciliation: the post of ``account`` with this
        content published at or after ``since``, or ``None`` if there is none.
        A wrong ``None`` causes a duplicate; a wrong match loses a post."""
        raise NotImplementedError

    def can_look_up(self, account: Account) -> bool:
        """Whether :meth:`find_published` can answer for this account (a
        platform may restrict it by account kind or permission). When it
        cannot, a publish whose outcome is unknown ends ``unconfirmed``
        rather than being looked up or sent again. No network call."""
        return Capability.LOOKUP in self.capabilities

    def profile_url(self, account: Account) -> str | None:
        """A page where a person can see the account's recent posts (shown
        with an ``unconfirmed`` target: check it before posting again), or
        ``None``. No network call."""
        return None

    def delete(self, account: Account, external_id: str) -> None:
        raise NotImplementedError

    # -- after publishing -----------------------------------------------------
    def fetch_metrics(self, account: Account, external_ids: Sequence[str]) -> list[PostMetrics]:
        raise NotImplementedError

    def fetch_comments(
        self, account: Account, external_id: str, cursor: str | None = None
    ) -> CommentPage:
        raise NotImplementedError

    def fetch_account_metrics(self, account: Account) -> AccountMetrics:
        """The account's own figures (``Capability.ACCOUNT_METRICS``), fetched
        once a day by the core's collection job."""
        raise NotImplementedError

    def reply(self, account: Account, comment_external_id: str, text: str) -> Comment:
        raise NotImplementedError

    def close(self) -> None:
        """Release network resources (called when the host shuts down)."""
