"""Inbox after intake: sentiment, the workspace's reply policy, and replies.

Sentiment (:func:`process_workspace`, the ``score_comments`` job): the
workspace's unscored comments are claimed in batches (a conditional UPDATE
of ``ai_next_at``, the AI work's lease, with ``SKIP LOCKED`` on PostgreSQL,
so two jobs never score one comment twice) and each batch is scored with ONE
call of the AI service (:func:`clientnest.services.ai.score_sentiment`,
which meters it against the workspace's budget). If the budget is spent the
comments stay unscored and wait ``ai_budget_retry_seconds``; nothing fails.

The reply policy (``Workspace.reply_mode``) then decides, per scored comment:

* ``off``: nothing;
* ``draft``: an AI-drafted reply in the brand voice, within the reply rules,
  waits for a human (``reply_status`` ``drafted``);
* ``auto_positive``: the same, except that a positive comment that does not
  need a human, whose draft breaks no rule, is sent at once. A comment that
  needs a human is never answered automatically.

Sending (:func:`send_reply`, the ``send_reply`` job) happens exactly once:
``sending`` is committed before the platform is called; a "not sent" answer
is retried later, an ambiguous one (or a worker that died mid-call) becomes
``unknown`` and is shown to a human instead of being sent again.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.orm import Session

from .. import audit
from ..connector import Capability
from ..db import UTCDateTime, utcnow
from ..errors import (
    AIBudgetExceeded,
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
    InboxComment,
    Post,
    PostTarget,
    ReplyMode,
    ReplyStatus,
    SocialAccount,
    User,
    Workspace,
)
from ..queue import DEFAULT_QUEUE, JobSpec, get_queue
from .accounts import to_connector_account

__all__ = [
    "SEND_JOB",
    "SCORE_JOB",
    "BUSY",
    "ReplyError",
    "ProcessStats",
    "reply_job_id",
    "score_job_id",
    "enqueue_send",
    "enqueue_scoring",
    "claim_ai_batch",
    "process_workspace",
    "draft_for",
    "request_reply",
    "send_reply",
    "set_reply_mode",
    "list_comments",
    "get_comment",
]

log = logging.getLogger(__name__)

SEND_JOB = "clientnest.followups.jobs.send_reply"
SCORE_JOB = "clientnest.followups.jobs.score_comments"

#: a reply in one of these is on its way or done: no new draft, no second send
BUSY = frozenset({ReplyStatus.SCHEDULED, ReplyStatus.QUEUED, ReplyStatus.SENDING, ReplyStatus.SENT})
#: how long one AI job may hold a comment before another may take it
AI_LEASE = timedelta(minutes=10)
#: the longest reply text accepted from a user (platforms cut far lower)
MAX_REPLY = 10_000


class ReplyError(ClientNestError):
    """A reply request that cannot be done; ``status`` is the HTTP status."""

    def __init__(self, message: str, *, status: int = 409, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.field = field


def reply_job_id(comment_id: int, attempts: int) -> str:
    """The send job of a reply's next attempt (the same id however often enqueued)."""
    return f"reply-{comment_id}-{attempts}"


def score_job_id(workspace_id: int) -> str:
    return f"score-comments-{workspace_id}"


def enqueue_send(rt: Any, items: Sequence[tuple[int, int]]) -> None:
    """Enqueue send jobs for ``(comment id, reply_attempts)``; call after the
    commit that made them ``queued``. A lost enqueue is redone by the sweep."""
    if not items:
        return
    specs = [JobSpec(SEND_JOB, (cid,), reply_job_id(cid, n), DEFAULT_QUEUE,
                     timeout=rt.settings.publish_lease_seconds * 2 + 30) for cid, n in items]
    try:
        get_queue(rt).enqueue_many(specs)
    except Exception:
        log.exception("could not enqueue %d reply job(s); the sweep will", len(specs))


