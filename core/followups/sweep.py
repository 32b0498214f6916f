"""The follow-up sweep: turns what the database says is due into jobs.

One call of :func:`sweep` (the dispatcher runs it every round):

1. claims due follow-ups of connected accounts (``pending`` with ``due_at``
   passed) and marks them ``queued``, atomically, exactly as the dispatcher
   claims targets: on PostgreSQL one ``UPDATE ... FROM (SELECT ... FOR UPDATE
   SKIP LOCKED)``, on SQLite one conditional ``UPDATE ... WHERE status =
   'pending' AND id IN (...) RETURNING``. Only the sweep whose statement
   changed a row gets it back, so two sweeps never enqueue one follow-up
   twice. The claim is committed, then the jobs are enqueued with
   deterministic ids (``followup-<id>-<runs>``);
2. enqueues again follow-ups queued longer than ``requeue_grace_seconds``
   whose job is gone (Redis lost it, or a crash between commit and enqueue);
3. replies: a reply left ``sending`` past the publish lease becomes
   ``unknown`` (never re-sent blindly); ``scheduled`` replies that are due are
   claimed (``queued``) and enqueued the same way; lost reply jobs are
   enqueued again;
4. enqueues the AI job (``score_comments``) of each workspace with comments
   waiting to be scored or drafted (webhooks store comments without
   enqueueing anything: this is what picks them up);
5. at most every ``backfill_seconds``: schedules the follow-ups of published
   targets that have none (published before follow-ups existed, or by a
   path that did not schedule them);
6. the daily collection of each account's own figures
   (:func:`clientnest.analytics.collect.sweep_collections`): claimed,
   enqueued and enqueued again the same way.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, text, update

from .. import audit
from ..analytics.collect import sweep_collections
from ..db import UTCDateTime, utcnow
from ..models import FollowUp, FollowUpKind, FollowUpStatus, InboxComment, ReplyStatus
from ..queue import DEFAULT_QUEUE, JobQueue, JobSpec, get_queue
from ..services.replies import enqueue_scoring, reply_job_id, SEND_JOB
from .schedule import schedule_followups_for, targets_missing_followups

__all__ = ["sweep", "SweepStats", "followup_job_id", "METRICS_JOB", "COMMENTS_JOB", "claim_due"]

log = logging.getLogger(__name__)

METRICS_JOB = "clientnest.followups.jobs.collect_metrics"
COMMENTS_JOB = "clientnest.followups.jobs.poll_comments"
_JOBS = {FollowUpKind.METRICS.value: METRICS_JOB, FollowUpKind.COMMENTS.value: COMMENTS_JOB}

#: how often the backfill of targets without follow-ups runs, seconds
BACKFILL_SECONDS = 60.0
_BACKFILL_KEY = "followups.last_backfill"

_PG_CLAIM = text("""
WITH due AS MATERIALIZED (
    SELECT f.id FROM followups f
    JOIN post_targets t ON t.id = f.target_id
    JOIN social_accounts a ON a.id = t.account_id
    WHERE f.status = 'pending' AND f.due_at <= :now AND a.status = 'connected'
    ORDER BY f.due_at
    LIMIT :limit
    FOR UPDATE OF f SKIP LOCKED
)
UPDATE followups AS u
SET status = 'queued', claimed_at = :now, runs = u.runs + 1
FROM due
WHERE u.id = due.id AND u.status = 'pending'
RETURNING u.id, u.kind, u.runs
""").bindparams(bindparam("now", type_=UTCDateTime()))

_SQLITE_CLAIM = text("""
UPDATE followups
SET status = 'queued', claimed_at = :now, runs = runs + 1
WHERE status = 'pending' AND id IN (
    SELECT f.id FROM followups f
    JOIN post_targets t ON t.id = f.target_id
    JOIN social_accounts a ON a.id = t.account_id
    WHERE f.status = 'pending' AND f.due_at <= :now AND a.status = 'connected'
    ORDER BY f.due_at
    LIMIT :limit
)
RETURNING id, kind, runs
""").bindparams(bindparam("now", type_=UTCDateTime()))

_PG_CLAIM_REPLIES = text("""
WITH due AS MATERIALIZED (
    SELECT id FROM inbox_comments
    WHERE reply_status = 'scheduled' AND reply_due_at <= :now
    ORDER BY reply_due_at
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
)
UPDATE inbox_comments AS c
SET reply_status = 'queued', reply_queued_at = :now, reply_due_at = NULL
FROM due
WHERE c.id = due.id AND c.reply_status = 'scheduled'
RETURNING c.id, c.reply_attempts
""").bindparams(bindparam("now", type_=UTCDateTime()))

_SQLITE_CLAIM_REPLIES = text("""
UPDATE inbox_comments
SET reply_status = 'queued', reply_queued_at = :now, reply_due_at = NULL
WHERE reply_status = 'scheduled' AND id IN (
    SELECT id FROM inbox_comments
    WHERE reply_status = 'scheduled' AND reply_due_at <= :now
    ORDER BY reply_due_at
    LIMIT :limit
)
RETURNING id, reply_attempts
""").bindparams(bindparam("now", type_=UTCDateTime()))


def followup_job_id(followup_id: int, runs: int) -> str:
    """The job of a follow-up's claim: the same id however often it is enqueued."""
    return f"followup-{followup_id}-{runs}"


