"""The publishing engine: dispatcher, publish and refresh jobs, reconciliation.

* :mod:`.dispatcher` claims due targets from the database and enqueues jobs;
* :mod:`.jobs` holds the job functions (RQ or in-process);
* :mod:`.publish` publishes one target exactly once;
* :mod:`.refresh` refreshes tokens under a per-account lock;
* :mod:`.reconcile` turns dead workers' targets into lookups, not re-sends;
* :mod:`.liveness` lets a dispatcher tell a dead worker (its heartbeat in
  Redis stopped) within seconds rather than after its lease;
* :mod:`.embedded` runs it all inside the app; :mod:`.commands` holds
  ``clientnest worker`` and ``clientnest scheduler``.

The accounts API calls :func:`release_held_targets` when an account is
reconnected.
"""
from __future__ import annotations

from .state import hold_pending_targets, release_held_targets

__all__ = ["release_held_targets", "hold_pending_targets"]