def enqueue_scoring(rt: Any, workspace_ids: Sequence[int], queue: Any = None) -> int:
    """Enqueue the AI job of each workspace that has none waiting or running."""
    if not workspace_ids:
        return 0
    q = queue or get_queue(rt)
    specs = {score_job_id(w): JobSpec(SCORE_JOB, (w,), score_job_id(w), DEFAULT_QUEUE, timeout=900)
             for w in dict.fromkeys(workspace_ids)}
    todo = [specs[j] for j in q.missing(specs)]
    if todo:
        try:
            q.enqueue_many(todo)
        except Exception:
            log.exception("could not enqueue %d scoring job(s); the sweep will", len(todo))
            return 0
    return len(todo)


# -- the AI work: claim, score, draft -------------------------------------------------

_NEEDS_AI = "(sentiment_label IS NULL OR reply_status = 'pending') AND (ai_next_at IS NULL OR ai_next_at <= :now)"

_PG_CLAIM_AI = text(f"""
WITH batch AS MATERIALIZED (
    SELECT id FROM inbox_comments
    WHERE workspace_id = :wid AND {_NEEDS_AI}
    ORDER BY id
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
)
UPDATE inbox_comments AS c SET ai_next_at = :lease
FROM batch WHERE c.id = batch.id
RETURNING c.id
""").bindparams(bindparam("now", type_=UTCDateTime()), bindparam("lease", type_=UTCDateTime()))

_SQLITE_CLAIM_AI = text(f"""
UPDATE inbox_comments SET ai_next_at = :lease
WHERE workspace_id = :wid AND {_NEEDS_AI} AND id IN (
    SELECT id FROM inbox_comments WHERE workspace_id = :wid AND {_NEEDS_AI} ORDER BY id LIMIT :limit
)
RETURNING id
""").bindparams(bindparam("now", type_=UTCDateTime()), bindparam("lease", type_=UTCDateTime()))


def claim_ai_batch(rt: Any, workspace_id: int, now: datetime, limit: int) -> list[int]:
    """Atomically take up to ``limit`` comments needing AI work (unscored, or
    waiting for a draft); committed. Only one job ever gets a given comment
    until its lease (:data:`AI_LEASE`) runs out."""
    stmt = _PG_CLAIM_AI if rt.db.dialect == "postgresql" else _SQLITE_CLAIM_AI
    with rt.db.transaction() as s:
        rows = s.execute(stmt, {"wid": workspace_id, "now": now, "lease": now + AI_LEASE, "limit": limit}).all()
    return sorted(r[0] for r in rows)


@dataclass
class ProcessStats:
    """What one run of the AI job did."""

    scored: int = 0
    ai_calls: int = 0
    drafted: int = 0
    auto_sent: int = 0
    postponed: int = 0
    budget_exhausted: bool = False
    errors: list[str] = field(default_factory=list)


def _postpone(rt: Any, ids: Sequence[int], until: datetime) -> None:
    if ids:
        with rt.db.transaction() as s:
            s.execute(update(InboxComment).where(InboxComment.id.in_(list(ids)))
                      .values(ai_next_at=until).execution_options(synchronize_session=False))


def _retry_after_error(rt: Any) -> timedelta:
    return timedelta(seconds=max(60.0, min(rt.settings.retry_max_seconds, rt.settings.retry_base_seconds * 4)))


def _post_text(s: Session, comment: InboxComment) -> str:
    if comment.target_id is None:
        return ""
    row = s.execute(select(PostTarget.text_override, Post.text).join(Post, Post.id == PostTarget.post_id)
                    .where(PostTarget.id == comment.target_id)).first()
    if row is None:
        return ""
    return row[0] if row[0] is not None else (row[1] or "")


def _can_reply(rt: Any, platform: str) -> bool:
    cls = rt.plugins.connector_classes.get(platform)
    return cls is not None and Capability.REPLY in cls.capabilities


