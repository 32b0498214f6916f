"""Audit events: who did what to which object, and when."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from .models import AuditEvent

__all__ = ["record"]


def record(
    session: Session,
    action: str,
    object_type: str,
    object_id: Any = None,
    *,
    workspace_id: int | None = None,
    user_id: int | None = None,
    actor: str = "user",
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to ``session`` (committed with the change it records).

    ``data`` must never hold secrets; callers pass ids and statuses only.
    """
    ev = AuditEvent(
        workspace_id=workspace_id,
        actor_user_id=user_id,
        actor=actor if user_id is None or actor != "user" else "user",
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        data=data or {},
    )
    session.add(ev)
    return ev
