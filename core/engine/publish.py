"""The publish job: one target, published exactly once, every failure explained.

Sequence (each numbered step is its own short transaction; no database
connection is held while the platform is called):

1. *Claim*: ``queued -> publishing`` with a lease, by a conditional UPDATE, so
   a duplicate job does nothing; a job claims all its targets in one
   transaction (:func:`claim`). The attempt row is inserted and **committed
   before the platform is called** (invariant 2). The attempt log decides
   what this attempt is: a lookup (``reconcile``) when an earlier publish may
   have reached the platform, a ``publish`` otherwise. A token expiring within
   the lease is refreshed first (:mod:`.refresh`: once, under a lock).
2. *Call* the connector through its hook (``clientnest_publish`` or
   ``clientnest_find_published``).
3. *Record* the outcome. A success is recorded with retries on a broken
   database connection, never by calling the platform again; if it still
   cannot be written, the lease expires and the lookup finds the post.

The hot path is a handful of prebuilt Core statements (about ten per post):
in a worker the ORM's unit of work used to cost more CPU than the platform
call itself.

The error class decides what happens next (see :mod:`clientnest.errors`):

* :class:`NotSentError` -> ``scheduled`` again, at the platform's
  ``retry_at`` exactly or after an exponential backoff with jitter; after
  ``max_publish_attempts`` it fails with the last error;
* :class:`AmbiguousError` (and anything unexpected) -> ``unknown``; the next
  job looks the post up before sending anything;
* :class:`AuthError` -> refresh once under the account lock and retry; if the
  refresh is refused or the retry is refused too, the account needs
  reconnecting, its pending targets are held and the error says so;
* :class:`PermanentError` -> ``failed`` with the platform's own message.

A lookup that cannot be made (the connector has none for the account, the
platform refuses it) or that keeps failing ends the target ``unconfirmed``:
it may be live, so the user is told to check the account's profile
(``last_error.profile_url``) before posting again; never plain ``failed``.

A post too late by more than ``max_lateness_seconds`` fails with "missed its
time" instead of going out hours after the moment it was meant for.
"""
from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import bindparam, delete, exists, insert, null, select, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..connector import Account, PostContent, PublishResult
from ..db import utcnow
from ..errors import (
    AmbiguousError,
    AuthError,
    ClientNestError,
    ConfigError,
    NotSentError,
    PermanentError,
    PlatformError,
    TransientError,
)
from ..models import (
    AccountStatus,
    AttemptOutcome,
    Post,
    PostMedia,
    PostTarget,
    PublishAttempt,
    SocialAccount,
    TargetStatus,
)
from ..services.accounts import to_connector_account
from .content import build_content, load_media
from .liveness import worker_name
from .reconcile import LOOKUP_SKEW, unresolved_since
from .refresh import RefreshOutcome, mark_needs_reconnect, reconnect_message, refresh_account
from .retry import next_retry_at
from .state import insert_audit_rows, refresh_post, settles_post, target_event, target_event_row

__all__ = ["publish", "claim", "release", "PublishJob", "Step", "PUBLISH", "RECONCILE"]

log = logging.getLogger(__name__)

PUBLISH = "publish"
RECONCILE = "reconcile"

#: attempt outcomes that count towards ``max_publish_attempts``
_PUBLISH_FAILURES = frozenset({
    AttemptOutcome.NOT_SENT, AttemptOutcome.AUTH, AttemptOutcome.AMBIGUOUS, AttemptOutcome.ABANDONED,
})
_LOOKUP_FAILURES = frozenset({AttemptOutcome.NOT_SENT, AttemptOutcome.AMBIGUOUS, AttemptOutcome.ABANDONED})

# Core tables: the hot path runs a handful of Core statements per post (the
# ORM's unit of work cost more CPU than the platform call).
_T = PostTarget.__table__
_P = Post.__table__
_A = SocialAccount.__table__
_PA = PublishAttempt.__table__

T = TypeVar("T")


@dataclass(frozen=True)
class Step:
    """What one attempt needs outside the database (read at claim time)."""

    target_id: int
    post_id: int
    workspace_id: int
    account_id: int
    platform: str
    number: int
    kind: str
    since: datetime | None
    scheduled_at: datetime | None
    content: PostContent
    account: Account
    creds_cipher: str
    token_expires_at: datetime | None
    publish_failures: int
    lookup_failures: int