def _score(rt: Any, ws: Workspace, ids: list[int], stats: ProcessStats, now: datetime) -> bool:
    """Score the unscored comments among ``ids`` with one AI call. Returns
    ``False`` when the AI could not be used (the comments are postponed)."""
    from . import ai

    with rt.db.session() as s:
        todo = s.scalars(select(InboxComment).where(InboxComment.id.in_(ids), InboxComment.sentiment_label.is_(None))
                         .order_by(InboxComment.id)).all()
        if not todo:
            return True
        texts = [c.text or "" for c in todo]
        todo_ids = [c.id for c in todo]
        try:
            stats.ai_calls += 1
            outcome = ai.score_sentiment(s, rt, ws, texts=texts)
        except AIBudgetExceeded as exc:
            stats.budget_exhausted = True
            stats.postponed += len(ids)
            log.info("workspace %s: AI budget spent (%s); %d comment(s) stay unscored for now",
                     ws.id, exc, len(todo_ids))
            _postpone(rt, ids, now + timedelta(seconds=rt.settings.ai_budget_retry_seconds))
            return False
        except (PlatformError, ClientNestError) as exc:
            stats.errors.append(str(exc))
            stats.postponed += len(ids)
            log.warning("workspace %s: sentiment scoring failed for now: %s", ws.id, exc)
            _postpone(rt, ids, now + _retry_after_error(rt))
            return False
    mode = ws.reply_mode or ReplyMode.DRAFT
    with rt.db.transaction() as s:
        for cid, sentiment in zip(todo_ids, outcome.value, strict=True):
            values: dict[str, Any] = {
                "sentiment_label": str(sentiment.label)[:16],
                "sentiment_score": float(sentiment.score),
                "needs_human": bool(sentiment.needs_human),
                "sentiment_reasons": list(sentiment.reasons or []),
                "scored_at": now,
            }
            s.execute(update(InboxComment).where(InboxComment.id == cid, InboxComment.sentiment_label.is_(None))
                      .values(**values).execution_options(synchronize_session=False))
            if mode != ReplyMode.OFF:
                # the policy wants a reply: a draft first (a human's own reply wins)
                s.execute(update(InboxComment).where(InboxComment.id == cid, InboxComment.reply_status.is_(None))
                          .values(reply_status=ReplyStatus.PENDING).execution_options(synchronize_session=False))
        audit.record(s, "inbox.comments_scored", "workspace", ws.id, workspace_id=ws.id, actor="worker",
                     data={"count": len(todo_ids), "provider": outcome.provider, "cached": outcome.cached})
    stats.scored += len(todo_ids)
    return True


def _auto_send_ok(rt: Any, c: InboxComment, mode: str, violations: Sequence[str], reply: str) -> bool:
    """The auto_positive rule, in one place."""
    return (
        mode == ReplyMode.AUTO_POSITIVE
        and c.sentiment_label == "positive"
        and c.needs_human is False      # never a comment that needs a human
        and not violations               # never a draft that breaks a brand rule
        and bool(reply.strip())
        and _can_reply(rt, c.platform)
    )


