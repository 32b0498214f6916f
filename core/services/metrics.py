"""Post metrics: snapshots stored by the follow-up jobs, read by the API.

A :class:`~clientnest.models.MetricSnapshot` keeps the normalised figures of
one collection (the names of :class:`~clientnest.connector.PostMetrics`;
``None`` where the platform gives no such figure) and the platform's raw
answer. Snapshots are never updated: the history of a post's reach is the
list of its snapshots.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..analytics.rollups import apply_post_snapshot
from ..connector import PostMetrics
from ..db import utcnow
from ..errors import ClientNestError
from ..models import MetricSnapshot, Post, PostTarget

__all__ = [
    "METRIC_NAMES",
    "MetricsError",
    "normalize_count",
    "pick_metrics",
    "store_snapshot",
    "snapshot_json",
    "post_metrics",
]

#: the normalised figures, in the order the API shows them
METRIC_NAMES: tuple[str, ...] = PostMetrics.NAMES


class MetricsError(ClientNestError):
    def __init__(self, message: str, status: int = 404) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def normalize_count(value: Any) -> int | None:
    """A count as an int >= 0, or ``None`` when the platform gave nothing
    usable (a missing figure is not a zero)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        n = int(value) if not isinstance(value, float) else int(round(value))
    except (TypeError, ValueError):
        try:
            n = int(float(str(value).strip()))
        except (TypeError, ValueError):
            return None
    return n if n >= 0 else None


def pick_metrics(answer: Sequence[PostMetrics], external_id: str) -> PostMetrics | None:
    """The metrics of ``external_id`` in a connector's answer. A single answer
    for a single post is taken even when the platform renamed the id (a
    Facebook video answers for its feed story ``{page}_{id}``)."""
    items = [m for m in answer if m is not None]
    for m in items:
        if str(m.external_id) == str(external_id):
            return m
    for m in items:
        if str(m.external_id).endswith(f"_{external_id}") or str(external_id).endswith(f"_{m.external_id}"):
            return m
    return items[0] if len(items) == 1 else None


def _jsonable(raw: Any) -> Any:
    try:
        return json.loads(json.dumps(raw, default=str))
    except (TypeError, ValueError):
        return None


def store_snapshot(
    session: Session, *, workspace_id: int, target_id: int, metrics: PostMetrics, fetched_at: datetime | None = None
) -> MetricSnapshot:
    """Add one snapshot (flushed, so it has its id). The caller commits."""
    snap = MetricSnapshot(
        workspace_id=workspace_id, target_id=target_id, fetched_at=fetched_at or utcnow(),
        raw=_jsonable(metrics.raw),
        **{name: normalize_count(getattr(metrics, name, None)) for name in METRIC_NAMES},
    )
    session.add(snap)
    session.flush()
    # the rollups move in the same transaction: a snapshot is never stored without them
    apply_post_snapshot(session, snap)
    return snap


def snapshot_json(snap: MetricSnapshot) -> dict[str, Any]:
    return {
        "id": snap.id,
        "fetched_at": snap.fetched_at,
        "metrics": {name: getattr(snap, name) for name in METRIC_NAMES},
    }


@dataclass
class TargetMetrics:
    target: PostTarget
    history: list[MetricSnapshot]

    @property
    def latest(self) -> MetricSnapshot | None:
        return self.history[-1] if self.history else None


def post_metrics(session: Session, workspace_id: int, post_id: int) -> dict[str, Any]:
    """Each target of the post with its latest snapshot and its history
    (oldest first), and the totals of the latest snapshots.

    :raises MetricsError: no such post in this workspace (404).
    """
    post = session.get(Post, post_id)
    if post is None or post.workspace_id != workspace_id:
        raise MetricsError(f"post {post_id} not found")
    targets = session.scalars(select(PostTarget).where(PostTarget.post_id == post_id).order_by(PostTarget.id)).all()
    snaps: dict[int, list[MetricSnapshot]] = {t.id: [] for t in targets}
    if targets:
        for snap in session.scalars(
            select(MetricSnapshot)
            .where(MetricSnapshot.target_id.in_(list(snaps)), MetricSnapshot.workspace_id == workspace_id)
            .order_by(MetricSnapshot.fetched_at, MetricSnapshot.id)
        ):
            snaps[snap.target_id].append(snap)
    totals: dict[str, int | None] = {name: None for name in METRIC_NAMES}
    out_targets = []
    for t in targets:
        tm = TargetMetrics(t, snaps[t.id])
        latest = tm.latest
        if latest is not None:
            for name in METRIC_NAMES:
                value = getattr(latest, name)
                if value is not None:
                    totals[name] = (totals[name] or 0) + value
        out_targets.append({
            "target_id": t.id,
            "account_id": t.account_id,
            "platform": t.platform,
            "status": t.status,
            "external_id": t.external_id,
            "published_at": t.published_at,
            "latest": snapshot_json(latest) if latest is not None else None,
            "history": [snapshot_json(s) for s in tm.history],
        })
    return {"post_id": post.id, "totals": totals, "targets": out_targets}
