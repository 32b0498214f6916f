"""When follow-ups are due: the metrics slots and the comment-poll cadence.

A published target gets, for each capability its connector declares:

* ``metrics``: one row per entry of ``Settings.metrics_schedule_hours``
  (default 1 h, 6 h, 24 h, 72 h, 7 d after publishing), ``slot`` = its index;
* ``comments``: one row (``slot`` 0) that the poll job moves forward after
  each poll: every ``comment_poll_fast_minutes`` during the first
  ``comment_poll_fast_hours``, then every ``comment_poll_slow_hours``, until
  ``comment_poll_until_hours`` after publishing.

:func:`schedule_followups_for` is idempotent (``ON CONFLICT DO NOTHING`` on
the unique (target, kind, slot)), so it can run inside the publish
transaction, again on a retry, or from the sweep's backfill, and never fails
the transaction it runs in because of a concurrent insert.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import exists, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..connector import Capability
from ..db import utcnow
from ..models import FollowUp, FollowUpKind, FollowUpStatus, PostTarget, TargetStatus
from ..settings import Settings

__all__ = [
    "KIND_CAPABILITY",
    "metrics_due_times",
    "comment_poll_end",
    "next_comment_poll",
    "schedule_followups_for",
    "targets_missing_followups",
]

log = logging.getLogger(__name__)

#: the connector capability each kind of follow-up needs
KIND_CAPABILITY = {
    FollowUpKind.METRICS: Capability.METRICS,
    FollowUpKind.COMMENTS: Capability.COMMENTS,
}


def _aware(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def metrics_due_times(settings: Settings, published_at: datetime) -> list[datetime]:
    """When each metrics slot is due, in slot order."""
    return [_aware(published_at) + timedelta(hours=h) for h in settings.metrics_schedule_hours]


def comment_poll_end(settings: Settings, published_at: datetime) -> datetime:
    return _aware(published_at) + timedelta(hours=settings.comment_poll_until_hours)


def next_comment_poll(settings: Settings, published_at: datetime, now: datetime) -> datetime | None:
    """The poll after one made at ``now``; ``None`` once the window is over.

    The last poll lands exactly on the end of the window, so comments written
    in the final hours are still read once.
    """
    published_at = _aware(published_at)
    end = comment_poll_end(settings, published_at)
    if now >= end:
        return None
    fast_until = published_at + timedelta(hours=settings.comment_poll_fast_hours)
    step = (timedelta(minutes=settings.comment_poll_fast_minutes) if now < fast_until
            else timedelta(hours=settings.comment_poll_slow_hours))
    return min(now + step, end)


def _first_comment_poll(settings: Settings, published_at: datetime) -> datetime:
    return min(_aware(published_at) + timedelta(minutes=settings.comment_poll_fast_minutes),
               comment_poll_end(settings, published_at))


def _capabilities(runtime: Any, platform: str) -> frozenset[Capability]:
    cls = runtime.plugins.connector_classes.get(platform)
    return frozenset(cls.capabilities) if cls is not None else frozenset()


def _insert_ignore(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert follow-ups, skipping those that exist; returns how many were new."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(FollowUp)
        stmt = (ins.values(rows).on_conflict_do_nothing(index_elements=["target_id", "kind", "slot"])
                .returning(FollowUp.id))
        return len(session.execute(stmt).all())  # rowcount is not reliable for multi-row inserts
    new = 0
    for row in rows:  # other databases: check, then insert (the unique key still guards)
        found = session.execute(select(FollowUp.id).where(
            FollowUp.target_id == row["target_id"], FollowUp.kind == row["kind"],
            FollowUp.slot == row["slot"])).first()
        if found is None:
            session.execute(insert(FollowUp).values(**row))
            new += 1
    return new


def schedule_followups_for(
    session: Session,
    target: PostTarget | int,
    *,
    runtime: Any = None,
    now: datetime | None = None,
) -> int:
    """Create the follow-ups of a published target (idempotent). The caller commits.

    :param target: the target row, or its id (the engine's hot path has only ids).
    :param runtime: gives the settings and the connector's capabilities;
        default :func:`clientnest.runtime.current`.
    :returns: how many follow-ups were created now (0 when they existed, the
        target is not published, or its connector has neither capability).
    """
    if runtime is None:
        from ..runtime import current

        runtime = current()
    if isinstance(target, int):
        row = session.execute(
            select(PostTarget.id, PostTarget.workspace_id, PostTarget.platform, PostTarget.status,
                   PostTarget.published_at, PostTarget.external_id).where(PostTarget.id == target)
        ).first()
        if row is None:
            return 0
        tid, wid, platform, status, published_at, external_id = row
    else:
        tid, wid, platform, status = target.id, target.workspace_id, target.platform, target.status
        published_at, external_id = target.published_at, target.external_id
    if status != TargetStatus.PUBLISHED or not external_id:
        return 0
    published_at = _aware(published_at) if published_at is not None else (now or utcnow())
    caps = _capabilities(runtime, platform)
    settings = runtime.settings
    created = now or utcnow()
    base = {"workspace_id": wid, "target_id": tid, "status": FollowUpStatus.PENDING.value, "runs": 0,
            "attempts": 0, "created_at": created}
    rows: list[dict[str, Any]] = []
    if Capability.METRICS in caps:
        for slot, due in enumerate(metrics_due_times(settings, published_at)):
            rows.append({**base, "kind": FollowUpKind.METRICS.value, "slot": slot, "due_at": due})
    if Capability.COMMENTS in caps and comment_poll_end(settings, published_at) > created:
        rows.append({**base, "kind": FollowUpKind.COMMENTS.value, "slot": 0,
                     "due_at": _first_comment_poll(settings, published_at)})
    return _insert_ignore(session, rows)


def targets_missing_followups(
    session: Session, runtime: Any, now: datetime, limit: int = 500
) -> list[int]:
    """Published targets of the polling window that have no follow-up yet
    although their connector could have some (published before this feature,
    or by a path that did not schedule them)."""
    platforms = [name for name, cls in runtime.plugins.connector_classes.items()
                 if set(cls.capabilities) & set(KIND_CAPABILITY.values())]
    if not platforms:
        return []
    horizon = max([runtime.settings.comment_poll_until_hours, *runtime.settings.metrics_schedule_hours])
    since = now - timedelta(hours=horizon)
    return list(session.scalars(
        select(PostTarget.id)
        .where(PostTarget.status == TargetStatus.PUBLISHED, PostTarget.platform.in_(platforms),
               PostTarget.published_at >= since, PostTarget.external_id.is_not(None),
               ~exists().where(FollowUp.target_id == PostTarget.id))
        .order_by(PostTarget.published_at)
        .limit(limit)
    ).all())