def _draft_pending(rt: Any, ws: Workspace, ids: list[int], stats: ProcessStats, now: datetime) -> list[tuple[int, int]]:
    """Draft (or, under auto_positive, queue) the replies the policy wants.
    Returns the ``(comment id, attempts)`` to send once committed."""
    from . import ai
    from .platforms import PlatformUnavailable

    to_send: list[tuple[int, int]] = []
    mode = ws.reply_mode or ReplyMode.DRAFT
    with rt.db.session() as s:
        pending = s.scalars(select(InboxComment).where(InboxComment.id.in_(ids),
                                                       InboxComment.reply_status == ReplyStatus.PENDING,
                                                       InboxComment.sentiment_label.is_not(None))
                            .order_by(InboxComment.id)).all()
        jobs = [(c, _post_text(s, c)) for c in pending]
    if mode == ReplyMode.OFF:
        with rt.db.transaction() as s:  # the policy was switched off meanwhile
            s.execute(update(InboxComment).where(InboxComment.id.in_([c.id for c, _ in jobs]),
                                                 InboxComment.reply_status == ReplyStatus.PENDING)
                      .values(reply_status=None).execution_options(synchronize_session=False))
        return to_send
    for i, (c, post_text) in enumerate(jobs):
        with rt.db.session() as ai_s:
            try:
                try:
                    outcome = ai.draft_reply(ai_s, rt, ws, comment=c.text or "", post_text=post_text,
                                             platform=c.platform)
                except PlatformUnavailable:
                    # the platform was switched off for the workspace: draft without its limits
                    outcome = ai.draft_reply(ai_s, rt, ws, comment=c.text or "", post_text=post_text)
                stats.ai_calls += 1
            except AIBudgetExceeded:
                stats.budget_exhausted = True
                rest = [x.id for x, _ in jobs[i:]]
                stats.postponed += len(rest)
                _postpone(rt, rest, now + timedelta(seconds=rt.settings.ai_budget_retry_seconds))
                log.info("workspace %s: AI budget spent; %d reply draft(s) wait", ws.id, len(rest))
                return to_send
            except (PlatformError, ClientNestError) as exc:
                stats.errors.append(str(exc))
                rest = [x.id for x, _ in jobs[i:]]
                stats.postponed += len(rest)
                _postpone(rt, rest, now + _retry_after_error(rt))
                log.warning("workspace %s: drafting replies failed for now: %s", ws.id, exc)
                return to_send
        value = outcome.value if isinstance(outcome.value, dict) else {"text": str(outcome.value), "violations": []}
        reply = str(value.get("text") or "")
        violations = [str(v) for v in value.get("violations") or []]
        if not reply.strip():
            violations = [*violations, "the AI could not write a reply within the rules; write one by hand"]
        auto = _auto_send_ok(rt, c, mode, violations, reply)
        with rt.db.transaction() as s:
            values: dict[str, Any] = {"reply_text": reply, "reply_violations": violations, "ai_next_at": None,
                                      "reply_error": None}
            if auto:
                values.update(reply_status=ReplyStatus.QUEUED, reply_queued_at=now, reply_requested_by=None)
            else:
                values.update(reply_status=ReplyStatus.DRAFTED)
            row = s.execute(update(InboxComment)
                            .where(InboxComment.id == c.id, InboxComment.reply_status == ReplyStatus.PENDING)
                            .values(**values).returning(InboxComment.reply_attempts)
                            .execution_options(synchronize_session=False)).first()
            if row is None:
                continue  # a human acted on it meanwhile: theirs wins
            audit.record(s, "inbox.reply_queued" if auto else "inbox.reply_drafted", "inbox_comment", c.id,
                         workspace_id=ws.id, actor="worker",
                         data={"policy": str(mode), "sentiment": c.sentiment_label, "automatic": auto,
                               "violations": len(violations)})
        stats.drafted += 1
        if auto:
            stats.auto_sent += 1
            to_send.append((c.id, row[0]))
    return to_send


def process_workspace(rt: Any, workspace_id: int, *, now: datetime | None = None, max_batches: int = 20) -> ProcessStats:
    """Score the workspace's new comments in batches and apply its reply
    policy; the body of the ``score_comments`` job."""
    stats = ProcessStats()
    batch = max(1, rt.settings.sentiment_batch_size)
    for _ in range(max_batches):
        when = now or utcnow()
        with rt.db.session() as s:
            ws = s.get(Workspace, workspace_id)
        if ws is None:
            return stats
        ids = claim_ai_batch(rt, workspace_id, when, batch)
        if not ids:
            break
        if not _score(rt, ws, ids, stats, when):
            break
        to_send = _draft_pending(rt, ws, ids, stats, when)
        # release what this run is done with (postponed rows keep their later time)
        with rt.db.transaction() as s:
            s.execute(update(InboxComment)
                      .where(InboxComment.id.in_(ids), InboxComment.ai_next_at == when + AI_LEASE)
                      .values(ai_next_at=None).execution_options(synchronize_session=False))
        enqueue_send(rt, to_send)
        if stats.budget_exhausted or stats.errors or len(ids) < batch:
            break
    return stats


# -- reading the inbox ---------------------------------------------------------------------------

