"""Reconciliation: never send again what the platform may already have.

A publish attempt whose outcome is not known (the worker died and its lease
expired, the request timed out after sending, the platform answered 500 ...)
leaves the target ``unknown``. Before anything is sent again, the publish job
asks the platform through the connector's lookup hook
(``clientnest_find_published``) whether the post exists: found -> published,
with the platform's id; not found -> published again. Whether a target needs
this is read from its attempt log (:func:`unresolved_since`), so no path that
puts a target back in the queue can skip it.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from ..models import AttemptOutcome, PublishAttempt, PostTarget, TargetStatus
from .state import insert_audit_rows, target_event_rows

__all__ = ["LOOKUP_SKEW", "UNRESOLVED", "unresolved_since", "expire_leases", "abandon_attempts"]

#: look this far before our first attempt: the platform's clock may differ
LOOKUP_SKEW = timedelta(minutes=2)

#: publish attempts that may have reached the platform without us knowing
UNRESOLVED = frozenset({AttemptOutcome.STARTED, AttemptOutcome.AMBIGUOUS, AttemptOutcome.ABANDONED})
#: reconcile attempts that settle every publish attempt before them
SETTLING = frozenset({AttemptOutcome.FOUND, AttemptOutcome.NOT_FOUND})


def unresolved_since(attempts: Sequence[PublishAttempt]) -> datetime | None:
    """Start time of the first publish attempt (in ``number`` order) that may
    have reached the platform and was not settled by a later lookup; ``None``
    when it is safe to send."""
    since: datetime | None = None
    for a in sorted(attempts, key=lambda a: a.number):
        if a.kind == "publish" and a.outcome in UNRESOLVED:
            since = since or a.started_at
        elif a.kind == "reconcile" and a.outcome in SETTLING:
            since = None
    return since


def expire_leases(session: Session, now: datetime) -> int:
    """Targets left ``publishing`` past their lease (the worker died or hung)
    become ``unknown``, due now: the next publish job reconciles them. The
    attempt that was running is marked ``abandoned``. The caller commits."""
    rows = session.execute(
        update(PostTarget)
        .where(PostTarget.status == TargetStatus.PUBLISHING, PostTarget.lease_expires_at < now)
        .values(status=TargetStatus.UNKNOWN, lease_expires_at=None, next_attempt_at=now, updated_at=now)
        .returning(PostTarget.id, PostTarget.post_id, PostTarget.workspace_id)
        .execution_options(synchronize_session=False)
    ).all()
    if not rows:
        return 0
    ids = [r.id for r in rows]
    session.execute(
        update(PublishAttempt)
        .where(PublishAttempt.target_id.in_(ids), PublishAttempt.outcome == AttemptOutcome.STARTED)
        .values(outcome=AttemptOutcome.ABANDONED, finished_at=now, error={
            "kind": "abandoned",
            "message": "the worker stopped before recording the outcome; asking the platform before sending again",
        })
        .execution_options(synchronize_session=False)
    )
    insert_audit_rows(session, target_event_rows(
        [(r.id, r.post_id, r.workspace_id) for r in rows],
        TargetStatus.PUBLISHING, TargetStatus.UNKNOWN, now, actor="system", reason="lease expired",
    ))
    # publishing -> unknown keeps every post "publishing": no post status change
    return len(rows)


_ABANDONED_BY_DEAD_WORKER = {
    "kind": "abandoned",
    "message": "the worker died before recording the outcome; asking the platform before sending again",
}


def abandon_attempts(session: Session, held: Sequence[tuple[int, int]], now: datetime, due: datetime, *,
                     reason: str) -> list[int]:
    """Targets whose holder is known to be dead (its heartbeat stopped):
    ``publishing -> unknown`` at once, due at ``due``, their running attempt
    marked ``abandoned``; the next publish job looks them up before anything
    is sent again. ``held`` is ``(target id, attempt number)``: a target the
    holder has meanwhile moved on from (another attempt, another status) is
    left alone. Returns the targets changed; the caller commits."""
    changed: list[tuple[int, int, int]] = []
    for target_id, number in held:
        row = session.execute(
            update(PostTarget)
            .where(PostTarget.id == target_id, PostTarget.status == TargetStatus.PUBLISHING,
                   PostTarget.attempts == number)
            .values(status=TargetStatus.UNKNOWN, lease_expires_at=None, next_attempt_at=due, updated_at=now)
            .returning(PostTarget.id, PostTarget.post_id, PostTarget.workspace_id)
            .execution_options(synchronize_session=False)
        ).first()
        if row is None:
            continue
        session.execute(
            update(PublishAttempt)
            .where(PublishAttempt.target_id == target_id, PublishAttempt.number == number,
                   PublishAttempt.outcome == AttemptOutcome.STARTED)
            .values(outcome=AttemptOutcome.ABANDONED, finished_at=now, error=_ABANDONED_BY_DEAD_WORKER)
            .execution_options(synchronize_session=False)
        )
        changed.append((row.id, row.post_id, row.workspace_id))
    insert_audit_rows(session, target_event_rows(
        changed, TargetStatus.PUBLISHING, TargetStatus.UNKNOWN, now, actor="system", reason=reason))
    return [c[0] for c in changed]
