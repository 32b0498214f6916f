"""The follow-up job functions: module-level, taking ids, JSON arguments.

RQ workers import them by dotted path; the embedded runner calls the same
functions on its threads. Each reaches the runtime through
:func:`clientnest.queue.job_runtime` and opens only short-lived sessions.
"""
from __future__ import annotations

import logging
from typing import Any

from ..models import FollowUpKind
from ..queue import job_runtime

__all__ = ["collect_metrics", "poll_comments", "score_comments", "send_reply"]

log = logging.getLogger(__name__)


def collect_metrics(followup_id: int) -> dict[str, Any]:
    """Fetch one target's metrics (``clientnest_fetch_metrics``) and store a snapshot."""
    from .runner import run_followup

    return run_followup(job_runtime(), int(followup_id), FollowUpKind.METRICS)


def poll_comments(followup_id: int) -> dict[str, Any]:
    """Page through one target's comments (``clientnest_fetch_comments``), store
    the new ones in the inbox, and have them scored."""
    from ..services.replies import enqueue_scoring
    from .runner import run_followup

    rt = job_runtime()
    result = run_followup(rt, int(followup_id), FollowUpKind.COMMENTS)
    if result.get("workspaces"):
        enqueue_scoring(rt, result["workspaces"])
    return result


def score_comments(workspace_id: int) -> dict[str, Any]:
    """Score a workspace's new comments in batches and apply its reply policy."""
    from dataclasses import asdict

    from ..services.replies import process_workspace

    return asdict(process_workspace(job_runtime(), int(workspace_id)))


def send_reply(comment_id: int) -> str:
    """Send one queued reply (``clientnest_reply_to_comment``), exactly once."""
    from ..services.replies import send_reply as send

    return send(job_runtime(), int(comment_id))
