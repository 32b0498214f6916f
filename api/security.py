"""Bearer-token authentication and workspace roles, in one place.

Roles, lowest to highest: viewer < editor < admin < owner. A route names the
lowest role it needs. A non-member gets 404 for every workspace route (the
workspace's existence is not revealed); a member below the role gets 403.
The matrix is documented in docs/roles.md.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from flask import g, request
from flask_smorest import abort
from sqlalchemy import and_, select

from clientnest.crypto import hash_token
from clientnest.db import utcnow
from clientnest.models import ApiToken, Membership, Role, User, Workspace

from .db_session import session

__all__ = ["auth_required", "current_user", "workspace_access", "ROLE_RANK", "role_at_least"]

F = TypeVar("F", bound=Callable[..., Any])

ROLE_RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.ADMIN: 2, Role.OWNER: 3}
# last_used_at is written at most this often per token, so reads stay reads
_LAST_USED_GRANULARITY = timedelta(seconds=60)


def role_at_least(role: str, minimum: Role) -> bool:
    return ROLE_RANK[Role(role)] >= ROLE_RANK[minimum]


def _unauthorized(message: str) -> None:
    abort(401, message=message, headers={"WWW-Authenticate": 'Bearer realm="clientnest"'})


def _authenticate(wid: int | None = None) -> tuple[User, Workspace | None, Membership | None]:
    """Check the bearer token. With ``wid``, the caller's membership of that
    workspace comes back from the same query (one round trip per request)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        _unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    s = session()
    q = (
        select(ApiToken, User).join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == hash_token(token.strip()))
    )
    if wid is not None:
        q = (
            q.add_columns(Workspace, Membership)
            .outerjoin(Membership, and_(Membership.user_id == User.id, Membership.workspace_id == wid))
            .outerjoin(Workspace, Workspace.id == Membership.workspace_id)
        )
    row = s.execute(q).first()
    if row is None:
        _unauthorized("invalid or revoked token")
    tok, user = row[0], row[1]
    now = utcnow()
    if tok.expires_at is not None and tok.expires_at <= now:
        _unauthorized("token expired")
    if tok.last_used_at is None or now - tok.last_used_at > _LAST_USED_GRANULARITY:
        tok.last_used_at = now
        s.commit()
    g.user, g.token = user, tok
    if wid is None:
        return user, None, None
    return user, row[2], row[3]


def auth_required(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if g.get("user") is None:  # an outer access check may have authenticated already
            _authenticate()
        return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def current_user() -> User:
    user = g.get("user")
    if user is None:
        user = _authenticate()[0]
    return user


def workspace_access(wid: int, minimum: Role = Role.VIEWER) -> tuple[Workspace, Membership]:
    """The workspace and the caller's membership, or 404 / 403."""
    user = g.get("user")
    if user is None:
        _, ws, membership = _authenticate(wid)
    else:
        row = session().execute(
            select(Workspace, Membership)
            .join(Membership, Membership.workspace_id == Workspace.id)
            .where(Workspace.id == wid, Membership.user_id == user.id)
        ).first()
        ws, membership = row if row is not None else (None, None)
    if ws is None or membership is None:
        abort(404, message=f"workspace {wid} not found")
    if not role_at_least(membership.role, minimum):
        abort(403, message=f"this needs the {minimum.value} role or higher; you are {membership.role}")
    g.workspace, g.membership = ws, membership
    return ws, membership
