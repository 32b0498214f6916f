"""Running one follow-up: collect a target's metrics or poll its comments.

The sweep has marked the row ``queued`` (``runs`` counts the claims). The job
re-reads it and acts only while it is still ``queued`` with the same
``runs``, so a duplicate job or a stale one changes nothing. No database
connection is held while the platform is called.

Errors are decided by their class (:mod:`clientnest.errors`), as for
publishing, except that reads are safe to repeat, so an ambiguous answer is
simply tried again:

* :class:`TransientError` (and an unexpected exception, counted the same):
  ``pending`` again at the platform's ``retry_at`` exactly, or after the
  engine's backoff; after ``followup_max_attempts`` in a row a metrics slot
  fails, a comment poll skips to its next poll;
* :class:`AuthError`: the engine's refresh runs once, under its per-account
  lock (:func:`clientnest.engine.refresh.refresh_account`); refused, the
  account needs reconnecting (the engine flags it and tells the user) and the
  follow-up waits, ``pending``: the sweep claims only follow-ups of connected
  accounts, so it resumes when the account is reconnected. Refused again
  right after a successful refresh: the same;
* :class:`PermanentError`: ``failed`` with the platform's message.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..connector import Account, SocialConnector
from ..db import utcnow
from ..errors import AuthError, ConfigError, NotSentError, PermanentError, PlatformError, TransientError
from ..models import (
    AccountStatus,
    FollowUp,
    FollowUpKind,
    FollowUpStatus,
    PostTarget,
    SocialAccount,
    TargetStatus,
)
from ..services.accounts import to_connector_account
from ..services.inbox import IncomingComment, store_comments
from ..services.metrics import pick_metrics, store_snapshot
from .schedule import KIND_CAPABILITY, next_comment_poll

__all__ = ["run_followup", "Work"]

log = logging.getLogger(__name__)


@dataclass
class Work:
    """What one run needs outside the database (read when it starts)."""

    followup_id: int
    kind: str
    runs: int
    attempts: int
    workspace_id: int
    target_id: int
    external_id: str
    published_at: datetime
    account_id: int
    platform: str
    account: Account
    creds_cipher: str


_RECONNECT = {"kind": "auth", "message": "the account needs reconnecting; resumes once it is reconnected"}


class _Waiting(Exception):
    """The account needs reconnecting: the follow-up waits for it."""


def _aware(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _still_ours(fu_id: int, runs: int) -> Any:
    return (FollowUp.id == fu_id) & (FollowUp.status == FollowUpStatus.QUEUED) & (FollowUp.runs == runs)


def _finish(rt: Any, work: Work, **values: Any) -> bool:
    """Move the follow-up on, if this run still holds it."""
    with rt.db.transaction() as s:
        res = s.execute(update(FollowUp).where(_still_ours(work.followup_id, work.runs))
                        .values(**values).execution_options(synchronize_session=False))
        return res.rowcount == 1


def _load(rt: Any, followup_id: int) -> Work | str:
    with rt.db.session() as s:
        row = s.execute(
            select(FollowUp, PostTarget, SocialAccount)
            .join(PostTarget, PostTarget.id == FollowUp.target_id)
            .join(SocialAccount, SocialAccount.id == PostTarget.account_id)
            .where(FollowUp.id == followup_id)
        ).first()
        if row is None:
            return "gone"
        fu, target, acct = row
        if fu.status != FollowUpStatus.QUEUED:
            return "skipped"
        if acct.status != AccountStatus.CONNECTED:
            return "waiting"
        if target.status != TargetStatus.PUBLISHED or not target.external_id:
            return "not_published"
        return Work(
            followup_id=fu.id, kind=fu.kind, runs=fu.runs, attempts=fu.attempts,
            workspace_id=fu.workspace_id, target_id=target.id, external_id=target.external_id,
            published_at=_aware(target.published_at) or utcnow(), account_id=acct.id, platform=acct.platform,
            account=to_connector_account(rt.vault, acct), creds_cipher=acct.credentials_encrypted,
        )


def _reload_account(rt: Any, work: Work) -> None:
    with rt.db.session() as s:
        acct = s.get(SocialAccount, work.account_id)
        if acct is None or acct.status != AccountStatus.CONNECTED:
            raise _Waiting()
        work.account = to_connector_account(rt.vault, acct)
        work.creds_cipher = acct.credentials_encrypted


def _reconnect(rt: Any, work: Work, exc: AuthError) -> None:
    """Refused right after a refresh: the account needs reconnecting (the
    engine's own rule and message)."""
    from ..engine.refresh import mark_needs_reconnect, reconnect_message

    with rt.db.transaction() as s:
        acct = s.get(SocialAccount, work.account_id)
        if acct is None:
            return
        cls = rt.plugins.connector_classes.get(acct.platform)
        label = (cls.display_name or cls.name) if cls else acct.platform
        mark_needs_reconnect(s, acct, reconnect_message(label, acct, exc.message))


def _call(rt: Any, work: Work, fn: Callable[[SocialConnector, Account], Any]) -> Any:
    """Call the platform, refreshing the token once on an auth refusal."""
    from ..engine.refresh import RefreshOutcome, refresh_account

    try:
        connector = rt.plugins.connector(work.platform)
    except ConfigError as exc:  # the platform's plugin is off: nothing was asked
        raise NotSentError(str(exc), platform=work.platform) from None
    if KIND_CAPABILITY[FollowUpKind(work.kind)] not in connector.capabilities:
        raise PermanentError(f"the {work.platform} connector cannot {_verb(work.kind)} any more",
                             platform=work.platform)
    refreshed = False
    while True:
        try:
            return fn(connector, work.account)
        except AuthError as exc:
            if refreshed:
                _reconnect(rt, work, exc)
                raise _Waiting() from None
            refreshed = True
            outcome = refresh_account(rt, work.account_id, seen=work.creds_cipher)
            if outcome == RefreshOutcome.FAILED:
                raise _Waiting() from None
            _reload_account(rt, work)
        except NotImplementedError:
            raise PermanentError(f"the {work.platform} connector cannot {_verb(work.kind)}",
                                 platform=work.platform) from None


def _verb(kind: str) -> str:
    return "fetch metrics" if kind == FollowUpKind.METRICS else "fetch comments"


# -- the two kinds of work -------------------------------------------------------------

def _collect_metrics(rt: Any, work: Work) -> dict[str, Any]:
    def fetch(connector: SocialConnector, account: Account) -> Any:
        return rt.plugins.hook.clientnest_fetch_metrics(
            connector=connector, account=account, external_ids=[work.external_id])

    answer = _call(rt, work, fetch)
    if answer is None:
        raise PermanentError("no plugin answered the metrics call", platform=work.platform)
    metrics = pick_metrics(answer, work.external_id)
    if metrics is None:
        raise PermanentError(f"the platform returned no metrics for post {work.external_id} "
                             "(it may have been deleted)", platform=work.platform)
    now = utcnow()
    with rt.db.transaction() as s:
        if not _holds(s, work):
            return {"result": "lost"}
        snap = store_snapshot(s, workspace_id=work.workspace_id, target_id=work.target_id, metrics=metrics,
                              fetched_at=now)
        s.execute(update(FollowUp).where(_still_ours(work.followup_id, work.runs)).values(
            status=FollowUpStatus.DONE, done_at=now, due_at=None, attempts=0, last_error=None))
        snapshot_id = snap.id
    return {"result": "done", "snapshot_id": snapshot_id}


def _holds(s: Session, work: Work) -> bool:
    return s.execute(select(FollowUp.id).where(_still_ours(work.followup_id, work.runs))).first() is not None


def _incoming(work: Work, comments: list[Any]) -> list[IncomingComment]:
    out = []
    own = {str(work.account.external_id)}
    for c in comments:
        if c.author_id is not None and str(c.author_id) in own:
            continue  # the account's own replies are not inbox items
        out.append(IncomingComment(
            platform=work.platform,
            account_external_id=str(work.account.external_id),
            external_id=str(c.external_id),
            text=str(c.text or ""),
            post_external_id=str(c.post_external_id or work.external_id),
            parent_external_id=str(c.parent_external_id) if c.parent_external_id else None,
            author_id=str(c.author_id) if c.author_id is not None else None,
            author_name=c.author_name,
            commented_at=_aware(c.created_at),
            raw=_jsonable(c.raw),
        ))
    return out


def _jsonable(value: Any) -> Any:
    import json

    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return None


def _poll_comments(rt: Any, work: Work) -> dict[str, Any]:
    """Page through the post's comments; each page is stored as it comes, so
    a failure on page 3 keeps pages 1 and 2 (the dedup makes the retry safe)."""
    cursor: str | None = None
    stored: list[tuple[int, int]] = []  # (comment id, workspace id)
    duplicates = 0
    for _ in range(max(1, rt.settings.comment_poll_max_pages)):
        def fetch(connector: SocialConnector, account: Account, cursor: str | None = cursor) -> Any:
            return rt.plugins.hook.clientnest_fetch_comments(
                connector=connector, account=account, external_id=work.external_id, cursor=cursor)

        page = _call(rt, work, fetch)
        if page is None:
            raise PermanentError("no plugin answered the comments call", platform=work.platform)
        incoming = _incoming(work, list(page.comments or []))
        if incoming:
            with rt.db.transaction() as s:
                result = store_comments(s, incoming, source="poll")
                stored += [(c.id, c.workspace_id) for c in result.stored]
                duplicates += result.duplicates
        cursor = page.next_cursor
        if not cursor:
            break
    now = utcnow()
    nxt = next_comment_poll(rt.settings, work.published_at, now)
    values: dict[str, Any] = {"attempts": 0, "last_error": None}
    if nxt is None:
        values.update(status=FollowUpStatus.DONE, done_at=now, due_at=None)
    else:
        values.update(status=FollowUpStatus.PENDING, due_at=nxt)
    _finish(rt, work, **values)
    return {"result": "done" if nxt is None else "polled", "stored": [c for c, _ in stored],
            "workspaces": sorted({w for _, w in stored}), "duplicates": duplicates}


# -- failures ------------------------------------------------------------------------------

def _failed(rt: Any, work: Work, exc: PlatformError | Exception, *, permanent: bool) -> str:
    from ..engine.retry import next_retry_at

    now = utcnow()
    err = exc.to_dict() if isinstance(exc, PlatformError) else {
        "kind": "error", "message": f"unexpected error: {type(exc).__name__}"}
    if permanent:
        _finish(rt, work, status=FollowUpStatus.FAILED, done_at=now, due_at=None, last_error=err)
        log.warning("follow-up %s (%s of target %s) failed: %s", work.followup_id, work.kind, work.target_id,
                    err.get("message"))
        return "failed"
    attempts = work.attempts + 1
    if attempts >= rt.settings.followup_max_attempts:
        err = {**err, "message": f"gave up after {attempts} attempts: {err.get('message')}"}
        if work.kind == FollowUpKind.COMMENTS:
            nxt = next_comment_poll(rt.settings, work.published_at, now)
            if nxt is not None:  # one bad hour must not end a week of polling
                _finish(rt, work, status=FollowUpStatus.PENDING, due_at=nxt, attempts=0, last_error=err)
                return "skipped_poll"
        _finish(rt, work, status=FollowUpStatus.FAILED, done_at=now, due_at=None, attempts=attempts, last_error=err)
        return "failed"
    when = next_retry_at(rt.settings, attempts, now, getattr(exc, "retry_at", None))
    _finish(rt, work, status=FollowUpStatus.PENDING, due_at=when, attempts=attempts, last_error=err)
    return "retry"


def _wait_for_reconnect(rt: Any, work: Work) -> str:
    """Back to ``pending``, due now: the sweep takes it again once the
    account is connected (it skips accounts that are not)."""
    _finish(rt, work, status=FollowUpStatus.PENDING, due_at=utcnow(), last_error=_RECONNECT)
    return "waiting"


def run_followup(rt: Any, followup_id: int, kind: str | None = None) -> dict[str, Any]:
    """Run one follow-up; returns ``{"result": ...}`` and what it stored.

    Results: ``done``, ``polled`` (next poll scheduled), ``retry``,
    ``skipped_poll``, ``failed``, ``waiting`` (account needs reconnecting),
    ``skipped`` (not queued any more), ``lost``, ``gone``.
    """
    work = _load(rt, followup_id)
    if isinstance(work, str):
        if work == "waiting":  # flagged since the sweep claimed it
            with rt.db.transaction() as s:
                s.execute(update(FollowUp).where(FollowUp.id == followup_id,
                                                 FollowUp.status == FollowUpStatus.QUEUED)
                          .values(status=FollowUpStatus.PENDING, last_error=_RECONNECT))
        elif work == "not_published":
            with rt.db.transaction() as s:
                s.execute(update(FollowUp).where(FollowUp.id == followup_id,
                                                 FollowUp.status == FollowUpStatus.QUEUED)
                          .values(status=FollowUpStatus.FAILED, due_at=None, done_at=utcnow(),
                                  last_error={"kind": "permanent", "message": "the target is not published"}))
        return {"result": work}
    if kind is not None and work.kind != kind:
        log.error("follow-up %s is %s, not %s; job ignored", followup_id, work.kind, kind)
        return {"result": "skipped"}
    try:
        if work.kind == FollowUpKind.METRICS:
            return _collect_metrics(rt, work)
        return _poll_comments(rt, work)
    except _Waiting:
        return {"result": _wait_for_reconnect(rt, work)}
    except PermanentError as exc:
        return {"result": _failed(rt, work, exc, permanent=True)}
    except (TransientError, AuthError) as exc:
        # an AuthError here came from the refresh itself being unreachable
        # (TransientError) or refused without a refresh path: retry later
        return {"result": _failed(rt, work, exc, permanent=False)}
    except PlatformError as exc:  # a class we do not know: reads are safe to retry
        return {"result": _failed(rt, work, exc, permanent=False)}
    except Exception as exc:  # a connector bug: counted, so it cannot loop for ever
        log.exception("follow-up %s: unexpected error from the %s connector", followup_id, work.platform)
        return {"result": _failed(rt, work, exc, permanent=False)}

