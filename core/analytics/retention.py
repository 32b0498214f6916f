"""Raw snapshots are kept for ``analytics_raw_retention_days``; rollups for good.

The purge deletes in bounded batches (by the time index) so that it never
holds long locks, and runs at most once an hour from the collection sweep.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from ..models import MetricSnapshot
from .tables import AccountSnapshot

__all__ = ["purge_raw_snapshots", "purge_if_due", "PURGE_SECONDS"]

PURGE_SECONDS = 3600.0
_KEY = "analytics.last_purge"


def purge_raw_snapshots(rt: Any, now: datetime, *, batch: int = 5000, max_batches: int = 20) -> int:
    """Delete raw snapshots older than the retention; returns how many went."""
    days = rt.settings.analytics_raw_retention_days
    if days <= 0:
        return 0
    cutoff = now - timedelta(days=days)
    gone = 0
    for model in (MetricSnapshot, AccountSnapshot):
        for _ in range(max_batches):
            with rt.db.transaction() as s:
                ids = s.scalars(select(model.id).where(model.fetched_at < cutoff).limit(batch)).all()
                if ids:
                    s.execute(delete(model).where(model.id.in_(ids)).execution_options(synchronize_session=False))
            gone += len(ids)
            if len(ids) < batch:
                break
    return gone


def purge_if_due(rt: Any, now: datetime) -> int:
    mono = time.monotonic()
    if mono - rt.extras.get(_KEY, -1e9) < PURGE_SECONDS:
        return 0
    rt.extras[_KEY] = mono
    return purge_raw_snapshots(rt, now)