def list_comments(
    session: Session,
    workspace_id: int,
    *,
    account_id: int | None = None,
    target_id: int | None = None,
    post_id: int | None = None,
    sentiment: str | None = None,
    needs_human: bool | None = None,
    reply_status: str | None = None,
    before_id: int | None = None,
    limit: int = 20,
) -> tuple[list[tuple[InboxComment, int | None]], int | None]:
    """A page of the workspace's comments, newest first, each with its post id.
    Returns the page and the cursor of the next one (``None`` on the last).

    ``sentiment`` is a label or ``unscored``; ``reply_status`` a status or ``none``.
    """
    q = (select(InboxComment, PostTarget.post_id)
         .outerjoin(PostTarget, PostTarget.id == InboxComment.target_id)
         .where(InboxComment.workspace_id == workspace_id))
    if account_id is not None:
        q = q.where(InboxComment.account_id == account_id)
    if target_id is not None:
        q = q.where(InboxComment.target_id == target_id)
    if post_id is not None:
        q = q.where(PostTarget.post_id == post_id)
    if sentiment == "unscored":
        q = q.where(InboxComment.sentiment_label.is_(None))
    elif sentiment is not None:
        q = q.where(InboxComment.sentiment_label == sentiment)
    if needs_human is not None:
        q = q.where(InboxComment.needs_human.is_(needs_human))
    if reply_status == "none":
        q = q.where(InboxComment.reply_status.is_(None))
    elif reply_status is not None:
        q = q.where(InboxComment.reply_status == reply_status)
    if before_id is not None:
        q = q.where(InboxComment.id < before_id)
    rows = session.execute(q.order_by(InboxComment.id.desc()).limit(limit + 1)).all()
    page = [(c, pid) for c, pid in rows[:limit]]
    return page, (page[-1][0].id if len(rows) > limit else None)


def get_comment(session: Session, workspace_id: int, comment_id: int) -> tuple[InboxComment, int | None]:
    """One comment of the workspace and its post id. :raises ReplyError: 404."""
    c = _comment(session, workspace_id, comment_id)
    post_id = session.scalar(select(PostTarget.post_id).where(PostTarget.id == c.target_id)) if c.target_id else None
    return c, post_id


# -- the API's side: a draft on demand, a reply to send ---------------------------------------

def _comment(session: Session, workspace_id: int, comment_id: int) -> InboxComment:
    c = session.get(InboxComment, comment_id)
    if c is None or c.workspace_id != workspace_id:
        raise ReplyError(f"comment {comment_id} not found", status=404)
    return c


def draft_for(session: Session, rt: Any, ws: Workspace, comment_id: int, user: User) -> InboxComment:
    """(Re)draft the reply to a comment with the AI, now; commits.

    :raises ReplyError: 404, or 409 when the reply is on its way, sent or unknown.
    :raises AIBudgetExceeded: and the AI service's provider errors, unchanged.
    """
    from . import ai
    from .platforms import PlatformUnavailable

    c = _comment(session, ws.id, comment_id)
    if c.reply_status in BUSY or c.reply_status == ReplyStatus.UNKNOWN:
        raise ReplyError(_busy_message(c), status=409)
    post_text = _post_text(session, c)
    comment_text, platform, cid = c.text or "", c.platform, c.id
    with rt.db.session() as ai_s:  # the AI service commits its metering on its own session
        try:
            outcome = ai.draft_reply(ai_s, rt, ws, comment=comment_text, post_text=post_text, platform=platform)
        except PlatformUnavailable:
            outcome = ai.draft_reply(ai_s, rt, ws, comment=comment_text, post_text=post_text)
    value = outcome.value if isinstance(outcome.value, dict) else {"text": str(outcome.value), "violations": []}
    reply = str(value.get("text") or "")
    violations = [str(v) for v in value.get("violations") or []]
    if not reply.strip():
        violations.append("the AI could not write a reply within the rules; write one by hand")
    busy = [str(s) for s in BUSY] + [ReplyStatus.UNKNOWN.value]
    res = session.execute(
        update(InboxComment)
        .where(InboxComment.id == cid,
               InboxComment.reply_status.is_(None) | InboxComment.reply_status.not_in(busy))
        .values(reply_text=reply, reply_violations=violations, reply_status=ReplyStatus.DRAFTED,
                reply_error=None, ai_next_at=None)
        .execution_options(synchronize_session=False))
    if res.rowcount != 1:
        session.rollback()
        session.refresh(c)
        raise ReplyError(_busy_message(c), status=409)
    audit.record(session, "inbox.reply_drafted", "inbox_comment", cid, workspace_id=ws.id, user_id=user.id,
                 data={"provider": outcome.provider, "violations": len(violations)})
    session.commit()
    session.refresh(c)
    return c