def _aware(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _human(seconds: float) -> str:
    if seconds % 3600 == 0:
        h = int(seconds // 3600)
        return f"{h} hour{'s' if h != 1 else ''}"
    if seconds % 60 == 0:
        m = int(seconds // 60)
        return f"{m} minute{'s' if m != 1 else ''}"
    return f"{seconds:g} seconds"


def _account_columns() -> list[Any]:
    return [_A.c.platform, _A.c.status.label("account_status"), _A.c.status_reason, _A.c.credentials_encrypted,
            _A.c.token_expires_at, _A.c.external_id, _A.c.display_name, _A.c.username, _A.c.kind, _A.c.extra]


# The hot path's statements, built once: a post runs each of them once, and
# building a statement costs about as much CPU as executing it.
_CLAIM = (
    update(_T)
    .where(_T.c.id.in_(bindparam("p_ids", expanding=True)), _T.c.status == TargetStatus.QUEUED)
    .values(status=TargetStatus.PUBLISHING, lease_expires_at=bindparam("p_lease"),
            attempts=_T.c.attempts + 1, updated_at=bindparam("p_now"))
    .returning(_T.c.id, _T.c.post_id, _T.c.workspace_id, _T.c.account_id, _T.c.attempts, _T.c.scheduled_at,
               _T.c.text_override, _T.c.last_error)
)
_INFO = (
    select(_T.c.id.label("target_id"), _P.c.text, _P.c.link, _P.c.thread, _P.c.first_comment,
           *_account_columns(), exists().where(PostMedia.__table__.c.post_id == _P.c.id).label("has_media"))
    .select_from(_T.join(_P, _P.c.id == _T.c.post_id).join(_A, _A.c.id == _T.c.account_id))
    .where(_T.c.id.in_(bindparam("p_ids", expanding=True)))
)
_LOGS = (
    select(_PA.c.target_id, _PA.c.number, _PA.c.kind, _PA.c.outcome, _PA.c.started_at)
    .where(_PA.c.target_id.in_(bindparam("p_ids", expanding=True)))
)
_NEW_ATTEMPT = insert(_PA)
_FINISH = (
    update(_PA)
    .where(_PA.c.target_id == bindparam("p_target"), _PA.c.number == bindparam("p_number"))
    .values(outcome=bindparam("p_outcome"), error=bindparam("p_error"), finished_at=bindparam("p_now"),
            external_id=bindparam("p_external_id"))
)
_PUBLISHED = (
    update(_T)
    .where(_T.c.id == bindparam("p_id"), _T.c.status == TargetStatus.PUBLISHING,
           _T.c.attempts == bindparam("p_number"))
    .values(status=TargetStatus.PUBLISHED, external_id=bindparam("p_external_id"),
            external_url=bindparam("p_url"), extra_ids=bindparam("p_extra"), published_at=bindparam("p_published"),
            lease_expires_at=None, next_attempt_at=None, last_error=null(), updated_at=bindparam("p_now"))
)


class PublishJob:
    """One run of the publish job for one target."""

    def __init__(self, runtime: Any, target_id: int, *, worker: str | None = None) -> None:
        self.rt = runtime
        self.settings = runtime.settings
        self.target_id = target_id
        self.worker = worker or worker_name()
        self._refreshed = False

    # -- plumbing ------------------------------------------------------------------
    def _retry_delays(self) -> list[float]:
        """Waits between tries of a database write: doubling from 0.1 s, in all
        at most half a lease (after that the lease sweep takes over)."""
        budget, d, out = self.settings.publish_lease_seconds / 2, 0.1, []
        while sum(out) + d <= budget and len(out) < 12:
            out.append(d)
            d *= 2
        return out or [0.1]

    def _write(self, fn: Callable[[Any], T], *, orm: bool = False) -> T:
        """Run ``fn`` in a transaction, retrying when the database connection
        fails. Never re-runs anything outside the database. ``fn`` gets a Core
        connection (the hot path) or, with ``orm``, a session."""
        delays = self._retry_delays()
        for i in range(len(delays) + 1):
            try:
                if orm:
                    with self.rt.db.transaction() as s:
                        return fn(s)
                with self.rt.db.engine.begin() as conn:
                    return fn(conn)
            except (OperationalError, InterfaceError) as exc:
                if i == len(delays):
                    log.error("target %s: database unavailable, giving up this write (%s)",
                              self.target_id, type(exc.orig).__name__ if exc.orig else exc)
                    raise
                log.warning("target %s: database write failed (%s); retrying in %.1fs",
                            self.target_id, type(exc.orig).__name__ if exc.orig else exc, delays[i])
                time.sleep(delays[i])
        raise AssertionError("unreachable")

    def _lease_until(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.settings.publish_lease_seconds)

    def _too_late(self, scheduled_at: datetime | None, when: datetime) -> bool:
        return scheduled_at is not None and when > scheduled_at + timedelta(seconds=self.settings.max_lateness_seconds)

    def _missed(self, scheduled_at: datetime, detail: str = "") -> dict[str, Any]:
        msg = (f"missed its time: it was due at {scheduled_at:%Y-%m-%d %H:%M} UTC and could not be published "
               f"within {_human(self.settings.max_lateness_seconds)} of it")
        return {"kind": "missed", "message": msg + (f" ({detail})" if detail else "")}

    def _finish_attempt(self, s: Connection, step: Step, outcome: str, error: dict[str, Any] | None,
                        now: datetime, external_id: str | None = None) -> None:
        s.execute(_FINISH, {"p_target": step.target_id, "p_number": step.number, "p_outcome": outcome,
                            "p_error": error, "p_now": now, "p_external_id": external_id})

    def _held_by_us(self, step: Step) -> Any:
        """WHERE clause: the target is still ours (status and attempt number)."""
        return (_T.c.id == step.target_id) & (_T.c.status == TargetStatus.PUBLISHING) & (_T.c.attempts == step.number)

    # -- run ---------------------------------------------------------------------------
    def run(self) -> str:
        """Run the job; returns what happened (for logs and tests)."""
        return self.run_claimed(claim(self.rt, [self.target_id], worker=self.worker)[self.target_id])

    def run_claimed(self, step: Step | str) -> str:
        """Go on from this target's claim (:func:`claim`): call, record, and
        retry, reconcile or refresh as the outcome says."""
        if isinstance(step, Step) and step.kind == PUBLISH:
            step = self._refresh_ahead(step)
        while isinstance(step, Step):
            step = self._reconcile(step) if step.kind == RECONCILE else self._publish(step)
        return step

    def _refresh_ahead(self, step: Step) -> Step | str:
        """A token that expires within the lease is refreshed before the call
        (once for all the jobs of the account: see :mod:`.refresh`)."""
        skew = self.settings.publish_lease_seconds + 60
        if step.token_expires_at is None or step.token_expires_at > utcnow() + timedelta(seconds=skew):
            return step
        try:
            outcome = refresh_account(self.rt, step.account_id, ahead_seconds=skew)
        except TransientError as exc:
            # the token may still work; a refusal then takes the auth path
            log.warning("target %s: refresh ahead of publishing failed for now: %s", self.target_id, exc.message)
            return step
        if outcome == RefreshOutcome.FAILED:
            return self._held(step, AuthError("the token expired and the platform refused to refresh it",
                                              platform=step.platform))
        with self.rt.db.engine.connect() as c:  # ours or another job's refresh: use the stored credentials
            row = c.execute(select(*_account_columns()).where(_A.c.id == step.account_id)).first()
        if row is None or row.account_status != AccountStatus.CONNECTED:
            return self._held(step, AuthError("the account needs reconnecting", platform=step.platform))
        return replace(step, account=to_connector_account(self.rt.vault, row),
                       creds_cipher=row.credentials_encrypted, token_expires_at=_aware(row.token_expires_at))

    # -- 1. claim --------------------------------------------------------------------
    def _claim_many(self, s: Connection, target_ids: Sequence[int]) -> dict[int, Step | str]:
        """Claim the targets still queued, in a few statements whatever their
        number; each comes back as a :class:`Step`, or as what happened to it
        instead (``skipped``: canceled, held or taken meanwhile; ``held``,
        ``failed``: settled without an attempt)."""
        now = utcnow()
        out: dict[int, Step | str] = {tid: "skipped" for tid in target_ids}
        got = {r.id: r for r in s.execute(_CLAIM, {"p_ids": list(target_ids), "p_lease": self._lease_until(now),
                                                   "p_now": now})}
        if not got:
            return out
        infos = {r.target_id: r for r in s.execute(_INFO, {"p_ids": list(got)})}
        insert_audit_rows(s, [
            target_event_row(target_id=tid, workspace_id=g.workspace_id, post_id=g.post_id,
                             frm=TargetStatus.QUEUED, to=TargetStatus.PUBLISHING)
            for tid, g in got.items()
        ])
        logs: dict[int, list[Any]] = defaultdict(list)
        retried = [tid for tid, g in got.items() if g.attempts > 1]  # only they have a log to read
        if retried:
            for a in s.execute(_LOGS, {"p_ids": retried}):
                logs[a.target_id].append(a)
        attempts: list[dict[str, Any]] = []
        for tid in target_ids:
            if tid in got:
                out[tid] = self._prepare(s, got[tid], infos[tid], logs[tid], now, attempts)
        if attempts:
            s.execute(_NEW_ATTEMPT, attempts)
        return out

    def _prepare(self, s: Connection, got: Any, info: Any, log_rows: list[Any], now: datetime,
                 attempts: list[dict[str, Any]]) -> Step | str:
        """One claimed target: settled at once (held, missed, out of
        attempts), or its next attempt (added to ``attempts``) and its Step."""
        number = got.attempts
        ev = {"target_id": got.id, "workspace_id": got.workspace_id, "post_id": got.post_id}

        def settle(status: str, error: dict[str, Any], outcome: str) -> str:
            # no attempt was made: give the attempt number back
            s.execute(update(_T).where(_T.c.id == got.id).values(
                status=status, last_error=error, lease_expires_at=None, next_attempt_at=None,
                attempts=number - 1, updated_at=now))
            target_event(s, **ev, frm=TargetStatus.PUBLISHING, to=status, error=error.get("kind"))
            refresh_post(s, got.post_id, now=now)
            return outcome

        if info.account_status != AccountStatus.CONNECTED:
            msg = info.status_reason or "The account needs reconnecting before it can publish."
            return settle(TargetStatus.HELD, {"kind": "auth", "message": msg}, "held")
        since = unresolved_since(log_rows) if log_rows else None
        publish_failures = sum(1 for a in log_rows if a.kind == PUBLISH and a.outcome in _PUBLISH_FAILURES)
        lookup_failures = sum(1 for a in log_rows if a.kind == RECONCILE and a.outcome in _LOOKUP_FAILURES)
        scheduled_at = _aware(got.scheduled_at)
        if since is None:
            if self._too_late(scheduled_at, now):
                assert scheduled_at is not None
                return settle(TargetStatus.FAILED, self._missed(scheduled_at), "failed")
            if publish_failures >= self.settings.max_publish_attempts:
                last = got.last_error or {}
                return settle(TargetStatus.FAILED, {
                    "kind": last.get("kind", "not_sent"),
                    "message": f"gave up after {publish_failures} attempts: {last.get('message', 'no detail')}",
                }, "failed")
        kind = RECONCILE if since is not None else PUBLISH
        attempts.append({"target_id": got.id, "number": number, "kind": kind, "outcome": AttemptOutcome.STARTED,
                         "worker": self.worker, "started_at": now})
        media = []
        if info.has_media:
            with Session(bind=s) as ms:
                media = load_media(self.rt, ms, got.post_id)
        return Step(
            target_id=got.id, post_id=got.post_id, workspace_id=got.workspace_id,
            account_id=got.account_id, platform=info.platform, number=number, kind=kind, since=_aware(since),
            scheduled_at=scheduled_at,
            content=build_content(got.id, text=info.text, text_override=got.text_override, link=info.link,
                                  thread=info.thread, first_comment=info.first_comment, media=media),
            account=to_connector_account(self.rt.vault, info), creds_cipher=info.credentials_encrypted,
            token_expires_at=_aware(info.token_expires_at),
            publish_failures=publish_failures, lookup_failures=lookup_failures,
        )

    # -- 2. call -----------------------------------------------------------------------
    def _publish(self, step: Step) -> Step | str:
        try:
            connector = self.rt.plugins.connector(step.platform)
            result = self.rt.plugins.hook.clientnest_publish(
                connector=connector, account=step.account, content=step.content)
            if result is None:
                raise PermanentError("no plugin answered the publish call", platform=step.platform)
        except ConfigError as exc:  # the platform's plugin is not enabled: nothing was sent
            return self._not_sent(step, NotSentError(str(exc), platform=step.platform))
        except AuthError as exc:
            return self._auth(step, exc)
        except NotSentError as exc:
            return self._not_sent(step, exc)
        except PermanentError as exc:
            return self._fail(step, AttemptOutcome.PERMANENT, exc.to_dict(), exc.message)
        except NotImplementedError:
            exc2 = PermanentError(f"the {step.platform} connector cannot publish", platform=step.platform)
            return self._fail(step, AttemptOutcome.PERMANENT, exc2.to_dict(), exc2.message)
        except PlatformError as exc:  # ambiguous, or a class we do not know: assume it may have gone out
            return self._ambiguous(step, exc)
        except Exception as exc:  # a connector bug: it may have sent the request
            log.exception("target %s: unexpected error from the %s connector", step.target_id, step.platform)
            return self._ambiguous(step, AmbiguousError(
                f"unexpected error in the connector: {type(exc).__name__}", platform=step.platform))
        return self._published(step, result, AttemptOutcome.PUBLISHED)

    def _reconcile(self, step: Step) -> Step | str:
        assert step.since is not None
        try:
            connector = self.rt.plugins.connector(step.platform)
            if not connector.can_look_up(step.account):
                return self._unconfirmed(step, None, "cannot look up this account's posts")
            found = self.rt.plugins.hook.clientnest_find_published(
                connector=connector, account=step.account, content=step.content, since=step.since - LOOKUP_SKEW)
        except ConfigError as exc:
            return self._lookup_failed(step, NotSentError(str(exc), platform=step.platform))
        except AuthError as exc:
            return self._auth(step, exc)
        except NotImplementedError:
            return self._unconfirmed(step, None, "cannot look up posts")
        except PermanentError as exc:
            return self._unconfirmed(step, exc, f"refused the lookup: {exc.message}")
        except PlatformError as exc:
            return self._lookup_failed(step, exc)
        except Exception as exc:
            log.exception("target %s: unexpected error from the %s lookup", step.target_id, step.platform)
            return self._lookup_failed(step, AmbiguousError(
                f"unexpected error in the connector: {type(exc).__name__}", platform=step.platform))
        if found is not None:
            return self._published(step, found, AttemptOutcome.FOUND)
        return self._continue(step, AttemptOutcome.NOT_FOUND, None, PUBLISH)

    # -- 3. record -----------------------------------------------------------------------
    def _published(self, step: Step, result: PublishResult, outcome: str) -> str:
        """Record a success. Retried on a broken connection; never re-sent."""
        def fn(s: Connection) -> str:
            now = utcnow()
            self._finish_attempt(s, step, outcome, None, now, external_id=result.external_id)
            published_at = _aware(result.published_at) or now
            frm: str = TargetStatus.PUBLISHING
            if s.execute(_PUBLISHED, {
                "p_id": step.target_id, "p_number": step.number, "p_external_id": result.external_id,
                "p_url": result.url, "p_extra": dict(result.extra_ids or {}), "p_published": published_at,
                "p_now": now,
            }).rowcount == 0:
                # our lease ran out meanwhile; the platform has the post, so it is published all the same
                row = s.execute(select(_T.c.status, _T.c.external_id).where(_T.c.id == step.target_id)).first()
                if row is None:
                    return "gone"
                old = row.status
                if old == TargetStatus.PUBLISHED:
                    if row.external_id == result.external_id:
                        return "published"  # the same post, recorded by whoever held the target after us
                    log.error("target %s was already published as %s; platform post %s is a second copy",
                              step.target_id, row.external_id, result.external_id)
                    return "duplicate"
                s.execute(update(_T).where(_T.c.id == step.target_id, _T.c.status == old).values(
                    status=TargetStatus.PUBLISHED, external_id=result.external_id, external_url=result.url,
                    extra_ids=dict(result.extra_ids or {}), published_at=published_at, lease_expires_at=None,
                    next_attempt_at=None, last_error=null(), updated_at=now))
                frm = old
            refresh_post(s, step.post_id, now=now, events=[target_event_row(
                target_id=step.target_id, workspace_id=step.workspace_id, post_id=step.post_id, frm=frm,
                to=TargetStatus.PUBLISHED, external_id=result.external_id,
                via="lookup" if outcome == AttemptOutcome.FOUND else "publish")])
            return "published"

        return self._write(fn)

    def _settle(self, step: Step, outcome: str, error: dict[str, Any] | None, to: str, *,
                next_attempt_at: datetime | None = None, last_error: dict[str, Any] | None = None,
                result: str) -> str:
        """Record a non-success and move the target on, if we still hold it."""
        def fn(s: Connection) -> str:
            now = utcnow()
            self._finish_attempt(s, step, outcome, error, now)
            err = last_error if last_error is not None else error
            res = s.execute(
                update(_T).where(self._held_by_us(step))
                .values(status=to, next_attempt_at=next_attempt_at, lease_expires_at=None,
                        last_error=err if err is not None else null(), updated_at=now)
            )
            if res.rowcount == 0:
                return "lost"  # our lease expired and someone else holds the target now
            data: dict[str, Any] = {"attempt": step.number, "outcome": str(outcome)}
            if next_attempt_at is not None:
                data["next_attempt_at"] = next_attempt_at.isoformat()
            ev = target_event_row(target_id=step.target_id, workspace_id=step.workspace_id, post_id=step.post_id,
                                  frm=TargetStatus.PUBLISHING, to=to, **data)
            if settles_post(to):
                refresh_post(s, step.post_id, now=now, events=[ev])
            else:
                insert_audit_rows(s, [ev])
            return result

        return self._write(fn)

    def _continue(self, step: Step, outcome: str, error: dict[str, Any] | None, kind: str) -> Step | str:
        """Close this attempt and open the next one (after a lookup found
        nothing, or after a refresh), renewing the lease; committed before the
        next call."""
        failed_publish = step.kind == PUBLISH and outcome in _PUBLISH_FAILURES
        failures = step.publish_failures + (1 if failed_publish else 0)

        def fn(s: Connection) -> Step | str:
            now = utcnow()
            self._finish_attempt(s, step, outcome, error, now)
            number = step.number + 1
            late = kind == PUBLISH and self._too_late(step.scheduled_at, now)
            if late or (kind == PUBLISH and failures >= self.settings.max_publish_attempts):
                if late:
                    assert step.scheduled_at is not None
                    err = self._missed(step.scheduled_at)
                else:
                    err = {"kind": "not_sent", "message": f"gave up after {failures} attempts"}
                res = s.execute(update(_T).where(self._held_by_us(step)).values(
                    status=TargetStatus.FAILED, lease_expires_at=None, next_attempt_at=None,
                    last_error=err, updated_at=now))
                if res.rowcount == 0:
                    return "lost"
                target_event(s, target_id=step.target_id, workspace_id=step.workspace_id, post_id=step.post_id,
                             frm=TargetStatus.PUBLISHING, to=TargetStatus.FAILED, error=err["kind"])
                refresh_post(s, step.post_id, now=now)
                return "failed"
            res = s.execute(update(_T).where(self._held_by_us(step)).values(
                attempts=number, lease_expires_at=self._lease_until(now), updated_at=now))
            if res.rowcount == 0:
                return "lost"
            acct = s.execute(select(*_account_columns()).where(_A.c.id == step.account_id)).one()
            s.execute(_NEW_ATTEMPT, {"target_id": step.target_id, "number": number, "kind": kind,
                                     "outcome": AttemptOutcome.STARTED, "worker": self.worker, "started_at": now})
            return replace(step, number=number, kind=kind, since=step.since if kind == RECONCILE else None,
                           account=to_connector_account(self.rt.vault, acct),
                           creds_cipher=acct.credentials_encrypted, publish_failures=failures)

        return self._write(fn)

    # -- outcomes ---------------------------------------------------------------------------
    def _fail(self, step: Step, outcome: str, error: dict[str, Any], message: str) -> str:
        return self._settle(step, outcome, error, TargetStatus.FAILED,
                            last_error={**error, "message": message}, result="failed")

    def _not_sent(self, step: Step, exc: TransientError) -> str:
        failures = step.publish_failures + 1
        now = utcnow()
        err = exc.to_dict()
        if failures >= self.settings.max_publish_attempts:
            return self._fail(step, AttemptOutcome.NOT_SENT, err,
                              f"gave up after {failures} attempts: {exc.message}")
        when = next_retry_at(self.settings, failures, now, exc.retry_at)
        if self._too_late(step.scheduled_at, when):
            assert step.scheduled_at is not None
            wait = "the platform asked to wait until" if exc.retry_at else "the next try would be at"
            missed = self._missed(step.scheduled_at, f"{exc.message}; {wait} {when:%Y-%m-%d %H:%M:%S} UTC")
            return self._settle(step, AttemptOutcome.NOT_SENT, err, TargetStatus.FAILED,
                                last_error=missed, result="failed")
        return self._settle(step, AttemptOutcome.NOT_SENT, err, TargetStatus.SCHEDULED,
                            next_attempt_at=when, result="retry")

    def _ambiguous(self, step: Step, exc: PlatformError) -> str:
        now = utcnow()
        when = now + timedelta(seconds=self.settings.reconcile_delay_seconds)
        retry_at = getattr(exc, "retry_at", None)
        if retry_at is not None and retry_at > when:
            when = retry_at
        err = exc.to_dict()
        err["kind"] = AmbiguousError.kind
        return self._settle(step, AttemptOutcome.AMBIGUOUS, err, TargetStatus.UNKNOWN,
                            next_attempt_at=when, result="unknown")

    def _lookup_failed(self, step: Step, exc: PlatformError) -> str:
        failures = step.lookup_failures + 1
        outcome = AttemptOutcome.NOT_SENT if isinstance(exc, NotSentError) else AttemptOutcome.AMBIGUOUS
        err = exc.to_dict()
        if failures >= self.settings.max_publish_attempts:
            return self._unconfirmed(step, exc, f"failed {failures} lookups (last: {exc.message})",
                                     outcome=outcome)
        when = next_retry_at(self.settings, failures, utcnow(), getattr(exc, "retry_at", None))
        return self._settle(step, outcome, err, TargetStatus.UNKNOWN, next_attempt_at=when, result="unknown")

    def _unconfirmed(self, step: Step, exc: PlatformError | None, why: str, *,
                     outcome: str = AttemptOutcome.PERMANENT) -> str:
        """The outcome of an earlier publish stays unknown and the platform
        cannot tell us: the target ends ``unconfirmed`` (never ``failed``:
        the post may be live, and a user reposting a "failed" post would make
        a duplicate), with a link to where a person can look."""
        cls = self.rt.plugins.connector_classes.get(step.platform)
        label = (cls.display_name or cls.name) if cls else step.platform
        profile = self._profile_url(step)
        message = (f"May have been published: the earlier attempt may have reached {label}, and the {label} "
                   f"connector {why}. Check {profile or f'the {label} account'} before posting it again.")
        error = exc.to_dict() if exc is not None else {"kind": "permanent", "message": f"the connector {why}"}
        return self._settle(step, outcome, error, TargetStatus.UNCONFIRMED,
                            last_error={"kind": "unconfirmed", "message": message, "profile_url": profile},
                            result="unconfirmed")

    def _profile_url(self, step: Step) -> str | None:
        try:
            return self.rt.plugins.connector(step.platform).profile_url(step.account)
        except Exception:  # a link is a courtesy: never let it stop the outcome being recorded
            log.exception("target %s: the %s connector could not give a profile URL", step.target_id,
                          step.platform)
            return None

    def _auth(self, step: Step, exc: AuthError) -> Step | str:
        if self._refreshed:
            return self._reconnect(step, exc)
        self._refreshed = True
        try:
            outcome = refresh_account(self.rt, step.account_id, seen=step.creds_cipher)
        except TransientError as rexc:
            # the platform refused the token but we cannot refresh right now:
            # not sent; try later, and never disconnect on a transient error
            failures = step.publish_failures + (1 if step.kind == PUBLISH else 0)
            when = next_retry_at(self.settings, max(1, failures), utcnow(), rexc.retry_at)
            back = TargetStatus.SCHEDULED if step.kind == PUBLISH else TargetStatus.UNKNOWN
            return self._settle(step, AttemptOutcome.AUTH, exc.to_dict(), back, next_attempt_at=when,
                                last_error={"kind": rexc.kind,
                                            "message": f"token refresh failed for now: {rexc.message}"},
                                result="retry")
        if outcome == RefreshOutcome.FAILED:
            return self._held(step, exc)
        return self._continue(step, AttemptOutcome.AUTH, exc.to_dict(), step.kind)

    def _held(self, step: Step, exc: AuthError) -> str:
        """The account needs reconnecting (already flagged): hold this target too."""
        with self.rt.db.engine.connect() as c:
            reason = c.scalar(select(_A.c.status_reason).where(_A.c.id == step.account_id))
        msg = reason or "The account needs reconnecting before it can publish."
        back = TargetStatus.HELD
        return self._settle(step, AttemptOutcome.AUTH, exc.to_dict(), back,
                            last_error={**exc.to_dict(), "message": msg}, result="held")

    def _reconnect(self, step: Step, exc: AuthError) -> str:
        """Refused again right after a refresh: the account needs reconnecting."""
        def fn(s: Session) -> None:
            acct = s.get(SocialAccount, step.account_id)
            assert acct is not None
            cls = self.rt.plugins.connector_classes.get(acct.platform)
            label = (cls.display_name or cls.name) if cls else acct.platform
            mark_needs_reconnect(s, acct, reconnect_message(label, acct, exc.message))

        self._write(fn, orm=True)
        return self._held(step, exc)


def claim(runtime: Any, target_ids: Sequence[int], *, worker: str | None = None) -> dict[int, Step | str]:
    """Claim a job's targets in one transaction (committed before any call):
    each a :class:`Step` to run with :meth:`PublishJob.run_claimed`, or what
    happened to it instead. The lease covers them all: a job starts no target
    after :data:`~.dispatcher.HANDOVER_SECONDS` (:func:`release` gives the
    rest back), far less than a lease."""
    ids = list(dict.fromkeys(int(t) for t in target_ids))
    if not ids:
        return {}
    job = PublishJob(runtime, ids[0], worker=worker)
    return job._write(lambda s: job._claim_many(s, ids))


def release(s: Connection, steps: Sequence[Step], now: datetime, *, reason: str) -> list[Step]:
    """Give back claimed targets whose platform call never started: queued
    again, their attempt rows and numbers returned. Returns those still held
    (a lease that ran out meanwhile leaves a target to the reconciler)."""
    back, events = [], []
    for step in steps:
        res = s.execute(update(_T).where(
            (_T.c.id == step.target_id) & (_T.c.status == TargetStatus.PUBLISHING) & (_T.c.attempts == step.number)
        ).values(status=TargetStatus.QUEUED, attempts=step.number - 1, lease_expires_at=None, updated_at=now))
        if res.rowcount:
            s.execute(delete(_PA).where(_PA.c.target_id == step.target_id, _PA.c.number == step.number))
            events.append(target_event_row(target_id=step.target_id, workspace_id=step.workspace_id,
                                           post_id=step.post_id, frm=TargetStatus.PUBLISHING,
                                           to=TargetStatus.QUEUED, reason=reason))
            back.append(step)
    insert_audit_rows(s, events)
    return back


def publish(runtime: Any, target_id: int, *, worker: str | None = None) -> str:
    """Run the publish job for one target; returns ``published``, ``retry``,
    ``unknown``, ``unconfirmed``, ``held``, ``failed``, ``skipped``, ``lost`` or ``duplicate``."""
    try:
        return PublishJob(runtime, target_id, worker=worker).run()
    except ClientNestError:
        log.exception("target %s: publish job failed", target_id)
        raise
