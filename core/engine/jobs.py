"""The job functions: module-level, taking ids, JSON-serialisable arguments.

RQ workers import them by dotted path; the embedded runner calls the same
functions on its threads. Each reaches the runtime through
:func:`clientnest.queue.job_runtime` and opens only short-lived sessions, so
its database connections are back in the pool when it returns.
"""
from __future__ import annotations

import logging

from ..errors import TransientError
from ..queue import job_runtime

__all__ = ["publish_target", "refresh_account_token"]

log = logging.getLogger(__name__)


def publish_target(target_id: int) -> str:
    """Publish (or reconcile) one target; see :mod:`clientnest.engine.publish`."""
    from .publish import publish

    return publish(job_runtime(), int(target_id))


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
