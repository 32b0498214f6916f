"""Target state changes shared by the dispatcher, the jobs and the accounts API:
audit events, post status refresh, holding and releasing an account's targets.

Every change of a target's status is an audit event ``target.<new status>``
with ``from``/``to`` in its data. The post's status is derived from its
targets with :func:`clientnest.services.post_status.derive_post_status`, the
rule of :func:`~clientnest.services.post_status.refresh_post_status`; the
engine applies it with Core statements (:func:`refresh_post`,
:func:`refresh_post_statuses`) because it runs once or twice per published
post and the ORM version costs several milliseconds of CPU each time.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from .. import events
from ..db import utcnow
from ..models import AuditEvent, Post, PostTarget, TargetStatus
from ..services.post_status import IN_FLIGHT, derive_post_status

__all__ = [
    "PENDING",
    "target_event",
    "target_event_row",
    "target_event_rows",
    "refresh_post_statuses",
    "refresh_post",
    "hold_pending_targets",
    "release_held_targets",
]

#: targets that would still be sent: held when their account needs reconnecting
PENDING = (TargetStatus.SCHEDULED, TargetStatus.QUEUED, TargetStatus.UNKNOWN)

_CHUNK = 1000

#: the hot path runs on a Core connection, the rest on ORM sessions: both execute statements
Executor = Session | Connection


def target_event_row(
    *,
    target_id: int,
    workspace_id: int,
    post_id: int,
    frm: str,
    to: str,
    actor: str = "worker",
    user_id: int | None = None,
    **data: Any,
) -> dict[str, Any]:
    """The audit row of one target status change (``target.<to>``), as
    :func:`clientnest.audit.record` would write it."""
    return {
        "workspace_id": workspace_id,
        "actor_user_id": user_id,
        "actor": actor if user_id is None or actor != "user" else "user",
        "action": f"target.{to}",
        "object_type": "post_target",
        "object_id": str(target_id),
        "data": {"post_id": post_id, "from": str(frm), "to": str(to), **data},
        "created_at": utcnow(),
    }


def target_event(session: Executor, **kw: Any) -> None:
    """Record the audit event of one target status change (one Core INSERT)."""
    insert_audit_rows(session, [target_event_row(**kw)])


def target_event_rows(
    rows: Iterable[tuple[int, int, int]], frm: str, to: str, now: datetime, actor: str = "system", **data: Any
) -> list[dict[str, Any]]:
    """Audit rows for a bulk change; ``rows`` are ``(target_id, post_id, workspace_id)``."""
    return [
        {
            "workspace_id": ws,
            "actor_user_id": None,
            "actor": actor,
            "action": f"target.{to}",
            "object_type": "post_target",
            "object_id": str(tid),
            "data": {"post_id": pid, "from": str(frm), "to": str(to), **data},
            "created_at": now,
        }
        for tid, pid, ws in rows
    ]


_AUDIT = insert(AuditEvent.__table__)
_P, _T = Post.__table__, PostTarget.__table__
# Lock the post row first, then read its targets in a new statement: on
# PostgreSQL (READ COMMITTED) the read then sees every target change committed
# by whoever held the lock before, so two jobs settling two targets of one
# post at once cannot both derive the status from a half-updated picture
# (SQLite runs one writer at a time and needs no lock).
_LOCK_POST = select(_P.c.status, _P.c.workspace_id).where(_P.c.id == bindparam("p_post")).with_for_update()
_TARGET_STATUSES = select(_T.c.status).where(_T.c.post_id == bindparam("p_post"))
_SET_POST_STATUS = update(_P).where(_P.c.id == bindparam("p_post")).values(
    status=bindparam("p_status"), updated_at=bindparam("p_now"))


def insert_audit_rows(session: Executor, rows: Sequence[dict[str, Any]]) -> None:
    """Insert audit events with a Core statement (no ORM unit of work).

    Every target and post status change passes here, so this is where the
    live events of those changes are staged (published once committed)."""
    if rows:
        session.execute(_AUDIT, list(rows))
        events.stage(session, rows)


def refresh_post(session: Executor, post_id: int, actor: str = "worker", now: datetime | None = None,
                 events: Sequence[dict[str, Any]] = (), user_id: int | None = None) -> str | None:
    """:func:`refresh_post_status` for one post with Core statements (the
    publish job's hot path): the same rule (:func:`derive_post_status`), the
    same audit event, written in one INSERT with ``events`` (the target's own
    audit rows). Returns the post's status."""
    rows = list(events)
    post = session.execute(_LOCK_POST, {"p_post": post_id}).first()
    new = None
    if post is not None:
        old, ws = post
        new = derive_post_status(session.execute(_TARGET_STATUSES, {"p_post": post_id}).scalars())
        if new != old:
            now = now or utcnow()
            session.execute(_SET_POST_STATUS, {"p_post": post_id, "p_status": new, "p_now": now})
            rows.append({
                "workspace_id": ws, "actor_user_id": user_id, "actor": actor, "action": "post.status_changed",
                "object_type": "post", "object_id": str(post_id),
                "data": {"from": str(old) if old is not None else None, "to": str(new)}, "created_at": now,
            })
    insert_audit_rows(session, rows)
    return new


def refresh_post_statuses(session: Executor, post_ids: Iterable[int], *, actor: str = "system", now: datetime | None = None) -> int:
    """:func:`refresh_post_status` for many posts in a few statements (the
    dispatcher claims hundreds of targets at once). Same rule, same audit
    event; returns how many posts changed status."""
    now = now or utcnow()
    ids = sorted(set(post_ids))
    changed = 0
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i:i + _CHUNK]
        # lock the posts (in id order: no deadlock between dispatchers), then
        # read their targets afresh: see _LOCK_POST
        posts = session.execute(
            select(_P.c.id, _P.c.status, _P.c.workspace_id).where(_P.c.id.in_(chunk))
            .order_by(_P.c.id).with_for_update()
        ).all()
        statuses: dict[int, list[str]] = {pid: [] for pid in chunk}
        for pid, st in session.execute(select(_T.c.post_id, _T.c.status).where(_T.c.post_id.in_(chunk))):
            statuses[pid].append(st)
        updates: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for pid, old, ws in posts:
            new = derive_post_status(statuses[pid])
            if new != old:
                updates.append({"pid": pid, "new_status": new, "ts": now})
                events.append({
                    "workspace_id": ws, "actor_user_id": None, "actor": actor,
                    "action": "post.status_changed", "object_type": "post", "object_id": str(pid),
                    "data": {"from": str(old) if old is not None else None, "to": str(new)},
                    "created_at": now,
                })
        if updates:
            p = Post.__table__
            session.execute(update(p).where(p.c.id == bindparam("pid"))
                            .values(status=bindparam("new_status"), updated_at=bindparam("ts")), updates)
            insert_audit_rows(session, events)
            changed += len(updates)
    return changed