@dataclass
class SweepStats:
    claimed: int = 0
    requeued: int = 0
    replies_expired: int = 0
    replies_claimed: int = 0
    replies_requeued: int = 0
    scoring_jobs: int = 0
    backfilled: int = 0
    account_collections: int = 0


def _spec(followup_id: int, kind: str, runs: int) -> JobSpec:
    return JobSpec(_JOBS[kind], (followup_id,), followup_job_id(followup_id, runs), DEFAULT_QUEUE, timeout=600)


def _reply_spec(rt: Any, comment_id: int, attempts: int) -> JobSpec:
    return JobSpec(SEND_JOB, (comment_id,), reply_job_id(comment_id, attempts), DEFAULT_QUEUE,
                   timeout=rt.settings.publish_lease_seconds * 2 + 30)


def _enqueue(queue: JobQueue, specs: list[JobSpec], what: str) -> None:
    if not specs:
        return
    try:
        queue.enqueue_many(specs)
    except Exception:
        # committed as queued: enqueued again after the grace period
        log.exception("could not enqueue %d %s job(s); they will be enqueued again", len(specs), what)


def claim_due(rt: Any, now: datetime, limit: int) -> list[tuple[int, str, int]]:
    """Atomically mark up to ``limit`` due follow-ups ``queued``; committed.
    Returns ``(id, kind, runs)`` of those this call claimed."""
    stmt = _PG_CLAIM if rt.db.dialect == "postgresql" else _SQLITE_CLAIM
    with rt.db.transaction() as s:
        rows = s.execute(stmt, {"now": now, "limit": limit}).all()
    return [(r[0], r[1], r[2]) for r in rows]


def _requeue_followups(rt: Any, queue: JobQueue, now: datetime, limit: int = 1000) -> int:
    cutoff = now - timedelta(seconds=rt.settings.requeue_grace_seconds)
    with rt.db.session() as s:
        rows = s.execute(
            select(FollowUp.id, FollowUp.kind, FollowUp.runs, FollowUp.claimed_at)
            .where(FollowUp.status == FollowUpStatus.QUEUED, FollowUp.claimed_at <= cutoff)
            .order_by(FollowUp.claimed_at).limit(limit)
        ).all()
    if not rows:
        return 0
    missing = queue.missing([followup_job_id(r.id, r.runs) for r in rows])
    lost = [r for r in rows if followup_job_id(r.id, r.runs) in missing]
    mine = []
    if lost:
        with rt.db.transaction() as s:
            for r in lost:
                # only the sweep that moves claimed_at enqueues again
                res = s.execute(update(FollowUp).where(
                    FollowUp.id == r.id, FollowUp.status == FollowUpStatus.QUEUED, FollowUp.runs == r.runs,
                    FollowUp.claimed_at == r.claimed_at).values(claimed_at=now)
                    .execution_options(synchronize_session=False))
                if res.rowcount == 1:
                    mine.append(r)
    if mine:
        log.warning("%d queued follow-up(s) had no job; enqueued again", len(mine))
        _enqueue(queue, [_spec(r.id, r.kind, r.runs) for r in mine], "follow-up")
    return len(mine)


def _expire_reply_leases(rt: Any, now: datetime) -> int:
    """A reply ``sending`` for longer than the lease: its worker died during
    the platform call, so nobody knows whether it went out."""
    cutoff = now - timedelta(seconds=rt.settings.publish_lease_seconds)
    with rt.db.transaction() as s:
        rows = s.execute(
            update(InboxComment)
            .where(InboxComment.reply_status == ReplyStatus.SENDING, InboxComment.reply_attempted_at <= cutoff)
            .values(reply_status=ReplyStatus.UNKNOWN, reply_error={
                "kind": "ambiguous",
                "message": "the worker sending this reply stopped before recording the outcome; "
                           "check the platform before sending it again"})
            .returning(InboxComment.id, InboxComment.workspace_id)
            .execution_options(synchronize_session=False)
        ).all()
        for cid, wid in rows:
            audit.record(s, "inbox.reply_unknown", "inbox_comment", cid, workspace_id=wid, actor="system",
                         data={"reason": "lease expired"})
    if rows:
        log.warning("%d reply(ies) outlived their lease; marked unknown", len(rows))
    return len(rows)


