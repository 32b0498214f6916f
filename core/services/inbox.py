"""Inbox intake: comments arriving by webhook (or by a poll) become
:class:`~clientnest.models.InboxComment` rows.

A comment is stored once per account: the row is unique on (account, the
platform's comment id) and inserted with ``ON CONFLICT DO NOTHING``, so a
redelivered event, or two deliveries racing, never make a second row. An event
is linked to every connected account with that platform id (the same Page may
be connected in several workspaces) and to the post target whose external id
is the commented post. Comments the account wrote itself (its replies) are not
inbox items and are skipped, as are events for accounts nobody connected.

The payload readers below know the three webhook formats:

* Facebook Pages (``object: page``): ``changes[].field == "feed"`` with
  ``value.item == "comment"`` (``verb`` add / edited; remove is ignored);
* Instagram (``object: instagram``): ``field == "comments"``, inside
  ``changes[]`` (Facebook Login) or directly on the entry (Instagram Login);
* X account activity: ``tweet_create_events`` replying to ``for_user_id``.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import audit
from ..models import AccountStatus, InboxComment, PostTarget, SocialAccount

__all__ = [
    "IncomingComment",
    "IngestResult",
    "comments_from_webhook",
    "facebook_comments",
    "instagram_comments",
    "twitter_comments",
    "store_comments",
    "ingest_webhook",
    "WEBHOOK_PLATFORMS",
]


@dataclass
class IncomingComment:
    """A comment as a platform reported it, before it is matched to accounts.

    :param account_external_id: the platform id of the account whose post was
        commented on (Page id, Instagram user id, X user id).
    :param edited: an edit of an earlier comment (its text replaces the old one).
    """

    platform: str
    account_external_id: str
    external_id: str
    text: str
    post_external_id: str | None = None
    parent_external_id: str | None = None
    author_id: str | None = None
    author_name: str | None = None
    commented_at: datetime | None = None
    edited: bool = False
    raw: Any = None


@dataclass
class IngestResult:
    """What one delivery did: ``stored`` new rows, ``duplicates`` already
    stored, ``updated`` edits applied, ``ignored`` events not for the inbox."""

    stored: list[InboxComment] = field(default_factory=list)
    duplicates: int = 0
    updated: int = 0
    ignored: int = 0

    def to_json(self) -> dict[str, int]:
        return {"stored": len(self.stored), "duplicates": self.duplicates,
                "updated": self.updated, "ignored": self.ignored}


def _epoch(value: Any) -> datetime | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        # X sends milliseconds (timestamp_ms); Meta sends seconds
        return datetime.fromtimestamp(value / 1000 if value > 10**11 else value, UTC)
    text = str(value).strip()
    if text.isdigit():
        return _epoch(int(text))
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = datetime.strptime(text, "%a %b %d %H:%M:%S %z %Y")  # X v1.1 created_at
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _pick(value: Mapping[str, Any], *names: str) -> Any:
    """The first present key: the wire uses snake_case; some SDKs camelCase it."""
    for name in names:
        if value.get(name) is not None:
            return value[name]
    return None


def _changes(entry: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    changes = entry.get("changes")
    if isinstance(changes, list):
        yield from (c for c in changes if isinstance(c, Mapping))
    elif "field" in entry:  # Instagram Login puts field/value on the entry itself
        yield entry


def facebook_comments(payload: Mapping[str, Any]) -> tuple[list[IncomingComment], int]:
    """Comments in a Page webhook; returns (comments, events ignored)."""
    out: list[IncomingComment] = []
    ignored = 0
    if payload.get("object") not in (None, "page"):
        return out, len(payload.get("entry") or [])
    for entry in payload.get("entry") or []:
        page_id = str(entry.get("id") or "")
        for change in _changes(entry):
            value = change.get("value") or {}
            if change.get("field") != "feed" or value.get("item") != "comment" or \
                    value.get("verb") not in ("add", "edited"):
                ignored += 1
                continue
            comment_id = _pick(value, "comment_id", "commentId")
            post_id = _pick(value, "post_id", "postId")
            author = value.get("from") or {}
            if not comment_id or not page_id or str(author.get("id") or "") == page_id:
                ignored += 1  # malformed, or the Page's own comment
                continue
            parent = _pick(value, "parent_id", "parentId")
            out.append(IncomingComment(
                platform="facebook",
                account_external_id=page_id,
                external_id=str(comment_id),
                text=str(value.get("message") or ""),
                post_external_id=str(post_id) if post_id else None,
                # a top-level comment names the post as its parent
                parent_external_id=str(parent) if parent and parent != post_id else None,
                author_id=str(author["id"]) if author.get("id") else None,
                author_name=author.get("name"),
                commented_at=_epoch(_pick(value, "created_time", "createdTime")) or _epoch(entry.get("time")),
                edited=value.get("verb") == "edited",
                raw=dict(value),
            ))
    return out, ignored


def instagram_comments(payload: Mapping[str, Any]) -> tuple[list[IncomingComment], int]:
    """Comments in an Instagram webhook; returns (comments, events ignored)."""
    out: list[IncomingComment] = []
    ignored = 0
    if payload.get("object") not in (None, "instagram"):
        return out, len(payload.get("entry") or [])
    for entry in payload.get("entry") or []:
        ig_id = str(entry.get("id") or "")
        for change in _changes(entry):
            value = change.get("value") or {}
            author = value.get("from") or {}
            if change.get("field") not in ("comments", "live_comments") or not value.get("id") or not ig_id:
                ignored += 1
                continue
            if str(author.get("id") or "") == ig_id:
                ignored += 1  # the account's own comment or reply
                continue
            media = value.get("media") or {}
            out.append(IncomingComment(
                platform="instagram",
                account_external_id=ig_id,
                external_id=str(value["id"]),
                text=str(value.get("text") or ""),
                post_external_id=str(media["id"]) if media.get("id") else None,
                parent_external_id=str(value["parent_id"]) if value.get("parent_id") else None,
                author_id=str(author["id"]) if author.get("id") else None,
                author_name=author.get("username"),
                commented_at=_epoch(entry.get("time")),
                raw=dict(value),
            ))
    return out, ignored


def twitter_comments(payload: Mapping[str, Any]) -> tuple[list[IncomingComment], int]:
    """Replies to the subscribed user in an X account-activity event."""
    out: list[IncomingComment] = []
    user_id = str(payload.get("for_user_id") or "")
    events = payload.get("tweet_create_events") or []
    ignored = sum(len(v) for k, v in payload.items() if k.endswith("_events") and k != "tweet_create_events"
                  and isinstance(v, list))
    for tweet in events:
        author = tweet.get("user") or {}
        reply_to_user = str(tweet.get("in_reply_to_user_id_str") or "")
        reply_to = tweet.get("in_reply_to_status_id_str")
        if (not user_id or not tweet.get("id_str") or not reply_to or reply_to_user != user_id
                or str(author.get("id_str") or "") == user_id or tweet.get("retweeted_status")):
            ignored += 1  # not a reply to this account, or the account's own tweet
            continue
        text = (tweet.get("extended_tweet") or {}).get("full_text") or tweet.get("full_text") or tweet.get("text")
        out.append(IncomingComment(
            platform="twitter",
            account_external_id=user_id,
            external_id=str(tweet["id_str"]),
            text=str(text or ""),
            post_external_id=str(reply_to),
            author_id=str(author["id_str"]) if author.get("id_str") else None,
            author_name=author.get("screen_name") or author.get("name"),
            commented_at=_epoch(tweet.get("timestamp_ms")) or _epoch(tweet.get("created_at")),
            raw=dict(tweet),
        ))
    return out, ignored


_READERS = {"facebook": facebook_comments, "instagram": instagram_comments, "twitter": twitter_comments}
#: platforms whose webhook payloads the inbox understands
WEBHOOK_PLATFORMS = frozenset(_READERS)


def comments_from_webhook(platform: str, payload: Mapping[str, Any]) -> tuple[list[IncomingComment], int]:
    """The comments in one webhook delivery of ``platform``, and how many events were not comments."""
    reader = _READERS.get(platform)
    if reader is None:
        raise ValueError(f"no webhook reader for platform {platform!r}")
    return reader(payload)


def _post_ids(platform: str, post_external_id: str) -> list[str]:
    """Ids a target may carry for this post: Facebook videos are stored by
    video id, while their feed story is ``{page}_{id}``."""
    ids = [post_external_id]
    if platform == "facebook" and "_" in post_external_id:
        ids.append(post_external_id.split("_", 1)[1])
    return ids


def _insert_new(session: Session, values: dict[str, Any]) -> int | None:
    """Insert unless (account, external id) exists; the new row's id, or ``None``."""
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(InboxComment)
        stmt = ins.values(**values).on_conflict_do_nothing(
            index_elements=["account_id", "external_id"]).returning(InboxComment.id)
        return session.execute(stmt).scalar_one_or_none()
    exists = session.execute(select(InboxComment.id).where(
        InboxComment.account_id == values["account_id"],
        InboxComment.external_id == values["external_id"])).first()
    if exists:
        return None
    try:
        return session.execute(insert(InboxComment).values(**values).returning(InboxComment.id)).scalar_one()
    except IntegrityError:  # a concurrent delivery won
        return None