def _busy_message(c: InboxComment) -> str:
    status = c.reply_status
    if status == ReplyStatus.SENT:
        return f"comment {c.id} was already replied to"
    if status == ReplyStatus.UNKNOWN:
        return (f"the last reply to comment {c.id} may or may not have reached {c.platform}; check the platform, "
                "then send again with resend: true if it is not there")
    return f"a reply to comment {c.id} is already {status}"


def request_reply(
    session: Session, rt: Any, ws: Workspace, comment_id: int, user: User, *,
    text: str | None = None, resend: bool = False,
) -> InboxComment:
    """Queue the reply to a comment (the given text, else the draft); commits,
    then enqueues the send job.

    :raises ReplyError: 404; 409 when already sent, on its way, or unknown
        without ``resend``, or when the account needs reconnecting; 422 (naming
        the field) for a missing or too long text, or a platform that cannot reply.
    """
    from .platforms import platform_rules

    c = _comment(session, ws.id, comment_id)
    if c.reply_status in BUSY or (c.reply_status == ReplyStatus.UNKNOWN and not resend):
        raise ReplyError(_busy_message(c), status=409)
    if not _can_reply(rt, c.platform):
        raise ReplyError(f"{c.platform} comments cannot be replied to from ClientNest (the connector cannot reply)",
                         status=422, field="comment")
    account = session.get(SocialAccount, c.account_id)
    if account is None or account.status != AccountStatus.CONNECTED:
        raise ReplyError("the account of this comment needs reconnecting before it can reply", status=409)
    if text is None:
        # the draft, or the text of a failed or unknown attempt sent again
        reusable = (ReplyStatus.DRAFTED, ReplyStatus.FAILED, ReplyStatus.UNKNOWN)
        if c.reply_status not in reusable or not (c.reply_text or "").strip():
            raise ReplyError("no drafted reply to send: give text, or draft one first "
                             f"(POST /api/v1/workspaces/{ws.id}/comments/{c.id}/draft)", status=422, field="text")
        text = c.reply_text or ""
    text = text.strip()
    if not text:
        raise ReplyError("must not be empty", status=422, field="text")
    limit = platform_rules(rt.plugins, c.platform).max_length or MAX_REPLY
    if len(text) > min(limit, MAX_REPLY):
        raise ReplyError(f"{len(text)} characters; {c.platform} allows {min(limit, MAX_REPLY)}",
                         status=422, field="text")
    now = utcnow()
    allowed = [None, ReplyStatus.PENDING.value, ReplyStatus.DRAFTED.value, ReplyStatus.FAILED.value]
    if resend:
        allowed.append(ReplyStatus.UNKNOWN.value)
    cond = InboxComment.reply_status.is_(None) | InboxComment.reply_status.in_([a for a in allowed if a])
    row = session.execute(
        update(InboxComment).where(InboxComment.id == c.id, cond)
        .values(reply_text=text, reply_status=ReplyStatus.QUEUED, reply_queued_at=now, reply_due_at=None,
                reply_requested_by=user.id, reply_error=None, ai_next_at=None)
        .returning(InboxComment.reply_attempts).execution_options(synchronize_session=False)
    ).first()
    if row is None:  # another request won the race
        session.rollback()
        session.refresh(c)
        raise ReplyError(_busy_message(c), status=409)
    audit.record(session, "inbox.reply_queued", "inbox_comment", c.id, workspace_id=ws.id, user_id=user.id,
                 data={"resend": bool(resend), "edited": text != (c.reply_text or "")})
    session.commit()
    enqueue_send(rt, [(c.id, row[0])])
    session.refresh(c)
    return c


