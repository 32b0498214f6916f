"""Posts and their targets: create, change, schedule, publish now, cancel,
delete, list; and the ``Idempotency-Key`` records of ``POST .../posts``.

A post has one target per account. The target lifecycle this module starts
(the publishing engine takes it from there):

* ``draft``: no time; nothing will happen until it is scheduled;
* ``scheduled``: ``next_attempt_at`` is when it is due; the dispatcher claims
  ``status = 'scheduled' AND next_attempt_at <= now``;
* then the engine moves it to queued, publishing, unknown, held, published or
  failed. ``scheduled_at`` (post and target) is the time the user asked for.

The post's own status is derived from its targets
(:mod:`clientnest.services.post_status`).

Every function takes the session explicitly and leaves committing to the
caller, except :func:`create_post`, which owns its transaction because the
idempotency record must be committed in it. Errors are raised as
:class:`PostInputError` (the request is wrong: 422), :class:`PostConflict`
(the post's state forbids it: 409) and :class:`PostNotFound` (404); the API
layer turns them into responses.
"""
from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, delete, exists, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from .. import audit
from ..connector import MediaItem, PlatformRules, PostContent, SocialConnector
from ..db import utcnow
from ..errors import ConfigError
from ..models import (
    AccountStatus,
    IdempotencyRecord,
    Media,
    Post,
    PostMedia,
    PostStatus,
    PostTarget,
    SocialAccount,
    TargetStatus,
    Workspace,
)
from ..plugins import PluginHost
from .platforms import platform_enabled
from .post_status import IN_FLIGHT, NOT_STARTED, derive_post_status, refresh_post_status
from .slots import next_free_slot, workspace_zone

__all__ = [
    "PostInputError",
    "PostConflict",
    "PostNotFound",
    "Schedule",
    "PAST_TOLERANCE",
    "resolve_schedule",
    "create_post",
    "update_post",
    "publish_post",
    "cancel_post",
    "delete_post",
    "get_post",
    "list_posts",
    "PostListing",
    "POST_FIELDS",
    "TARGET_FIELDS",
    "request_hash",
    "IdempotentReplay",
    "find_idempotent",
]

#: a requested time this far in the past still counts as "now" (clock skew)
PAST_TOLERANCE = timedelta(seconds=60)

#: targets in these states block deletion: they are (or may be) on the platform
_UNDELETABLE = IN_FLIGHT | {TargetStatus.PUBLISHED}
#: canceling stops a target that has not started; queued ones are stopped too,
#: because the publish job does nothing for a target that is no longer queued
_CANCELABLE = frozenset({TargetStatus.DRAFT, TargetStatus.SCHEDULED, TargetStatus.QUEUED, TargetStatus.HELD})


