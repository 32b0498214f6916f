"""The daily collection of each connected account's own figures.

Scheduling reuses the follow-up machinery: each account has one
:class:`~.tables.AccountCollection` row (``pending`` with a ``due_at``), and
the follow-up sweep, run by the dispatcher every round, calls :func:`sweep_collections`,
which claims due rows exactly as follow-ups are claimed (one conditional
``UPDATE ... RETURNING``; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), commits,
and enqueues ``collect_account_metrics`` jobs with deterministic ids
(``account-metrics-<id>-<runs>``). Rows queued longer than the grace period
whose job is gone are enqueued again; rows are created for connected accounts
whose connector declares ``Capability.ACCOUNT_METRICS`` (the backfill).

:func:`run_collection` is the job's body: it calls
``clientnest_fetch_account_metrics`` (refreshing the token once on an auth
refusal, as the follow-ups do), stores an :class:`~.tables.AccountSnapshot`,
updates the rollups and sets the next due time, all in one transaction.
Errors: transient ones retry with the engine's backoff (the platform's
``retry_at`` exactly) up to ``followup_max_attempts``, then wait for the next
day; a permanent one waits for the next day with the platform's message; an
account that needs reconnecting is not claimed until it is reconnected.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, exists, select, text, update

from ..connector import Capability
from ..db import UTCDateTime, utcnow
from ..errors import AuthError, ConfigError, PermanentError, PlatformError, TransientError
from ..models import AccountStatus, SocialAccount
from ..queue import DEFAULT_QUEUE, JobQueue, JobSpec
from .rollups import apply_account_snapshot
from .tables import AccountCollection, AccountSnapshot

__all__ = ["COLLECT_JOB", "collection_job_id", "sweep_collections", "run_collection", "ensure_collections"]

log = logging.getLogger(__name__)

COLLECT_JOB = "clientnest.analytics.jobs.collect_account_metrics"

_PG_CLAIM = text("""
WITH due AS MATERIALIZED (
    SELECT c.id FROM account_collections c
    JOIN social_accounts a ON a.id = c.account_id
    WHERE c.status = 'pending' AND c.due_at <= :now AND a.status = 'connected'
    ORDER BY c.due_at
    LIMIT :limit
    FOR UPDATE OF c SKIP LOCKED
)
UPDATE account_collections AS u
SET status = 'queued', claimed_at = :now, runs = u.runs + 1
FROM due
WHERE u.id = due.id AND u.status = 'pending'
RETURNING u.id, u.runs
""").bindparams(bindparam("now", type_=UTCDateTime()))

_SQLITE_CLAIM = text("""
UPDATE account_collections
SET status = 'queued', claimed_at = :now, runs = runs + 1
WHERE status = 'pending' AND id IN (
    SELECT c.id FROM account_collections c
    JOIN social_accounts a ON a.id = c.account_id
    WHERE c.status = 'pending' AND c.due_at <= :now AND a.status = 'connected'
    ORDER BY c.due_at
    LIMIT :limit
)
RETURNING id, runs
""").bindparams(bindparam("now", type_=UTCDateTime()))

_BACKFILL_KEY = "analytics.last_backfill"
BACKFILL_SECONDS = 60.0


def collection_job_id(collection_id: int, runs: int) -> str:
    return f"account-metrics-{collection_id}-{runs}"


def _spec(collection_id: int, runs: int) -> JobSpec:
    return JobSpec(COLLECT_JOB, (collection_id,), collection_job_id(collection_id, runs), DEFAULT_QUEUE, timeout=300)


def _platforms(rt: Any) -> list[str]:
    return [n for n, cls in rt.plugins.connector_classes.items() if Capability.ACCOUNT_METRICS in cls.capabilities]


def ensure_collections(rt: Any, now: datetime, limit: int = 1000) -> int:
    """Create the collection row of connected accounts that have none (due now)."""
    platforms = _platforms(rt)
    if not platforms:
        return 0
    with rt.db.transaction() as s:
        rows = s.execute(
            select(SocialAccount.id, SocialAccount.workspace_id)
            .where(SocialAccount.status == AccountStatus.CONNECTED, SocialAccount.platform.in_(platforms),
                   ~exists().where(AccountCollection.account_id == SocialAccount.id))
            .limit(limit)).all()
        for aid, wid in rows:
            s.add(AccountCollection(account_id=aid, workspace_id=wid, status="pending", due_at=now, runs=0,
                                    attempts=0))
    return len(rows)


def _enqueue(queue: JobQueue, specs: list[JobSpec]) -> None:
    if not specs:
        return
    try:
        queue.enqueue_many(specs)
    except Exception:  # committed as queued: enqueued again after the grace period
        log.exception("could not enqueue %d account collection job(s); they will be enqueued again", len(specs))


def _requeue(rt: Any, queue: JobQueue, now: datetime, limit: int = 1000) -> int:
    cutoff = now - timedelta(seconds=rt.settings.requeue_grace_seconds)
    with rt.db.session() as s:
        rows = s.execute(select(AccountCollection.id, AccountCollection.runs, AccountCollection.claimed_at)
                         .where(AccountCollection.status == "queued", AccountCollection.claimed_at <= cutoff)
                         .order_by(AccountCollection.claimed_at).limit(limit)).all()
    if not rows:
        return 0
    missing = queue.missing([collection_job_id(r.id, r.runs) for r in rows])
    mine = []
    with rt.db.transaction() as s:
        for r in rows:
            if collection_job_id(r.id, r.runs) not in missing:
                continue
            res = s.execute(update(AccountCollection).where(
                AccountCollection.id == r.id, AccountCollection.status == "queued", AccountCollection.runs == r.runs,
                AccountCollection.claimed_at == r.claimed_at).values(claimed_at=now)
                .execution_options(synchronize_session=False))
            if res.rowcount == 1:  # only the sweep that moved claimed_at enqueues again
                mine.append(r)
    _enqueue(queue, [_spec(r.id, r.runs) for r in mine])
    return len(mine)


def sweep_collections(rt: Any, queue: JobQueue, now: datetime, limit: int, *, backfill: bool | None = None) -> int:
    """One round: create missing rows (at most every minute), claim due rows,
    enqueue their jobs, enqueue lost ones again, purge old raw snapshots.
    Returns how many collections were claimed."""
    import time

    from .retention import purge_if_due

    mono = time.monotonic()
    if backfill or (backfill is None and mono - rt.extras.get(_BACKFILL_KEY, -1e9) >= BACKFILL_SECONDS):
        rt.extras[_BACKFILL_KEY] = mono
        ensure_collections(rt, now)
    stmt = _PG_CLAIM if rt.db.dialect == "postgresql" else _SQLITE_CLAIM
    with rt.db.transaction() as s:
        claimed = s.execute(stmt, {"now": now, "limit": limit}).all()
    _enqueue(queue, [_spec(r[0], r[1]) for r in claimed])
    _requeue(rt, queue, now)
    purge_if_due(rt, now)
    return len(claimed)


# -- the job's body --------------------------------------------------------------------------


class _Waiting(Exception):
    """The account needs reconnecting."""


def _finish(rt: Any, cid: int, runs: int, **values: Any) -> bool:
    with rt.db.transaction() as s:
        res = s.execute(update(AccountCollection).where(
            AccountCollection.id == cid, AccountCollection.status == "queued", AccountCollection.runs == runs)
            .values(**values).execution_options(synchronize_session=False))
        return res.rowcount == 1


def _jsonable(raw: Any) -> Any:
    try:
        return json.loads(json.dumps(raw, default=str))
    except (TypeError, ValueError):
        return None


def _count(value: Any) -> int | None:
    from ..services.metrics import normalize_count

    return normalize_count(value)


def _fetch(rt: Any, account_id: int) -> Any:
    """Call the platform, refreshing the token once on an auth refusal."""
    from ..engine.refresh import RefreshOutcome, mark_needs_reconnect, reconnect_message, refresh_account
    from ..services.accounts import to_connector_account

    refreshed = False
    while True:
        with rt.db.session() as s:
            acct = s.get(SocialAccount, account_id)
            if acct is None or acct.status != AccountStatus.CONNECTED:
                raise _Waiting()
            platform, cipher = acct.platform, acct.credentials_encrypted
            account = to_connector_account(rt.vault, acct)
        connector = rt.plugins.connector(platform)
        if Capability.ACCOUNT_METRICS not in connector.capabilities:
            raise PermanentError(f"the {platform} connector cannot fetch account figures", platform=platform)
        try:
            return platform, rt.plugins.hook.clientnest_fetch_account_metrics(connector=connector, account=account)
        except NotImplementedError:
            raise PermanentError(f"the {platform} connector cannot fetch account figures",
                                 platform=platform) from None
        except AuthError as exc:
            if refreshed:
                with rt.db.transaction() as s:
                    acct = s.get(SocialAccount, account_id)
                    if acct is not None:
                        cls = rt.plugins.connector_classes.get(platform)
                        label = (cls.display_name or cls.name) if cls else platform
                        mark_needs_reconnect(s, acct, reconnect_message(label, acct, exc.message))
                raise _Waiting() from None
            refreshed = True
            if refresh_account(rt, account_id, seen=cipher) == RefreshOutcome.FAILED:
                raise _Waiting() from None


def run_collection(rt: Any, collection_id: int) -> dict[str, Any]:
    """Collect one account's figures. Results: ``done``, ``retry``, ``failed``
    (waits for the next day), ``waiting`` (account needs reconnecting),
    ``skipped`` (not queued any more), ``gone``, ``lost``."""
    from ..engine.retry import next_retry_at

    with rt.db.session() as s:
        row = s.get(AccountCollection, collection_id)
        if row is None:
            return {"result": "gone"}
        if row.status != "queued":
            return {"result": "skipped"}
        cid, runs, attempts, account_id = row.id, row.runs, row.attempts, row.account_id
    interval = timedelta(hours=rt.settings.account_metrics_interval_hours)
    now = utcnow()
    try:
        platform, m = _fetch(rt, account_id)
        if m is None:
            raise PermanentError("no plugin answered the account figures call", platform=platform)
    except _Waiting:
        _finish(rt, cid, runs, status="pending", due_at=utcnow(),
                last_error={"kind": "auth", "message": "the account needs reconnecting; resumes once it is"})
        return {"result": "waiting"}
    except (PermanentError, ConfigError) as exc:
        err = exc.to_dict() if isinstance(exc, PlatformError) else {"kind": "config", "message": str(exc)}
        _finish(rt, cid, runs, status="pending", due_at=now + interval, attempts=0, last_error=err)
        log.warning("account %s: figures not collected: %s", account_id, err.get("message"))
        return {"result": "failed"}
    except Exception as exc:  # transient, an unknown platform error, or a connector bug: reads are safe to repeat
        if not isinstance(exc, TransientError | PlatformError):
            log.exception("account %s: unexpected error collecting figures", account_id)
        err = exc.to_dict() if isinstance(exc, PlatformError) else {
            "kind": "error", "message": f"unexpected error: {type(exc).__name__}"}
        attempts += 1
        if attempts >= rt.settings.followup_max_attempts:
            _finish(rt, cid, runs, status="pending", due_at=now + interval, attempts=0,
                    last_error={**err, "message": f"gave up after {attempts} attempts: {err.get('message')}"})
            return {"result": "failed"}
        _finish(rt, cid, runs, status="pending", attempts=attempts, last_error=err,
                due_at=next_retry_at(rt.settings, attempts, now, getattr(exc, "retry_at", None)))
        return {"result": "retry"}
    fetched = utcnow()
    with rt.db.transaction() as s:
        row = s.execute(select(AccountCollection).where(
            AccountCollection.id == cid, AccountCollection.status == "queued", AccountCollection.runs == runs)
        ).scalar_one_or_none()
        if row is None:
            return {"result": "lost"}
        period = m.period if m.period in ("day", "lifetime") else "day"
        snap = AccountSnapshot(
            workspace_id=row.workspace_id, account_id=account_id, fetched_at=fetched, period=period,
            period_end=m.period_end, raw=_jsonable(m.raw),
            **{n: _count(getattr(m, n, None)) for n in ("followers", "impressions", "reach", "profile_views",
                                                        "engagements")})
        s.add(snap)
        s.flush()
        apply_account_snapshot(s, snap, platform, row)
        row.status, row.due_at, row.attempts, row.last_error = "pending", fetched + interval, 0, None
        row.last_done_at = fetched
        snapshot_id = snap.id
    return {"result": "done", "snapshot_id": snapshot_id}