def _claim_replies(rt: Any, queue: JobQueue, now: datetime, limit: int) -> int:
    stmt = _PG_CLAIM_REPLIES if rt.db.dialect == "postgresql" else _SQLITE_CLAIM_REPLIES
    with rt.db.transaction() as s:
        rows = s.execute(stmt, {"now": now, "limit": limit}).all()
    _enqueue(queue, [_reply_spec(rt, r[0], r[1]) for r in rows], "reply")
    return len(rows)


def _requeue_replies(rt: Any, queue: JobQueue, now: datetime, limit: int = 1000) -> int:
    cutoff = now - timedelta(seconds=rt.settings.requeue_grace_seconds)
    with rt.db.session() as s:
        rows = s.execute(
            select(InboxComment.id, InboxComment.reply_attempts, InboxComment.reply_queued_at)
            .where(InboxComment.reply_status == ReplyStatus.QUEUED, InboxComment.reply_queued_at <= cutoff)
            .order_by(InboxComment.reply_queued_at).limit(limit)
        ).all()
    if not rows:
        return 0
    missing = queue.missing([reply_job_id(r.id, r.reply_attempts) for r in rows])
    lost = [r for r in rows if reply_job_id(r.id, r.reply_attempts) in missing]
    mine = []
    if lost:
        with rt.db.transaction() as s:
            for r in lost:
                res = s.execute(update(InboxComment).where(
                    InboxComment.id == r.id, InboxComment.reply_status == ReplyStatus.QUEUED,
                    InboxComment.reply_queued_at == r.reply_queued_at).values(reply_queued_at=now)
                    .execution_options(synchronize_session=False))
                if res.rowcount == 1:
                    mine.append(r)
    _enqueue(queue, [_reply_spec(rt, r.id, r.reply_attempts) for r in mine], "reply")
    return len(mine)


def _scoring(rt: Any, queue: JobQueue, now: datetime, limit: int = 500) -> int:
    due = (InboxComment.ai_next_at.is_(None)) | (InboxComment.ai_next_at <= now)
    with rt.db.session() as s:
        unscored = s.scalars(select(InboxComment.workspace_id).where(
            InboxComment.sentiment_label.is_(None), due).distinct().limit(limit)).all()
        pending = s.scalars(select(InboxComment.workspace_id).where(
            InboxComment.reply_status == ReplyStatus.PENDING, due).distinct().limit(limit)).all()
    return enqueue_scoring(rt, sorted(set(unscored) | set(pending)), queue=queue)


def _backfill(rt: Any, now: datetime) -> int:
    created = 0
    with rt.db.transaction() as s:
        for tid in targets_missing_followups(s, rt, now):
            created += schedule_followups_for(s, tid, runtime=rt, now=now)
    if created:
        log.info("scheduled %d follow-up(s) of published targets that had none", created)
    return created


def sweep(
    runtime: Any,
    now: datetime | None = None,
    *,
    queue: JobQueue | None = None,
    limit: int | None = None,
    backfill: bool | None = None,
) -> SweepStats:
    """One round of the follow-up sweep (see the module docstring).

    :param queue: where jobs go (default: :func:`clientnest.queue.get_queue`).
    :param limit: follow-ups (and replies) claimed per call (``dispatch_batch_size``).
    :param backfill: run the backfill now (``True``), never (``False``), or
        when it last ran more than :data:`BACKFILL_SECONDS` ago (``None``).
    """
    rt = runtime
    now = now or utcnow()
    queue = queue or get_queue(rt)
    limit = limit or rt.settings.dispatch_batch_size
    stats = SweepStats()
    mono = time.monotonic()
    if backfill or (backfill is None and mono - rt.extras.get(_BACKFILL_KEY, -1e9) >= BACKFILL_SECONDS):
        rt.extras[_BACKFILL_KEY] = mono
        stats.backfilled = _backfill(rt, now)
    claimed = claim_due(rt, now, limit)
    stats.claimed = len(claimed)
    _enqueue(queue, [_spec(i, k, r) for i, k, r in claimed], "follow-up")
    stats.requeued = _requeue_followups(rt, queue, now)
    stats.replies_expired = _expire_reply_leases(rt, now)
    stats.replies_claimed = _claim_replies(rt, queue, now, limit)
    stats.replies_requeued = _requeue_replies(rt, queue, now)
    stats.scoring_jobs = _scoring(rt, queue, now)
    # the daily collection of account figures rides on the same round
    stats.account_collections = sweep_collections(rt, queue, now, limit, backfill=backfill)
    return stats
