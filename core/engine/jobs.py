"""The job functions: module-level, taking ids, JSON-serialisable arguments.

RQ workers import them by dotted path; the embedded runner calls the same
functions on its threads. Each reaches the runtime through
:func:`clientnest.queue.job_runtime` and opens only short-lived sessions, so
its database connections are back in the pool when it returns.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import update

from ..db import utcnow
from ..errors import ClientNestError, TransientError
from ..models import PostTarget, TargetStatus
from ..queue import get_queue, job_runtime

if TYPE_CHECKING:
    from ..runtime import Runtime

__all__ = ["publish_targets", "refresh_account_token"]

log = logging.getLogger(__name__)


def publish_targets(target_ids: Sequence[int]) -> dict[str, int]:
    """Publish (or reconcile) the targets of one job, one after the other;
    see :mod:`clientnest.engine.publish`. Each target is claimed on its own
    when its turn comes, so one failing does not touch the others. After
    :data:`~.dispatcher.HANDOVER_SECONDS` no new target is started: the rest
    go to a new job at the front of the queue. Returns how many ended how."""
    from .dispatcher import HANDOVER_SECONDS
    from .publish import publish

    rt = job_runtime()
    ids = [int(t) for t in target_ids]
    deadline = time.monotonic() + HANDOVER_SECONDS
    outcomes: Counter[str] = Counter()
    first_error: Exception | None = None
    for i, target_id in enumerate(ids):
        if i and time.monotonic() > deadline:
            outcomes["handed_over"] += _hand_over(rt, ids[i:])
            break
        try:
            outcomes[publish(rt, target_id)] += 1
        except Exception as exc:  # the others still go out
            if not isinstance(exc, ClientNestError):  # publish() logs its own errors
                log.exception("target %s: publish job failed", target_id)
            outcomes["error"] += 1
            first_error = first_error or exc
    if first_error is not None:
        raise first_error  # the job shows as failed; the database says what is left to do
    return dict(outcomes)


def _hand_over(rt: Runtime, target_ids: list[int]) -> int:
    """Give targets still queued to a new job (ahead of the waiting ones)."""
    from .dispatcher import Claimed, publish_jobs

    t = PostTarget.__table__
    now = utcnow()
    with rt.db.engine.begin() as conn:
        rows = conn.execute(
            update(t).where(t.c.id.in_(target_ids), t.c.status == TargetStatus.QUEUED)
            .values(queued_at=now, updated_at=now)
            .returning(t.c.id, t.c.attempts, t.c.post_id, t.c.workspace_id)
        ).all()
        order = {tid: i for i, tid in enumerate(target_ids)}
        claimed = sorted((Claimed(*r) for r in rows), key=lambda c: order[c.target_id])
        specs = publish_jobs(conn, claimed, rt.settings, tag=f"handover{now.timestamp():.0f}", at_front=True)
    if specs:
        get_queue(rt).enqueue_many(specs)
    log.info("handed %d target(s) over to %d new job(s)", len(claimed), len(specs))
    return len(claimed)


def refresh_account_token(account_id: int) -> str:
    """Refresh an account's token ahead of its expiry (enqueued by the dispatcher)."""
    from .refresh import refresh_account

    rt = job_runtime()
    try:
        return refresh_account(rt, int(account_id), ahead_seconds=rt.settings.refresh_ahead_seconds,
                               actor="worker").value
    except TransientError as exc:
        # the dispatcher enqueues it again on its next refresh round
        log.warning("account %s: refresh ahead of expiry failed for now: %s", account_id, exc.message)
        return "retry"