class PostError(Exception):
    """Base of this module's errors: ``message`` for people, ``errors`` by field."""

    status = 400

    def __init__(self, message: str, errors: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = dict(errors or {})


class PostInputError(PostError):
    """The request is invalid (422); ``errors`` names the field, account or rule."""

    status = 422


class PostConflict(PostError):
    """The post's current state does not allow the change (409)."""

    status = 409


class PostNotFound(PostError):
    """No such post in this workspace (404, whether it exists elsewhere or not)."""

    status = 404


# -- scheduling -----------------------------------------------------------------

@dataclass(frozen=True)
class Schedule:
    """When targets should go out: ``mode`` is ``draft``, ``at``, ``now`` or ``queue``."""

    mode: str
    at: datetime | None = None


def resolve_schedule(
    data: Mapping[str, Any], now: datetime, *, partial: bool = False
) -> Schedule | None:
    """Read ``scheduled_at`` / ``publish_now`` / ``queue`` from request data.

    Exactly one may be given; none means draft (or, with ``partial``, "leave
    the schedule alone": ``None``). ``scheduled_at: null`` is an explicit draft.
    A time more than :data:`PAST_TOLERANCE` ago is refused; a time within it
    counts as now.
    """
    given = [
        name for name in ("scheduled_at", "publish_now", "queue")
        if (name == "scheduled_at" and name in data and (data[name] is not None or partial))
        or (name != "scheduled_at" and data.get(name))
    ]
    if len(given) > 1:
        raise PostInputError(
            f"{given[1]}: give only one of scheduled_at, publish_now and queue",
            {given[1]: [f"cannot be combined with {given[0]}"]},
        )
    if not given:
        return None if partial else Schedule("draft")
    name = given[0]
    if name == "publish_now":
        return Schedule("now", now)
    if name == "queue":
        return Schedule("queue")
    at: datetime | None = data["scheduled_at"]
    if at is None:
        return Schedule("draft")
    if at.tzinfo is None:  # the schema refuses these; services may be called directly
        raise PostInputError("scheduled_at: give a time zone offset", {"scheduled_at": ["needs a UTC offset"]})
    if at < now - PAST_TOLERANCE:
        raise PostInputError(
            f"scheduled_at: {at.isoformat()} is in the past",
            {"scheduled_at": [f"must not be in the past (now is {now.isoformat(timespec='seconds')})"]},
        )
    return Schedule("at", max(at, now).astimezone(UTC))


# -- validation -----------------------------------------------------------------

@dataclass
class _Content:
    """The shared content of a post (before per-account overrides)."""

    text: str
    media: list[Media]
    link: str | None
    thread: list[str]
    first_comment: str | None
    overrides: dict[int, str | None] = field(default_factory=dict)

    def for_account(self, account_id: int) -> str:
        override = self.overrides.get(account_id)
        return self.text if override is None else override


def _media_items(rows: Sequence[Media]) -> list[MediaItem]:
    return [
        MediaItem(id=str(m.id), kind=m.kind, content_type=m.content_type, size=int(m.size),
                  width=m.width, height=m.height)
        for m in rows
    ]


def _load_accounts(session: Session, workspace_id: int, ids: Sequence[int]) -> dict[int, SocialAccount]:
    """The workspace's accounts among ``ids``; an id of another workspace is
    reported exactly like one that does not exist (invariant 4)."""
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise PostInputError(f"account_ids: account {dup} is listed twice", {"account_ids": [f"account {dup} is listed twice"]})
    found = {
        a.id: a for a in session.scalars(
            select(SocialAccount).where(SocialAccount.workspace_id == workspace_id, SocialAccount.id.in_(ids))
        )
    } if ids else {}
    for i in ids:
        if i not in found:
            raise PostInputError(
                f"account_ids: account {i} not found in this workspace",
                {"account_ids": [f"account {i} not found in this workspace"]},
            )
    return found


def _load_media(session: Session, workspace_id: int, ids: Sequence[int]) -> list[Media]:
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise PostInputError(f"media_ids: media {dup} is listed twice", {"media_ids": [f"media {dup} is listed twice"]})
    if not ids:
        return []
    found = {
        m.id: m for m in session.scalars(
            select(Media).where(Media.workspace_id == workspace_id, Media.id.in_(ids))
        )
    }
    for i in ids:
        if i not in found:
            raise PostInputError(
                f"media_ids: media {i} not found in this workspace",
                {"media_ids": [f"media {i} not found in this workspace"]},
            )
    return [found[i] for i in ids]


def _parse_overrides(raw: Mapping[str, Any] | None, account_ids: Sequence[int]) -> dict[int, str | None]:
    out: dict[int, str | None] = {}
    for key, value in (raw or {}).items():
        try:
            aid = int(key)
        except (TypeError, ValueError):
            raise PostInputError(
                f"overrides.{key}: keys are account ids", {"overrides": {str(key): ["keys are account ids"]}}
            ) from None
        if aid not in account_ids:
            raise PostInputError(
                f"overrides.{key}: account {aid} is not one of account_ids",
                {"overrides": {str(key): [f"account {aid} is not one of account_ids"]}},
            )
        text = value.get("text") if isinstance(value, Mapping) else value
        out[aid] = text
    return out


def _check_usable(
    session: Session, host: PluginHost, workspace_id: int, accounts: Sequence[SocialAccount], *, connected: bool
) -> None:
    """Accounts must be on a platform enabled here and (``connected``) connected."""
    for a in accounts:
        if not platform_enabled(session, host, workspace_id, a.platform):
            raise PostInputError(
                f"account {a.id}: platform {a.platform} is not enabled for this workspace",
                {"account_ids": [f"account {a.id}: platform {a.platform} is not enabled for this workspace"]},
            )
        if connected and a.status != AccountStatus.CONNECTED:
            hint = "reconnect it first" if a.status == AccountStatus.NEEDS_RECONNECT else "enable it first"
            raise PostInputError(
                f"account {a.id} is {a.status}; {hint}",
                {"account_ids": [f"account {a.id} is {a.status}; {hint}"]},
            )


def _rules(host: PluginHost, connector: SocialConnector) -> PlatformRules:
    rules = host.hook.clientnest_platform_rules(connector=connector)
    return rules if rules is not None else connector.rules


def _validate_targets(host: PluginHost, accounts: Sequence[SocialAccount], content: _Content) -> None:
    """Check the content of every target against its platform's rules; all
    violations of all accounts are reported at once."""
    if not content.text.strip() and not content.media and not all(
        (content.overrides.get(a.id) or "").strip() for a in accounts
    ):
        raise PostInputError("text: a post needs text or media", {"text": ["may be empty only when media is attached"]})
    media = _media_items(content.media)
    problems: dict[str, list[dict[str, str]]] = {}
    first: str | None = None
    count = 0
    for a in accounts:
        try:
            connector = host.connector(a.platform)
        except ConfigError as exc:
            problems[str(a.id)] = [{"rule": "platform_unavailable", "message": str(exc)}]
            first = first or f"account {a.id} ({a.platform}): platform_unavailable: {exc}"
            count += 1
            continue
        post_content = PostContent(
            text=content.for_account(a.id), media=list(media), link=content.link,
            thread=list(content.thread), first_comment=content.first_comment,
        )
        violations = connector.validate(post_content, _rules(host, connector))
        if violations:
            problems[str(a.id)] = [{"rule": v.rule, "message": v.message} for v in violations]
            count += len(violations)
            if first is None:
                v = violations[0]
                first = f"account {a.id} ({a.platform}) breaks rule {v.rule}: {v.message}"
    if problems:
        assert first is not None
        more = f" (and {count - 1} more problem{'s' if count > 2 else ''})" if count > 1 else ""
        raise PostInputError(first + more, {"targets": problems})


# -- loading and locking --------------------------------------------------------

def get_post(session: Session, workspace_id: int, post_id: int, *, detail: bool = True) -> Post:
    """The post with its targets (and, with ``detail``, their attempt logs)."""
    target_load = selectinload(Post.targets)
    if detail:
        target_load = target_load.selectinload(PostTarget.attempt_log)
    post = session.scalars(
        select(Post)
        .where(Post.id == post_id, Post.workspace_id == workspace_id)
        .options(target_load, selectinload(Post.media_links))
        .execution_options(populate_existing=True)
    ).first()
    if post is None:
        raise PostNotFound(f"post {post_id} not found")
    return post


def _lock_post(session: Session, workspace_id: int, post_id: int) -> Post:
    """Load a post for a change, locked against the dispatcher, the workers
    and other requests.

    PostgreSQL: the post's targets are locked ``FOR UPDATE`` first, then the
    post row: the order the engine takes them in (it claims targets, then
    updates their post's status), so the two cannot deadlock; a dispatcher,
    which claims with ``SKIP LOCKED``, passes over them meanwhile. SQLite has
    one writer at a time: touching the post row takes that write lock before
    anything is read, so what is read next is current.
    """
    targets = select(PostTarget.id).where(
        PostTarget.post_id == post_id, PostTarget.workspace_id == workspace_id
    ).order_by(PostTarget.id).with_for_update()
    touch = (
        update(Post).where(Post.id == post_id, Post.workspace_id == workspace_id)
        .values(updated_at=utcnow()).execution_options(synchronize_session=False)
    )
    if session.get_bind().dialect.name == "sqlite":
        touched = session.execute(touch).rowcount
    else:
        session.scalars(targets).all()
        touched = session.execute(touch).rowcount
    if not touched:
        raise PostNotFound(f"post {post_id} not found")
    return get_post(session, workspace_id, post_id, detail=False)


def _lock_accounts(session: Session, workspace_id: int, account_ids: Sequence[int]) -> None:
    """Serialise queueing per account on PostgreSQL, so that two posts queued
    at once do not take the same slot (SQLite writers queue anyway).

    ``FOR NO KEY UPDATE``, in id order: it does not conflict with the
    key-share locks that inserting targets takes on their accounts (``FOR
    UPDATE`` would deadlock two such requests), and a fixed order cannot
    deadlock either.
    """
    if account_ids:
        session.scalars(
            select(SocialAccount.id).where(
                SocialAccount.workspace_id == workspace_id, SocialAccount.id.in_(sorted(set(account_ids)))
            ).order_by(SocialAccount.id).with_for_update(key_share=True)
        ).all()


def _set_media(post: Post, media: Sequence[Media]) -> None:
    post.media_links = [PostMedia(media_id=m.id, position=i) for i, m in enumerate(media)]


def _schedule_target(t: PostTarget, at: datetime | None) -> None:
    """Put a target that has not started on ``at`` (``None``: back to draft).
    A held target keeps waiting for its account, but takes the new time."""
    t.scheduled_at = at
    t.next_attempt_at = at
    if at is None:
        t.status = TargetStatus.DRAFT
    elif t.status != TargetStatus.HELD:
        t.status = TargetStatus.SCHEDULED


def _queue_times(
    session: Session, workspace: Workspace, accounts: Sequence[SocialAccount], now: datetime,
    post_id: int | None,
) -> dict[int, datetime]:
    """Each account's next free posting slot after ``now`` (422 if it has none)."""
    _lock_accounts(session, workspace.id, [a.id for a in accounts])
    tz = workspace_zone(workspace.timezone)
    out: dict[int, datetime] = {}
    for a in accounts:
        at = next_free_slot(session, a, tz, now, exclude_post_id=post_id)
        if at is None:
            raise PostInputError(
                f"queue: account {a.id} has no posting slots",
                {"queue": [f"account {a.id} has no posting slots; set them with PUT "
                           f"/api/v1/workspaces/{workspace.id}/accounts/{a.id}/slots"]},
            )
        out[a.id] = at
    return out


# -- create -----------------------------------------------------------------------

def _new_target(post: Post, account: SocialAccount, override: str | None) -> PostTarget:
    t = PostTarget(
        workspace_id=post.workspace_id, account_id=account.id, platform=account.platform,
        text_override=override, status=TargetStatus.DRAFT, attempts=0, extra_ids={},
        attempt_log=[],  # known empty: serialising it then needs no query
    )
    post.targets.append(t)
    return t


def _apply_schedule(
    session: Session, workspace: Workspace, post: Post, targets: Sequence[PostTarget],
    accounts: Mapping[int, SocialAccount], schedule: Schedule, now: datetime,
) -> None:
    if schedule.mode == "queue":
        times = _queue_times(session, workspace, [accounts[t.account_id] for t in targets], now, post.id)
        for t in targets:
            _schedule_target(t, times[t.account_id])
        post.scheduled_at = min(times.values()) if times else None
        return
    at = None if schedule.mode == "draft" else schedule.at
    for t in targets:
        _schedule_target(t, at)
    post.scheduled_at = at


def create_post(
    session: Session,
    host: PluginHost,
    workspace: Workspace,
    user_id: int,
    data: Mapping[str, Any],
    *,
    serialize: Callable[[Post], Any],
    idempotency: tuple[str, str, int] | None = None,
    now: datetime | None = None,
) -> tuple[int, Any, bool]:
    """Validate and store a post with one target per account, then commit.

    :param data: the loaded request (``text``, ``account_ids``, ``overrides``,
        ``media_ids``, ``link``, ``thread``, ``first_comment`` and one of
        ``scheduled_at`` / ``publish_now`` / ``queue``).
    :param serialize: turns the new post into the response body (stored with
        the idempotency record, so a replay returns the same bytes' worth).
    :param idempotency: ``(key, request_hash, ttl_seconds)`` when the request
        carried an ``Idempotency-Key``.
    :returns: ``(status_code, body, replayed)``.
    :raises PostInputError: invalid input (nothing stored).
    :raises PostConflict: the key was used with another body.
    """
    now = now or utcnow()
    record: IdempotencyRecord | None = None
    if idempotency is not None:
        key, req_hash, ttl = idempotency
        replay = find_idempotent(session, workspace.id, user_id, key, req_hash, ttl, now)
        if replay is not None:
            return replay.status_code, replay.body, True
        # Claim the key first: a concurrent duplicate blocks on the unique
        # index here until this transaction ends, then fails and replays.
        record = IdempotencyRecord(
            workspace_id=workspace.id, user_id=user_id, key=key, request_hash=req_hash,
            status_code=0, body={}, created_at=now,
        )
        session.add(record)
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            replay = find_idempotent(session, workspace.id, user_id, key, req_hash, ttl, now)
            if replay is None:  # the other request failed and released the key
                raise PostConflict(
                    "Idempotency-Key: a request with this key was in progress; retry",
                    {"Idempotency-Key": ["a request with this key was in progress; retry"]},
                ) from None
            return replay.status_code, replay.body, True
    try:
        status, body = _create(session, host, workspace, user_id, data, serialize, now)
        if record is not None:
            record.status_code, record.body = status, body
        session.commit()
    except IntegrityError:
        # only the idempotency key can collide here (a duplicate that slipped
        # past the flush above on a backend that did not block)
        session.rollback()
        if idempotency is None:
            raise
        key, req_hash, ttl = idempotency
        replay = find_idempotent(session, workspace.id, user_id, key, req_hash, ttl, now)
        if replay is None:
            raise
        return replay.status_code, replay.body, True
    except BaseException:
        session.rollback()
        raise
    return status, body, False


def _create(
    session: Session, host: PluginHost, workspace: Workspace, user_id: int,
    data: Mapping[str, Any], serialize: Callable[[Post], Any], now: datetime,
) -> tuple[int, Any]:
    schedule = resolve_schedule(data, now)
    assert schedule is not None
    account_ids = list(data["account_ids"])
    if not account_ids:
        raise PostInputError("account_ids: choose at least one account", {"account_ids": ["choose at least one account"]})
    accounts = _load_accounts(session, workspace.id, account_ids)
    overrides = _parse_overrides(data.get("overrides"), account_ids)
    media = _load_media(session, workspace.id, list(data.get("media_ids") or []))
    ordered = [accounts[i] for i in account_ids]
    _check_usable(session, host, workspace.id, ordered, connected=True)
    content = _Content(
        text=data.get("text") or "", media=media, link=data.get("link"),
        thread=list(data.get("thread") or []), first_comment=data.get("first_comment"),
        overrides=overrides,
    )
    _validate_targets(host, ordered, content)

    post = Post(
        workspace_id=workspace.id, created_by=user_id, text=content.text, link=content.link,
        thread=content.thread, first_comment=content.first_comment, status=PostStatus.DRAFT,
        created_at=now, updated_at=now,
    )
    _set_media(post, media)
    targets = [_new_target(post, a, overrides.get(a.id)) for a in ordered]
    session.add(post)
    session.flush()  # the insert also takes SQLite's write lock before slots are read
    _apply_schedule(session, workspace, post, targets, accounts, schedule, now)
    post.status = derive_post_status(t.status for t in targets)
    session.flush()
    audit.record(
        session, "post.created", "post", post.id, workspace_id=workspace.id, user_id=user_id,
        data={"status": str(post.status), "schedule": schedule.mode, "account_ids": account_ids,
              "target_ids": [t.id for t in targets]},
    )
    return 201, serialize(post)


# -- change -----------------------------------------------------------------------

def _refuse_started(post: Post, action: str) -> None:
    for t in post.targets:
        if t.status not in NOT_STARTED:
            raise PostConflict(
                f"post {post.id} cannot be {action}: its target {t.id} on account {t.account_id} "
                f"is {t.status}; only posts whose targets are all draft, scheduled or held can be {action}",
                {"targets": {str(t.account_id): [{"rule": "state", "message": f"target is {t.status}"}]}},
            )


def update_post(
    session: Session,
    host: PluginHost,
    workspace: Workspace,
    user_id: int,
    post_id: int,
    changes: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> Post:
    """Change the content, accounts or schedule of a post none of whose
    targets has started; everything is validated again. The caller commits.

    ``changes`` holds only the fields the request gave. ``account_ids``
    replaces the set of accounts (targets of removed accounts are deleted,
    new accounts get a target); ``overrides`` and ``media_ids`` replace the
    old ones; ``scheduled_at`` (``null``: back to draft), ``publish_now`` or
    ``queue`` reschedules every target. Without a schedule change, a new
    target joins the post's current time (or stays a draft).
    """
    now = now or utcnow()
    if not changes:
        return get_post(session, workspace.id, post_id, detail=False)  # nothing to change, nothing to audit
    schedule = resolve_schedule(changes, now, partial=True)
    if schedule is not None and schedule.mode == "queue":
        # accounts before targets and post: the order the engine locks them in
        # (an account, then its targets, when it must hold them)
        _lock_accounts(session, workspace.id, [*changes.get("account_ids", ()), *session.scalars(
            select(PostTarget.account_id).where(
                PostTarget.post_id == post_id, PostTarget.workspace_id == workspace.id
            )
        )])
    post = _lock_post(session, workspace.id, post_id)
    _refuse_started(post, "changed")

    current = {t.account_id: t for t in post.targets}
    account_ids = list(changes["account_ids"]) if "account_ids" in changes else list(current)
    if not account_ids:
        raise PostInputError("account_ids: choose at least one account", {"account_ids": ["choose at least one account"]})
    accounts = _load_accounts(session, workspace.id, account_ids)
    added = [accounts[i] for i in account_ids if i not in current]
    removed = [t for aid, t in current.items() if aid not in accounts]

    if "overrides" in changes:
        overrides = _parse_overrides(changes["overrides"], account_ids)
    else:
        overrides = {aid: t.text_override for aid, t in current.items() if aid in accounts}
    if "media_ids" in changes:
        media = _load_media(session, workspace.id, list(changes["media_ids"] or []))
    else:
        media = [link.media for link in post.media_links]

    # accounts that start (or go on) to be published by this change must be usable
    becoming_scheduled = [
        accounts[aid] for aid, t in current.items()
        if aid in accounts and t.status == TargetStatus.DRAFT and schedule is not None and schedule.mode != "draft"
    ]
    _check_usable(session, host, workspace.id, [accounts[i] for i in account_ids], connected=False)
    _check_usable(session, host, workspace.id, added + becoming_scheduled, connected=True)
    content = _Content(
        text=changes["text"] if changes.get("text") is not None else post.text,
        media=media,
        link=changes["link"] if "link" in changes else post.link,
        thread=list(changes["thread"] or []) if "thread" in changes else list(post.thread or []),
        first_comment=changes["first_comment"] if "first_comment" in changes else post.first_comment,
        overrides=overrides,
    )
    _validate_targets(host, [accounts[i] for i in account_ids], content)

    # apply
    changed = sorted(k for k in changes if k not in ("publish_now", "queue") or changes[k])
    post.text, post.link, post.thread, post.first_comment = (
        content.text, content.link, content.thread, content.first_comment,
    )
    if "media_ids" in changes:
        _set_media(post, media)
    for t in removed:
        post.targets.remove(t)
    for aid, t in current.items():
        if aid in accounts:
            t.text_override = overrides.get(aid)
    new_targets = [_new_target(post, a, overrides.get(a.id)) for a in added]
    session.flush()
    if schedule is not None:
        _apply_schedule(session, workspace, post, list(post.targets), accounts, schedule, now)
    elif new_targets:
        at = None if post.scheduled_at is None else max(post.scheduled_at, now)
        for t in new_targets:
            _schedule_target(t, at)
    post.updated_at = now
    audit.record(
        session, "post.updated", "post", post.id, workspace_id=workspace.id, user_id=user_id,
        data={"fields": changed, "added_account_ids": [a.id for a in added],
              "removed_account_ids": [t.account_id for t in removed],
              "schedule": schedule.mode if schedule else None},
    )
    refresh_post_status(session, post, actor="user", user_id=user_id)
    return post


def publish_post(
    session: Session, host: PluginHost, workspace: Workspace, user_id: int, post_id: int,
    *, now: datetime | None = None,
) -> Post:
    """Make every draft or scheduled target due now (held ones keep waiting
    for their account). The caller commits."""
    now = now or utcnow()
    post = _lock_post(session, workspace.id, post_id)
    due = [t for t in post.targets if t.status in (TargetStatus.DRAFT, TargetStatus.SCHEDULED)]
    if not due:
        states = ", ".join(sorted({str(t.status) for t in post.targets})) or "none"
        raise PostConflict(
            f"post {post.id} has no draft or scheduled target to publish (targets are: {states})",
        )
    accounts = _load_accounts(session, workspace.id, [t.account_id for t in due])
    _check_usable(session, host, workspace.id, [accounts[t.account_id] for t in due], connected=True)
    content = _Content(
        text=post.text, media=[link.media for link in post.media_links], link=post.link,
        thread=list(post.thread or []), first_comment=post.first_comment,
        overrides={t.account_id: t.text_override for t in post.targets},
    )
    _validate_targets(host, [accounts[t.account_id] for t in due], content)
    for t in due:
        _schedule_target(t, now)
    post.scheduled_at = now
    post.updated_at = now
    audit.record(
        session, "post.publish_requested", "post", post.id, workspace_id=workspace.id, user_id=user_id,
        data={"target_ids": [t.id for t in due]},
    )
    refresh_post_status(session, post, actor="user", user_id=user_id)
    return post


def cancel_post(
    session: Session, workspace_id: int, user_id: int, post_id: int, *, now: datetime | None = None,
) -> tuple[Post, list[PostTarget]]:
    """Cancel every target that has not started (draft, scheduled, queued,
    held). The caller commits.

    :returns: the post and the targets left alone (in flight or settled).
    :raises PostConflict: nothing could be canceled and not everything already was.
    """
    now = now or utcnow()
    post = _lock_post(session, workspace_id, post_id)
    canceled = [t for t in post.targets if t.status in _CANCELABLE]
    skipped = [t for t in post.targets if t.status not in _CANCELABLE and t.status != TargetStatus.CANCELED]
    if not canceled and skipped:
        states = ", ".join(f"target {t.id} on account {t.account_id} is {t.status}" for t in skipped)
        hint = "; published posts must be deleted on the platform" if any(
            t.status == TargetStatus.PUBLISHED for t in skipped) else ""
        raise PostConflict(f"post {post.id}: nothing to cancel ({states}){hint}")
    for t in canceled:
        t.status = TargetStatus.CANCELED
        t.next_attempt_at = None
    if canceled:
        post.updated_at = now
        audit.record(
            session, "post.canceled", "post", post.id, workspace_id=workspace_id, user_id=user_id,
            data={"target_ids": [t.id for t in canceled],
                  "skipped": [{"target_id": t.id, "status": str(t.status)} for t in skipped]},
        )
    refresh_post_status(session, post, actor="user", user_id=user_id)
    return post, skipped


def delete_post(session: Session, workspace_id: int, user_id: int, post_id: int) -> None:
    """Delete a post none of whose targets is on (or on its way to) a
    platform. The caller commits."""
    post = _lock_post(session, workspace_id, post_id)
    for t in post.targets:
        if t.status in _UNDELETABLE:
            hint = (
                "delete it on the platform; ClientNest keeps the record"
                if t.status == TargetStatus.PUBLISHED
                else "wait for its outcome (or cancel the others first)"
            )
            raise PostConflict(
                f"post {post.id} cannot be deleted: its target {t.id} on account {t.account_id} is {t.status}; {hint}",
                {"targets": {str(t.account_id): [{"rule": "state", "message": f"target is {t.status}"}]}},
            )
    audit.record(
        session, "post.deleted", "post", post.id, workspace_id=workspace_id, user_id=user_id,
        data={"status": str(post.status), "target_statuses": {str(t.id): str(t.status) for t in post.targets}},
    )
    session.delete(post)


# -- list ------------------------------------------------------------------------

#: a post's fields as the API shows them, in the order of a list row
POST_FIELDS = (
    "id", "workspace_id", "status", "text", "link", "thread", "first_comment",
    "scheduled_at", "created_by", "created_at", "updated_at",
)
#: a target's fields as the API shows them (then its post id), in the order of a list row
TARGET_FIELDS = (
    "id", "account_id", "platform", "status", "text_override", "scheduled_at", "next_attempt_at",
    "attempts", "external_id", "external_url", "published_at", "last_error", "updated_at", "post_id",
)


@dataclass
class PostListing:
    """One post of a list page as plain rows: ``post`` holds the values of
    :data:`POST_FIELDS` (then ``has_media``), each target those of
    :data:`TARGET_FIELDS`. Building ORM objects costs more than the whole
    query here."""

    post: Any
    targets: list[Any] = field(default_factory=list)
    media_ids: list[int] = field(default_factory=list)


_POST_COLS = tuple(getattr(Post, c) for c in POST_FIELDS)
_TARGET_COLS = tuple(getattr(PostTarget, c) for c in TARGET_FIELDS)


@functools.cache
def _list_statements(statuses: bool, account: bool, start: bool, end: bool, cursor: bool) -> tuple[Select, Select]:
    """The posts and the targets statements of a list page with these filters,
    built once per combination: values come as bound parameters, so each
    request reuses the compiled SQL and its result metadata."""
    page = select(Post.id).where(Post.workspace_id == bindparam("workspace_id"))
    if statuses:
        page = page.where(Post.status.in_(bindparam("statuses", expanding=True)))
    if account:
        page = page.where(Post.id.in_(
            select(PostTarget.post_id).where(
                PostTarget.account_id == bindparam("account_id"),
                PostTarget.workspace_id == bindparam("workspace_id"),
            )
        ))
    if start:
        page = page.where(Post.scheduled_at >= bindparam("start"))
    if end:
        page = page.where(Post.scheduled_at < bindparam("end"))
    if cursor:
        page = page.where(Post.id < bindparam("before_id"))
    page = page.order_by(Post.id.desc()).limit(bindparam("rows"))
    has_media = exists().where(PostMedia.post_id == Post.id).label("has_media")
    return (
        page.with_only_columns(*_POST_COLS, has_media),
        select(*_TARGET_COLS).where(PostTarget.post_id.in_(page)).order_by(PostTarget.id),
    )


def list_posts(
    conn: Connection,
    workspace_id: int,
    *,
    statuses: Sequence[str] = (),
    account_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    before_id: int | None = None,
    limit: int = 20,
) -> tuple[list[PostListing], int | None]:
    """One page of the workspace's posts, newest first (by id).

    Filters: post ``statuses``; posts with a target on ``account_id``;
    ``start <= scheduled_at < end``. ``before_id`` is the cursor. Core
    statements on ``conn`` (rows, no ORM objects), two whatever the page
    size: the posts (by the ``(workspace_id, id)`` index), then the targets
    of the same page (the page query as a subquery); a third for media ids
    only when a post of the page has media.

    :returns: the page and the cursor of the next one (``None`` at the end).
    """
    posts_q, targets_q = _list_statements(
        bool(statuses), account_id is not None, start is not None, end is not None, before_id is not None,
    )
    params = {
        "workspace_id": workspace_id, "statuses": list(statuses), "account_id": account_id,
        "start": start, "end": end, "before_id": before_id, "rows": limit + 1,
    }
    rows = conn.execute(posts_q, params).all()
    more = len(rows) > limit
    listing = [PostListing(r) for r in rows[:limit]]
    if listing:
        by_id = {p.post.id: p for p in listing}
        for t in conn.execute(targets_q, params).all():
            if t.post_id in by_id:  # not the extra post that only tells whether there is a next page
                by_id[t.post_id].targets.append(t)
        with_media = [p.post.id for p in listing if p.post.has_media]
        if with_media:  # most pages have no media: skip the round trip
            for pid, mid in conn.execute(
                select(PostMedia.post_id, PostMedia.media_id)
                .where(PostMedia.post_id.in_(with_media)).order_by(PostMedia.post_id, PostMedia.position)
            ):
                by_id[pid].media_ids.append(mid)
    return listing, (listing[-1].post.id if more and listing else None)


# -- idempotency -----------------------------------------------------------------

def request_hash(body: Any) -> str:
    """SHA-256 of the canonical JSON of a request body (key order and
    whitespace do not matter)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class IdempotentReplay:
    status_code: int
    body: Any


def find_idempotent(
    session: Session, workspace_id: int, user_id: int, key: str, req_hash: str, ttl_seconds: int, now: datetime,
) -> IdempotentReplay | None:
    """The stored first response for this key, or ``None`` if there is none
    (an expired record is deleted, so the key can be used again).

    :raises PostConflict: the key was first used with another body.
    """
    rec = session.scalars(
        select(IdempotencyRecord).where(
            IdempotencyRecord.workspace_id == workspace_id,
            IdempotencyRecord.user_id == user_id,
            IdempotencyRecord.key == key,
        )
    ).first()
    if rec is None:
        return None
    if rec.created_at <= now - timedelta(seconds=ttl_seconds):
        session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == rec.id))
        session.flush()
        return None
    if rec.request_hash != req_hash:
        raise PostConflict(
            "Idempotency-Key: this key was already used with a different request body",
            {"Idempotency-Key": ["already used with a different request body"]},
        )
    return IdempotentReplay(rec.status_code, rec.body)
