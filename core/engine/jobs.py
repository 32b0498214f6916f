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
from ..errors import TransientError
from ..models import PostTarget
from ..queue import get_queue, job_runtime

if TYPE_CHECKING:
    from ..runtime import Runtime
    from .publish import Step

__all__ = ["publish_targets", "refresh_account_token"]

log = logging.getLogger(__name__)


def publish_targets(target_ids: Sequence[int]) -> dict[str, int]:
    """Publish (or reconcile) the targets of one job: all claimed in one
    transaction (:func:`~.publish.claim`), then called and recorded one after
    the other, each on its own, so one failing does not touch the others.
    After :data:`~.dispatcher.HANDOVER_SECONDS` no new target is started: the
    rest are given back and go to a new job at the front of the queue.
    A worker whose heartbeat has not reached Redis for so long that it may
    be taken for dead (:func:`~.liveness.may_call_platform`) starts no new
    call either: its targets go back to the queue (or, if a dispatcher
    already gave them up, to the reconciliation). Returns how many ended how."""
    from .dispatcher import HANDOVER_SECONDS
    from .liveness import may_call_platform
    from .publish import PublishJob, Step, claim

    rt = job_runtime()
    deadline = time.monotonic() + HANDOVER_SECONDS
    claimed = claim(rt, target_ids)
    outcomes: Counter[str] = Counter()
    first_error: Exception | None = None
    for i, (target_id, step) in enumerate(claimed.items()):
        if (i and time.monotonic() > deadline) or not may_call_platform():
            rest = [st for st in list(claimed.values())[i:] if isinstance(st, Step)]
            outcomes["handed_over"] += _hand_over(rt, rest)
            outcomes.update(st for st in list(claimed.values())[i:] if isinstance(st, str))
            break
        try:
            outcomes[PublishJob(rt, target_id).run_claimed(step)] += 1
        except Exception as exc:  # the others still go out
            log.exception("target %s: publish job failed", target_id)
            outcomes["error"] += 1
            first_error = first_error or exc
    if first_error is not None:
        raise first_error  # the job shows as failed; the database says what is left to do
    return dict(outcomes)


def _hand_over(rt: Runtime, steps: list[Step]) -> int:
    """Give claimed targets whose call has not started back to the queue, in
    new jobs ahead of the waiting ones."""
    from .dispatcher import Claimed, publish_jobs
    from .publish import release

    now = utcnow()
    with rt.db.engine.begin() as conn:
        back = release(conn, steps, now, reason="handed over to a new job")
        t = PostTarget.__table__
        if back:
            conn.execute(update(t).where(t.c.id.in_([st.target_id for st in back]))
                         .values(queued_at=now, updated_at=now))
        specs = publish_jobs(conn, [Claimed(st.target_id, st.number - 1, st.post_id, st.workspace_id) for st in back],
                             rt.settings, tag=f"handover{now.timestamp():.0f}", at_front=True)
    if specs:
        try:
            get_queue(rt).enqueue_many(specs)
        except Exception as exc:  # committed as queued: the dispatcher enqueues them again
            log.warning("could not hand %d target(s) over (%s); the dispatcher will enqueue them again",
                        len(back), type(exc).__name__)
            return len(back)
    log.info("handed %d target(s) over to %d new job(s)", len(back), len(specs))
    return len(back)


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