def set_reply_mode(session: Session, ws: Workspace, user: User, mode: str) -> Workspace:
    """Change the workspace's reply policy; commits."""
    mode = ReplyMode(mode)
    if ws.reply_mode != mode:
        old = ws.reply_mode
        ws.reply_mode = mode
        audit.record(session, "workspace.reply_mode_changed", "workspace", ws.id, workspace_id=ws.id,
                     user_id=user.id, data={"from": old, "to": str(mode)})
        session.commit()
    return ws


# -- sending ---------------------------------------------------------------------------------

@dataclass
class _Send:
    comment_id: int
    workspace_id: int
    account_id: int
    platform: str
    external_id: str
    text: str
    attempt: int
    account: Any
    creds_cipher: str


def _claim_send(rt: Any, comment_id: int) -> _Send | str:
    """``queued -> sending``, committed before anything is sent (exactly once)."""
    now = utcnow()
    with rt.db.transaction() as s:
        row = s.execute(
            update(InboxComment)
            .where(InboxComment.id == comment_id, InboxComment.reply_status == ReplyStatus.QUEUED)
            .values(reply_status=ReplyStatus.SENDING, reply_attempted_at=now,
                    reply_attempts=InboxComment.reply_attempts + 1)
            .returning(InboxComment.reply_attempts)
            .execution_options(synchronize_session=False)
        ).first()
        if row is None:
            return "skipped"
        c = s.get(InboxComment, comment_id)
        acct = s.get(SocialAccount, c.account_id) if c is not None else None
        assert c is not None
        audit.record(s, "inbox.reply_sending", "inbox_comment", c.id, workspace_id=c.workspace_id, actor="worker",
                     data={"attempt": row[0]})
        if acct is None or acct.status != AccountStatus.CONNECTED:
            _settle_in(s, c.id, row[0], ReplyStatus.FAILED, c.workspace_id,
                       error={"kind": "auth", "message": (acct.status_reason if acct is not None else None)
                              or "the account needs reconnecting before it can reply"})
            return "failed"
        return _Send(comment_id=c.id, workspace_id=c.workspace_id, account_id=acct.id, platform=acct.platform,
                     external_id=c.external_id, text=c.reply_text or "", attempt=row[0],
                     account=to_connector_account(rt.vault, acct), creds_cipher=acct.credentials_encrypted)


def _settle_in(s: Session, comment_id: int, attempt: int, status: str, workspace_id: int, *,
               error: dict[str, Any] | None = None, **values: Any) -> bool:
    # a success that arrives after the lease ran out still settles the
    # "unknown" the sweep left: now it is known
    held = [ReplyStatus.SENDING.value] + ([ReplyStatus.UNKNOWN.value] if status == ReplyStatus.SENT else [])
    res = s.execute(
        update(InboxComment)
        .where(InboxComment.id == comment_id, InboxComment.reply_status.in_(held),
               InboxComment.reply_attempts == attempt)
        .values(reply_status=status, reply_error=error, **values)
        .execution_options(synchronize_session=False))
    if res.rowcount != 1:
        return False
    data: dict[str, Any] = {"attempt": attempt}
    if error:
        data["error"] = error.get("kind")
    audit.record(s, f"inbox.reply_{status}", "inbox_comment", comment_id, workspace_id=workspace_id,
                 actor="worker", data=data)
    return True


def _settle(rt: Any, job: _Send, status: str, *, error: dict[str, Any] | None = None, **values: Any) -> str:
    with rt.db.transaction() as s:
        ok = _settle_in(s, job.comment_id, job.attempt, status, job.workspace_id, error=error, **values)
    return str(status) if ok else "lost"


