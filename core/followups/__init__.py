"""After publishing: metrics collections and comment polls, with the database
as the source of truth (invariant 1).

* :func:`schedule_followups_for` creates a published target's follow-ups
  (call it in the transaction that records the publish; it is idempotent);
* :func:`sweep` claims due follow-ups (and due replies, and workspaces with
  comments to score) and enqueues their jobs; the dispatcher runs it each round;
* :mod:`.jobs` holds the job functions: ``collect_metrics``,
  ``poll_comments``, ``score_comments``, ``send_reply``;
* :mod:`.runner` runs one follow-up, :mod:`.schedule` says when they are due.

Sentiment, the reply policy and sending replies live in
:mod:`clientnest.services.replies`; snapshots in :mod:`clientnest.services.metrics`.
"""
from __future__ import annotations

from .schedule import next_comment_poll, schedule_followups_for
from .sweep import SweepStats, followup_job_id, sweep

__all__ = ["schedule_followups_for", "sweep", "SweepStats", "followup_job_id", "next_comment_poll"]
