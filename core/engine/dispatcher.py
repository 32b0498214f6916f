"""The dispatcher: turns what the database says is due into jobs.

Each round (:meth:`Dispatcher.tick`):

1. expires leases: ``publishing`` past ``lease_expires_at`` -> ``unknown``
   (:func:`.reconcile.expire_leases`); with Redis, a target whose worker
   process stopped beating (:mod:`.liveness`: killed, crashed) goes to
   ``unknown`` within seconds instead of waiting out the lease
   (:meth:`Dispatcher.reap_dead_workers`), due ``reconcile_delay_seconds``
   after the worker's death like any ambiguous outcome;
2. claims due targets (``scheduled`` or ``unknown`` with ``next_attempt_at``
   passed) atomically and marks them ``queued``: on PostgreSQL one
   ``UPDATE ... FROM (SELECT ... FOR UPDATE SKIP LOCKED)``, on SQLite one
   conditional ``UPDATE ... WHERE status = ... AND id IN (...) RETURNING``
   (SQLite runs one writer at a time). Only the dispatcher whose statement
   changed a row gets it back, so several dispatchers never enqueue one target
   twice. The claimed targets are grouped into publish jobs of up to
   ``publish_job_targets`` (RQ's own work per job, a few Redis round trips,
   costs about as much CPU as publishing a post, so a job takes several);
   a small claim is spread over at least :data:`SPREAD` jobs so idle workers
   share it; jobs of ``unknown`` targets (late already) go to the front of
   the queue. Each target records its job's id (deterministic:
   ``publish-<first target>-<its attempts>[_plus<more targets>]``) in the same
   transaction as the claim, which is committed before the jobs are enqueued;
3. enqueues again targets queued for longer than ``requeue_grace_seconds``
   whose job is no longer in the queue (Redis lost its data, the process died
   between commit and enqueue), or whose job started more than a lease ago
   (its worker died mid-job: a live job hands over what it has not started
   after :data:`HANDOVER_SECONDS`). A conditional update of ``queued_at``
   decides which dispatcher does it. When the queue says it lost its data
   (:meth:`~clientnest.queue.JobQueue.lost_data`: Redis flushed or restarted
   empty) this runs at once without the grace period: every queued target
   whose job is gone is enqueued again in the same round;
4. enqueues token refreshes for accounts whose token expires within
   ``refresh_ahead_seconds``.

Run it with :meth:`Dispatcher.run` (``clientnest scheduler``, or a thread of
the app in the embedded mode).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import bindparam, func, select, text, tuple_, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from ..connector import Capability
from ..db import UTCDateTime, utcnow
from ..followups import sweep as sweep_followups
from ..models import AccountStatus, AttemptOutcome, PostTarget, PublishAttempt, SocialAccount, TargetStatus
from ..queue import DEFAULT_QUEUE, PUBLISH_QUEUE, JobQueue, JobSpec, get_queue, redis_connection
from .liveness import ALIVE_TTL, BEAT_SECONDS, dead_processes, holder_process
from .reconcile import abandon_attempts, expire_leases
from .state import insert_audit_rows, refresh_post_statuses, target_event_rows

__all__ = [
    "Dispatcher", "TickStats", "Claimed", "publish_job_id", "publish_jobs", "PUBLISH_JOB", "REFRESH_JOB",
    "SPREAD", "HANDOVER_SECONDS",
]

log = logging.getLogger(__name__)

PUBLISH_JOB = "clientnest.engine.jobs.publish_targets"
REFRESH_JOB = "clientnest.engine.jobs.refresh_account_token"

#: the statuses the dispatcher picks up, in the order it serves them
_DUE = (TargetStatus.UNKNOWN, TargetStatus.SCHEDULED)

# PostgreSQL: lock the due rows this dispatcher takes, skip those another
# dispatcher is taking; MATERIALIZED makes the LIMIT apply exactly once.
_PG_CLAIM = text("""
WITH due AS MATERIALIZED (
    SELECT id FROM post_targets
    WHERE status = :status AND next_attempt_at <= :now
    ORDER BY next_attempt_at
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
)
UPDATE post_targets AS t
SET status = 'queued', queued_at = :now, updated_at = :now
FROM due
WHERE t.id = due.id AND t.status = :status
RETURNING t.id, t.attempts, t.post_id, t.workspace_id
""").bindparams(bindparam("now", type_=UTCDateTime()))

_SQLITE_CLAIM = text("""
UPDATE post_targets
SET status = 'queued', queued_at = :now, updated_at = :now
WHERE status = :status AND id IN (
    SELECT id FROM post_targets
    WHERE status = :status AND next_attempt_at <= :now
    ORDER BY next_attempt_at
    LIMIT :limit
)
RETURNING id, attempts, post_id, workspace_id
""").bindparams(bindparam("now", type_=UTCDateTime()))


#: a claim too small to fill this many jobs is spread over this many
SPREAD = 8
#: a publish job starts no new target after this many seconds: it hands the
#: rest to a new job at the front of the queue (a slow platform then delays a
#: post by at most this, not by its whole job's worth of timeouts)
HANDOVER_SECONDS = 5.0


def publish_job_id(target_id: int, attempts: int, more: int = 0, tag: str = "") -> str:
    """The id of a publish job, from its first target's next attempt and how
    many targets follow it: the same work gets the same id however often it
    is enqueued. Work enqueued again (``tag``: when and why) gets a new id, so
    it never shares one with the lost job RQ may still be cleaning up."""
    base = f"publish-{target_id}-{attempts}" + (f"_plus{more}" if more else "")
    return f"{base}_{tag}" if tag else base


@dataclass(frozen=True)
class Claimed:
    target_id: int
    attempts: int
    post_id: int
    workspace_id: int


_T = PostTarget.__table__
_SET_JOB = update(_T).where(_T.c.id == bindparam("p_id")).values(job_id=bindparam("p_job"))


def publish_jobs(session: Any, claimed: Sequence[Claimed], settings: Any, *, tag: str = "",
                 at_front: bool = False) -> list[JobSpec]:
    """Group queued targets into publish jobs and record each target's job id
    (in the caller's transaction, committed before the jobs are enqueued).
    ``tag`` marks work enqueued again (see :func:`publish_job_id`)."""
    if not claimed:
        return []
    size = max(1, min(settings.publish_job_targets, -(-len(claimed) // SPREAD)))
    timeout = int(settings.publish_lease_seconds * 2 + 30 + HANDOVER_SECONDS)
    specs, params = [], []
    for i in range(0, len(claimed), size):
        batch = claimed[i:i + size]
        job_id = publish_job_id(batch[0].target_id, batch[0].attempts, len(batch) - 1, tag)
        specs.append(JobSpec(PUBLISH_JOB, ([c.target_id for c in batch],), job_id, PUBLISH_QUEUE,
                             timeout=timeout, at_front=at_front))
        params += [{"p_id": c.target_id, "p_job": job_id} for c in batch]
    session.execute(_SET_JOB, params)
    return specs


#: a store being down: one log line per round, no traceback
OUTAGES = (RedisConnectionError, RedisTimeoutError, OperationalError, InterfaceError)


@dataclass
class TickStats:
    reaped: int = 0
    expired: int = 0
    claimed: int = 0
    requeued: int = 0
    refreshes: int = 0
    followups: int = 0


class Dispatcher:
    """Claims due targets and enqueues their jobs.

    :param runtime: the process runtime.
    :param queue: where jobs go (default: :func:`clientnest.queue.get_queue`).
    :param batch_size: targets claimed per statement (``dispatch_batch_size``).
    """

    def __init__(self, runtime: Any, queue: JobQueue | None = None, *, batch_size: int | None = None) -> None:
        self.rt = runtime
        self.settings = runtime.settings
        self.queue = queue or get_queue(runtime)
        self.batch_size = batch_size or self.settings.dispatch_batch_size
        self._last_requeue = 0.0
        self._last_refresh = 0.0
        self._last_followups = 0.0
        self._last_reap = 0.0
        self._last_lost_check = 0.0

    # -- one round -----------------------------------------------------------------
    def tick(self, now: datetime | None = None, *, force: bool = False) -> TickStats:
        """One round. ``force`` runs the periodic checks (requeue, refresh-ahead)
        regardless of when they last ran."""
        stats = TickStats()
        now = now or utcnow()
        mono = time.monotonic()
        if force or mono - self._last_reap >= BEAT_SECONDS:
            self._last_reap = mono
            stats.reaped = self.reap_dead_workers(now)
        stats.expired = self.expire_leases(now)
        stats.claimed = self.dispatch_due(now)
        mono = time.monotonic()
        lost = False
        if force or mono - self._last_lost_check >= 0.25:
            self._last_lost_check = mono
            lost = self.queue.lost_data()
            if lost:
                log.warning("the job queue lost its data (Redis flushed or restarted empty); "
                            "enqueueing queued targets again now")
        if lost or force or mono - self._last_requeue >= max(0.2, self.settings.requeue_grace_seconds / 4):
            self._last_requeue = mono
            stats.requeued = self.requeue_missing(now, grace=0.0 if lost else None)
        if force or mono - self._last_refresh >= min(60.0, max(1.0, self.settings.refresh_ahead_seconds / 4)):
            self._last_refresh = mono
            stats.refreshes = self.schedule_refreshes(now)
        # After publishing: metrics, comment polls, sentiment and replies. The
        # sweep also creates the follow-ups of newly published targets (its
        # backfill), which keeps that work off the publish job's hot path.
        if force or mono - self._last_followups >= max(1.0, self.settings.dispatch_interval_seconds):
            self._last_followups = mono
            try:
                stats.followups = sweep_followups(self.rt, now, queue=self.queue).claimed
            except Exception:  # follow-ups must never stop publishing
                log.exception("follow-up sweep failed")
        return stats

    def run(self, stop: threading.Event, interval: float | None = None) -> None:
        """Tick until ``stop`` is set. A full batch means more is due: go on at
        once; otherwise sleep until the next target falls due, at most
        ``interval`` (new posts made meanwhile are seen within it)."""
        wait = self.settings.dispatch_interval_seconds if interval is None else interval
        while not stop.is_set():
            try:
                stats = self.tick()
                if stats.claimed >= self.batch_size:
                    continue
                stop.wait(self.until_next_due(wait))
            except OUTAGES as exc:  # the database or Redis is down: keep trying
                log.warning("dispatcher round failed: %s: %s; trying again in %.0f s", type(exc).__name__,
                            str(exc).splitlines()[0] if str(exc) else "", max(wait, 1.0))
                stop.wait(max(wait, 1.0))
            except Exception:
                log.exception("dispatcher round failed")
                stop.wait(max(wait, 1.0))

    def until_next_due(self, at_most: float) -> float:
        """Seconds until the next scheduled or unknown target falls due (two
        index probes), capped at ``at_most``."""
        now = utcnow()
        horizon = now + timedelta(seconds=at_most)
        with self.rt.db.engine.connect() as c:
            nxt = min((t for t in (
                c.scalar(select(func.min(PostTarget.next_attempt_at)).where(
                    PostTarget.status == status, PostTarget.next_attempt_at > now,
                    PostTarget.next_attempt_at <= horizon))
                for status in _DUE) if t is not None), default=None)
        if nxt is None:
            return at_most
        return max(0.0, min(at_most, (nxt - utcnow()).total_seconds()))

    # -- leases --------------------------------------------------------------------
    def expire_leases(self, now: datetime) -> int:
        with self.rt.db.transaction() as s:
            n = expire_leases(s, now)
        if n:
            log.warning("%d target(s) outlived their lease; they will be reconciled", n)
        return n

    # -- dead workers -----------------------------------------------------------------
    _HELD = (
        select(PostTarget.id, PostTarget.attempts, PublishAttempt.worker)
        .join(PublishAttempt, (PublishAttempt.target_id == PostTarget.id)
              & (PublishAttempt.number == PostTarget.attempts))
        .where(PostTarget.status == TargetStatus.PUBLISHING, PublishAttempt.outcome == AttemptOutcome.STARTED)
    )

    def reap_dead_workers(self, now: datetime) -> int:
        """Targets held by a worker process that stopped beating go to
        ``unknown`` now, due ``reconcile_delay_seconds`` after the worker's
        death (the platform may still be finishing its request); a process
        that does not beat is left to its lease. Returns how many."""
        if not self.settings.redis_url:
            return 0  # embedded: the jobs run in this process, which is alive
        with self.rt.db.engine.connect() as c:
            rows = c.execute(self._HELD).all()
        holders = {r.id: holder_process(r.worker) for r in rows}
        dead = dead_processes(redis_connection(self.rt), {h for h in holders.values() if h})
        if not dead:
            return 0
        # The lookup waits reconcile_delay_seconds after the worker's death
        # (the platform may still be finishing its request), and the worker
        # died at least ALIVE_TTL - BEAT_SECONDS ago: its key outlived its
        # last beat by ALIVE_TTL, and it died before its next beat was due.
        waited = ALIVE_TTL - BEAT_SECONDS
        due = now + timedelta(seconds=max(0.0, self.settings.reconcile_delay_seconds - waited))
        with self.rt.db.transaction() as s:
            changed = abandon_attempts(s, [(r.id, r.attempts) for r in rows if holders[r.id] in dead], now, due,
                                       reason="worker stopped")
        if changed:
            log.warning("%d target(s) held by dead worker(s) %s; they will be reconciled",
                        len(changed), ", ".join(sorted(dead)))
        return len(changed)

    # -- claiming --------------------------------------------------------------------
    def claim(self, s: Session, status: str, now: datetime, limit: int) -> list[Claimed]:
        """Atomically mark up to ``limit`` due targets of ``status`` queued."""
        stmt = _PG_CLAIM if self.rt.db.dialect == "postgresql" else _SQLITE_CLAIM
        rows = s.execute(stmt, {"status": str(status), "now": now, "limit": limit}).all()
        return [Claimed(r[0], r[1], r[2], r[3]) for r in rows]

    def dispatch_due(self, now: datetime | None = None, limit: int | None = None) -> int:
        """Claim due targets, commit, enqueue their jobs. Returns how many."""
        now = now or utcnow()
        limit = limit or self.batch_size
        claimed: list[Claimed] = []
        specs: list[JobSpec] = []
        with self.rt.db.transaction() as s:
            for status in _DUE:
                got = self.claim(s, status, now, limit - len(claimed))
                if got:
                    insert_audit_rows(s, target_event_rows(
                        [(c.target_id, c.post_id, c.workspace_id) for c in got],
                        status, TargetStatus.QUEUED, now, actor="system"))
                    # unknown targets are late already (a dead worker, a
                    # timeout): their lookups go ahead of the waiting jobs
                    specs += publish_jobs(s, got, self.settings, at_front=status == TargetStatus.UNKNOWN)
                    claimed += got
                if len(claimed) >= limit:
                    break
            if claimed:
                refresh_post_statuses(s, [c.post_id for c in claimed], actor="system", now=now)
        self._enqueue(specs)
        return len(claimed)

    def _enqueue(self, specs: list[JobSpec]) -> None:
        if not specs:
            return
        try:
            self.queue.enqueue_many(specs)
        except OUTAGES as exc:
            log.warning("could not enqueue %d job(s) (%s); they will be enqueued again", len(specs),
                        type(exc).__name__)
        except Exception:
            # committed as queued: enqueued again after the grace period
            log.exception("could not enqueue %d job(s); they will be enqueued again", len(specs))

    # -- lost jobs ----------------------------------------------------------------------
    def requeue_missing(self, now: datetime | None = None, limit: int = 1000, *, grace: float | None = None) -> int:
        """Enqueue again queued targets whose job is gone (Redis flushed or
        restarted without persistence, a crash between commit and enqueue),
        once they have been queued for ``grace`` seconds (default
        ``requeue_grace_seconds``; 0 once the queue said it lost its data: a
        job enqueued twice is harmless, the second finds its targets taken)."""
        now = now or utcnow()
        grace = self.settings.requeue_grace_seconds if grace is None else grace
        cutoff = now - timedelta(seconds=grace)
        # after a loss, every page (keyset on queued_at, id); otherwise one
        # page per round is plenty
        pages = 1 if grace else 1000
        after: tuple[Any, int] | None = None
        total = 0
        for _ in range(pages):
            q = (select(PostTarget.id, PostTarget.attempts, PostTarget.queued_at, PostTarget.post_id,
                        PostTarget.workspace_id, PostTarget.job_id)
                 .where(PostTarget.status == TargetStatus.QUEUED, PostTarget.queued_at <= cutoff)
                 .order_by(PostTarget.queued_at, PostTarget.id)
                 .limit(limit))
            if after is not None:
                q = q.where(tuple_(PostTarget.queued_at, PostTarget.id) > tuple_(
                    bindparam("a_at", after[0], type_=UTCDateTime()), after[1]))
            with self.rt.db.session() as s:
                rows = s.execute(q).all()
            if not rows:
                break
            total += self._requeue_lost(rows, now)
            if len(rows) < limit:
                break
            after = (rows[-1].queued_at, rows[-1].id)
        return total

    def _requeue_lost(self, rows: Sequence[Any], now: datetime) -> int:
        job_of = {r.id: r.job_id or publish_job_id(r.id, r.attempts) for r in rows}
        missing = self.queue.missing(set(job_of.values()),
                                     started_before=now - timedelta(seconds=self.settings.publish_lease_seconds))
        lost = [r for r in rows if job_of[r.id] in missing]
        if not lost:
            return 0
        mine = []
        specs: list[JobSpec] = []
        with self.rt.db.transaction() as s:
            for r in lost:
                # only the dispatcher that moves queued_at re-enqueues
                res = s.execute(
                    update(PostTarget)
                    .where(PostTarget.id == r.id, PostTarget.status == TargetStatus.QUEUED,
                           PostTarget.queued_at == r.queued_at)
                    .values(queued_at=now, updated_at=now)
                    .execution_options(synchronize_session=False))
                if res.rowcount == 1:
                    mine.append(r)
            insert_audit_rows(s, target_event_rows(
                [(r.id, r.post_id, r.workspace_id) for r in mine], TargetStatus.QUEUED, TargetStatus.QUEUED,
                now, actor="system", reason="job missing from the queue; enqueued again"))
            specs = publish_jobs(s, [Claimed(r.id, r.attempts, r.post_id, r.workspace_id) for r in mine],
                                 self.settings, tag=f"requeued{now.timestamp():.0f}")
        if mine:
            log.warning("%d queued target(s) had no job; enqueued again", len(mine))
            self._enqueue(specs)
        return len(mine)

    # -- tokens ----------------------------------------------------------------------------
    def schedule_refreshes(self, now: datetime | None = None, limit: int = 500) -> int:
        """Enqueue a refresh for each connected account whose token expires
        within ``refresh_ahead_seconds`` (platforms that can refresh only)."""
        now = now or utcnow()
        platforms = [name for name, cls in self.rt.plugins.connector_classes.items()
                     if Capability.REFRESH in cls.capabilities]
        if not platforms:
            return 0
        horizon = now + timedelta(seconds=self.settings.refresh_ahead_seconds)
        with self.rt.db.session() as s:
            rows = s.execute(
                select(SocialAccount.id, SocialAccount.token_expires_at)
                .where(SocialAccount.status == AccountStatus.CONNECTED, SocialAccount.platform.in_(platforms),
                       SocialAccount.token_expires_at.is_not(None), SocialAccount.token_expires_at <= horizon)
                .order_by(SocialAccount.token_expires_at)
                .limit(limit)
            ).all()
        specs = {
            f"refresh-{r.id}-{int(r.token_expires_at.timestamp())}": JobSpec(
                REFRESH_JOB, (r.id,), f"refresh-{r.id}-{int(r.token_expires_at.timestamp())}", DEFAULT_QUEUE,
                timeout=120)
            for r in rows
        }
        todo = [specs[j] for j in self.queue.missing(specs)]
        if todo:
            try:
                self.queue.enqueue_many(todo)
            except Exception:
                log.exception("could not enqueue token refreshes")
                return 0
        return len(todo)