def _not_sent(rt: Any, job: _Send, exc: TransientError) -> str:
    from ..engine.retry import next_retry_at

    if job.attempt >= rt.settings.max_publish_attempts:
        err = {**exc.to_dict(), "message": f"gave up after {job.attempt} attempts: {exc.message}"}
        return _settle(rt, job, ReplyStatus.FAILED, error=err)
    when = next_retry_at(rt.settings, job.attempt, utcnow(), exc.retry_at)
    return _settle(rt, job, ReplyStatus.SCHEDULED, error=exc.to_dict(), reply_due_at=when)


def send_reply(rt: Any, comment_id: int) -> str:
    """Send a queued reply, exactly once; the body of the ``send_reply`` job.

    Returns ``sent``, ``scheduled`` (not sent; retried at ``reply_due_at``),
    ``failed``, ``unknown``, ``skipped`` (not queued) or ``lost``.
    """
    from ..engine.refresh import RefreshOutcome, mark_needs_reconnect, reconnect_message, refresh_account

    job = _claim_send(rt, comment_id)
    if isinstance(job, str):
        return job
    refreshed = False
    while True:
        try:
            try:
                connector = rt.plugins.connector(job.platform)
            except ConfigError as exc:
                raise NotSentError(str(exc), platform=job.platform) from None
            if Capability.REPLY not in connector.capabilities:
                raise PermanentError(f"the {job.platform} connector cannot reply to comments", platform=job.platform)
            result = rt.plugins.hook.clientnest_reply_to_comment(
                connector=connector, account=job.account, comment_external_id=job.external_id, text=job.text)
            if result is None:
                raise PermanentError("no plugin answered the reply call", platform=job.platform)
        except AuthError as exc:
            # a refused token means nothing was posted: refresh once and try again
            if refreshed:
                with rt.db.transaction() as s:
                    acct = s.get(SocialAccount, job.account_id)
                    if acct is not None:
                        cls = rt.plugins.connector_classes.get(acct.platform)
                        label = (cls.display_name or cls.name) if cls else acct.platform
                        mark_needs_reconnect(s, acct, reconnect_message(label, acct, exc.message))
                return _settle(rt, job, ReplyStatus.FAILED, error=exc.to_dict())
            refreshed = True
            try:
                outcome = refresh_account(rt, job.account_id, seen=job.creds_cipher)
            except TransientError as rexc:
                return _not_sent(rt, job, rexc)
            if outcome == RefreshOutcome.FAILED:
                return _settle(rt, job, ReplyStatus.FAILED, error={
                    **exc.to_dict(), "message": "the account needs reconnecting: " + exc.message})
            with rt.db.session() as s:
                acct = s.get(SocialAccount, job.account_id)
                if acct is None or acct.status != AccountStatus.CONNECTED:
                    return _settle(rt, job, ReplyStatus.FAILED, error=exc.to_dict())
                job.account = to_connector_account(rt.vault, acct)
                job.creds_cipher = acct.credentials_encrypted
            continue
        except NotSentError as exc:
            return _not_sent(rt, job, exc)
        except PermanentError as exc:
            return _settle(rt, job, ReplyStatus.FAILED, error=exc.to_dict())
        except NotImplementedError:
            return _settle(rt, job, ReplyStatus.FAILED, error={
                "kind": "permanent", "message": f"the {job.platform} connector cannot reply to comments"})
        except PlatformError as exc:  # ambiguous, or a class we do not know: it may be on the platform
            err = exc.to_dict()
            err["kind"] = AmbiguousError.kind
            return _settle(rt, job, ReplyStatus.UNKNOWN, error=err)
        except Exception as exc:  # a connector bug: it may have sent the request
            log.exception("comment %s: unexpected error from the %s connector", comment_id, job.platform)
            return _settle(rt, job, ReplyStatus.UNKNOWN, error={
                "kind": AmbiguousError.kind, "message": f"unexpected error in the connector: {type(exc).__name__}"})
        break
    return _settle(rt, job, ReplyStatus.SENT, reply_external_id=str(result.external_id)[:255], replied_at=utcnow())