# NUL (which no PostgreSQL text column takes) and lone UTF-16 surrogates
# (JSON's "\ud800", which no UTF-8 encoder takes)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(value: Any) -> Any:
    """``value`` with NULs dropped and lone surrogates made U+FFFD, in every
    string it holds (keys too)."""
    if isinstance(value, str):
        if _UNSTORABLE.search(value) is None:
            return value
        return _UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", value)
    if isinstance(value, Mapping):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_storable(v) for v in value]
    return value


def _cleaned(item: IncomingComment) -> IncomingComment:
    """The comment as it can be stored. A platform's comment is what it is:
    refusing it would fail the whole delivery, and the platform would send it
    again forever (Meta retries a failed webhook for days)."""
    changes = {f.name: _storable(getattr(item, f.name)) for f in fields(item)
               if isinstance(getattr(item, f.name), (str, Mapping, list))}
    return replace(item, **changes)


def store_comments(session: Session, incoming: Sequence[IncomingComment], *, source: str = "webhook") -> IngestResult:
    """Store each comment on every connected account it belongs to, once.

    Text the database cannot hold (NUL characters, lone surrogates) is
    dropped or replaced first. Adds an audit event per account that received
    comments. The caller commits.
    """
    result = IngestResult()
    per_account: dict[int, tuple[SocialAccount, int]] = {}
    for item in map(_cleaned, incoming):
        accounts = session.execute(select(SocialAccount).where(
            SocialAccount.platform == item.platform,
            SocialAccount.external_id == item.account_external_id,
            SocialAccount.status != AccountStatus.DISABLED,
        )).scalars().all()
        if not accounts:
            result.ignored += 1
            continue
        for account in accounts:
            target_id = None
            if item.post_external_id:
                target_id = session.execute(select(PostTarget.id).where(
                    PostTarget.account_id == account.id,
                    PostTarget.external_id.in_(_post_ids(item.platform, item.post_external_id)),
                ).order_by(PostTarget.id).limit(1)).scalar_one_or_none()
            new_id = _insert_new(session, {
                "workspace_id": account.workspace_id,
                "account_id": account.id,
                "target_id": target_id,
                "platform": item.platform,
                "external_id": item.external_id,
                "post_external_id": item.post_external_id,
                "parent_external_id": item.parent_external_id,
                "author_id": item.author_id,
                "author_name": (item.author_name or "")[:255] or None,
                "text": item.text,
                "commented_at": item.commented_at,
                "raw": item.raw,
            })
            if new_id is None:
                if item.edited:
                    session.execute(update(InboxComment).where(
                        InboxComment.account_id == account.id, InboxComment.external_id == item.external_id,
                    ).values(text=item.text, raw=item.raw))
                    result.updated += 1
                else:
                    result.duplicates += 1
                continue
            result.stored.append(session.get(InboxComment, new_id))
            acc, count = per_account.get(account.id, (account, 0))
            per_account[account.id] = (acc, count + 1)
    for account, count in per_account.values():
        audit.record(session, "inbox.comments_received", "social_account", account.id,
                     workspace_id=account.workspace_id, actor="system",
                     data={"platform": account.platform, "count": count, "source": source})
    return result


def ingest_webhook(session: Session, platform: str, payload: Mapping[str, Any]) -> IngestResult:
    """Read one (already authenticated) webhook delivery and store its comments."""
    incoming, not_comments = comments_from_webhook(platform, payload)
    result = store_comments(session, incoming)
    result.ignored += not_comments
    return result