def hold_pending_targets(
    session: Session, account_id: int, message: str, *, actor: str = "worker", now: datetime | None = None
) -> list[int]:
    """Hold every target of an account that would still be sent (its account
    needs reconnecting). A queued target's job then finds nothing to do; an
    ``unknown`` one keeps its unresolved attempt, so it is reconciled, not
    re-sent, once released. The caller commits."""
    now = now or utcnow()
    rows = session.execute(
        select(PostTarget.id, PostTarget.status, PostTarget.post_id, PostTarget.workspace_id)
        .where(PostTarget.account_id == account_id, PostTarget.status.in_(PENDING))
    ).all()
    if not rows:
        return []
    held = session.execute(
        update(PostTarget)
        .where(PostTarget.id.in_([r.id for r in rows]), PostTarget.status.in_(PENDING))
        .values(status=TargetStatus.HELD, next_attempt_at=None, updated_at=now,
                last_error={"kind": "auth", "message": message})
        .returning(PostTarget.id)
    ).scalars().all()
    held_set = set(held)
    events = []
    for r in rows:
        if r.id in held_set:
            events += target_event_rows([(r.id, r.post_id, r.workspace_id)], r.status, TargetStatus.HELD, now,
                                        actor=actor, reason="account needs reconnecting")
    insert_audit_rows(session, events)
    refresh_post_statuses(session, [r.post_id for r in rows if r.id in held_set], actor=actor, now=now)
    return sorted(held_set)


def release_held_targets(
    session: Session, account_id: int, *, actor: str = "user", user_id: int | None = None, now: datetime | None = None
) -> list[int]:
    """Once an account is reconnected: its held targets are scheduled again,
    due now (a target whose time has passed beyond the lateness limit then
    fails with "missed its time"). The accounts API calls this; the caller
    commits."""
    now = now or utcnow()
    rows = session.execute(
        update(PostTarget)
        .where(PostTarget.account_id == account_id, PostTarget.status == TargetStatus.HELD)
        # due again at its own time, or now if that has passed: a post held
        # for next week must not go out the moment the account comes back
        .values(status=TargetStatus.SCHEDULED,
                next_attempt_at=case((PostTarget.scheduled_at > now, PostTarget.scheduled_at), else_=now),
                last_error=None, updated_at=now)
        .returning(PostTarget.id, PostTarget.post_id, PostTarget.workspace_id)
    ).all()
    if not rows:
        return []
    events = target_event_rows([(r.id, r.post_id, r.workspace_id) for r in rows],
                               TargetStatus.HELD, TargetStatus.SCHEDULED, now, actor=actor, reason="account reconnected")
    if user_id is not None:
        for e in events:
            e["actor_user_id"] = user_id
    insert_audit_rows(session, events)
    refresh_post_statuses(session, [r.post_id for r in rows], actor=actor, now=now)
    return [r.id for r in rows]


def settles_post(status: str) -> bool:
    """Whether moving a target to ``status`` may change its post's status
    (moves between in-flight statuses never do)."""
    return status not in IN_FLIGHT
