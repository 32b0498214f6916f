"""Authentication (bearer token or browser session cookie) and workspace
roles, in one place.

Roles, lowest to highest: viewer < editor < admin < owner. A route names the
lowest role it needs. A non-member gets 404 for every workspace route (the
workspace's existence is not revealed); a member below the role gets 403.
The matrix is documented in docs/roles.md.

Every request checks its token against the database (revoking a token or
reaching its expiry takes effect on the next request): one Core query that
also brings the caller's membership of the URL's workspace (``<int:wid>``),
read into plain read-only rows, not ORM entities. A route that changes the
workspace loads the entity itself.

A request without an ``Authorization`` header is authenticated by the
browser session cookie (:mod:`.cookies`); such a request with an unsafe
method must carry the CSRF header. A bearer token never needs it: a browser
does not add an ``Authorization`` header to a cross-site request by itself.
:func:`find_caller` is the check without Flask, for the events server.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple, NoReturn, TypeVar

from flask import current_app, g, request
from flask_smorest import abort
from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.engine import Connection

from clientnest.crypto import hash_token
from clientnest.db import utcnow
from clientnest.models import ApiToken, Membership, Role, User, Workspace

from .cookies import CSRF_HEADER, SESSION_COOKIE, UNSAFE_METHODS, CsrfSigner
from .db_session import connection, runtime

__all__ = [
    "auth_required", "current_user", "workspace_access", "ROLE_RANK", "role_at_least",
    "Caller", "CallerToken", "WorkspaceRow", "MembershipRow",
    "Authenticated", "AuthFailure", "find_caller", "csrf_signer", "credentials",
]

F = TypeVar("F", bound=Callable[..., Any])

ROLE_RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.ADMIN: 2, Role.OWNER: 3}
# last_used_at is written at most this often per token, so reads stay reads
_LAST_USED_GRANULARITY = timedelta(seconds=60)


class CallerToken(NamedTuple):
    """``g.token``: the API token of the request."""

    id: int
    expires_at: datetime | None
    last_used_at: datetime | None


class Caller(NamedTuple):
    """``g.user`` and :func:`current_user`: the signed-in user (every
    column of :class:`User` but the password hash)."""

    id: int
    email: str
    name: str
    created_at: datetime


class WorkspaceRow(NamedTuple):
    """``g.workspace``: every column of the request's :class:`Workspace`."""

    id: int
    name: str
    timezone: str
    ai_budget_usd: Decimal
    brand_voice: str
    reply_rules: list[str]
    created_at: datetime
    reply_mode: str


class MembershipRow(NamedTuple):
    """``g.membership``: every column of the caller's :class:`Membership`."""

    id: int
    workspace_id: int
    user_id: int
    role: str
    created_at: datetime


def _columns(model: type, row: type[tuple[Any, ...]]) -> list[Any]:
    return [getattr(model, name) for name in row._fields]  # type: ignore[attr-defined]


_USER_AT = len(CallerToken._fields)
_WORKSPACE_AT = _USER_AT + len(Caller._fields)
_MEMBERSHIP_AT = _WORKSPACE_AT + len(WorkspaceRow._fields)

_AUTH = (
    select(*_columns(ApiToken, CallerToken), *_columns(User, Caller))
    .join(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash == bindparam("token_hash"))
)
_AUTH_IN_WORKSPACE = (
    _AUTH.add_columns(*_columns(Workspace, WorkspaceRow), *_columns(Membership, MembershipRow))
    .outerjoin(Membership, and_(Membership.user_id == User.id, Membership.workspace_id == bindparam("wid")))
    .outerjoin(Workspace, Workspace.id == Membership.workspace_id)
)
_TOUCH = update(ApiToken).where(ApiToken.id == bindparam("token_id")).values(last_used_at=bindparam("now"))


def role_at_least(role: str, minimum: Role) -> bool:
    return ROLE_RANK[Role(role)] >= ROLE_RANK[minimum]


class AuthFailure(Exception):
    """The credentials were refused; ``str(exc)`` is safe to show the caller."""


class Authenticated(NamedTuple):
    """What :func:`find_caller` found: the token, its user and, on a
    workspace route, the caller's workspace and membership (``None`` for a
    non-member)."""

    token: CallerToken
    user: Caller
    member_of: tuple[WorkspaceRow, MembershipRow] | None


def find_caller(conn: Connection, token: str, wid: int | None = None) -> Authenticated:
    """Check ``token`` against the database (one query; with ``wid`` it also
    brings the caller's membership of that workspace) and note its use.

    :raises AuthFailure: unknown, revoked or expired token.
    """
    if wid is None:
        row = conn.execute(_AUTH, {"token_hash": hash_token(token)}).first()
    else:
        row = conn.execute(_AUTH_IN_WORKSPACE, {"token_hash": hash_token(token), "wid": wid}).first()
    if row is None:
        raise AuthFailure("invalid or revoked token")
    tok = CallerToken._make(row[:_USER_AT])
    now = utcnow()
    if tok.expires_at is not None and tok.expires_at <= now:
        raise AuthFailure("token expired")
    if tok.last_used_at is None or now - tok.last_used_at > _LAST_USED_GRANULARITY:
        conn.execute(_TOUCH, {"token_id": tok.id, "now": now})
        conn.commit()
    user = Caller._make(row[_USER_AT:_WORKSPACE_AT])
    return Authenticated(tok, user, _member_of(row) if wid is not None else None)


def csrf_signer() -> CsrfSigner:
    """The app's CSRF signer (built once per app)."""
    signer = current_app.extensions.get("clientnest_csrf")
    if signer is None:
        signer = current_app.extensions["clientnest_csrf"] = CsrfSigner.for_settings(runtime().settings)
    return signer


def _unauthorized(message: str) -> NoReturn:
    abort(401, message=message, headers={"WWW-Authenticate": 'Bearer realm="clientnest"'})


def credentials() -> tuple[str, bool]:
    """The request's token and whether it came from the session cookie (401
    when there is neither)."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            _unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
        return token, False
    cookie = request.cookies.get(SESSION_COOKIE, "")
    if not cookie:
        _unauthorized("missing bearer token: send 'Authorization: Bearer <token>' "
                      "(or sign in with POST /api/v1/auth/session for a session cookie)")
    return cookie, True


def _authenticate() -> None:
    """Check the bearer token or the session cookie; set ``g.user`` and
    ``g.token``. On a workspace route the caller's membership of the URL's
    workspace comes back from the same query (one round trip per request)
    and waits in ``g`` for :func:`workspace_access`."""
    token, by_cookie = credentials()
    wid = (request.view_args or {}).get("wid")
    try:
        found = find_caller(connection(), token, wid)
    except AuthFailure as exc:
        _unauthorized(str(exc))
    if by_cookie and request.method in UNSAFE_METHODS:
        # checked after the session itself: a stale cookie gets 401 (sign in
        # again), not a CSRF error
        if not csrf_signer().verify(token, request.headers.get(CSRF_HEADER)):
            abort(403, message=f"missing or wrong {CSRF_HEADER} header: a request signed in by the session "
                               f"cookie that changes something must send the value of the clientnest_csrf "
                               f"cookie in the {CSRF_HEADER} header")
    g.user, g.token, g.by_cookie = found.user, found.token, by_cookie
    if wid is not None:
        g.member_of = found.member_of


def _member_of(row: Any) -> tuple[WorkspaceRow, MembershipRow] | None:
    """The workspace and membership columns of an authentication row; ``None``
    for a non-member (or a workspace that does not exist)."""
    if row[_MEMBERSHIP_AT] is None:
        return None
    return WorkspaceRow._make(row[_WORKSPACE_AT:_MEMBERSHIP_AT]), MembershipRow._make(row[_MEMBERSHIP_AT:])


def auth_required(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if g.get("user") is None:  # an outer access check may have authenticated already
            _authenticate()
        return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def current_user() -> Caller:
    if g.get("user") is None:
        _authenticate()
    return g.user


def workspace_access(minimum: Role = Role.VIEWER) -> tuple[WorkspaceRow, MembershipRow]:
    """The URL's workspace (``<int:wid>``) and the caller's membership, or
    401 / 404 / 403; also in ``g.workspace`` and ``g.membership``."""
    if g.get("user") is None:
        _authenticate()
    access = g.member_of  # set by _authenticate on every route with <int:wid>
    if access is None:
        abort(404, message=f"workspace {request.view_args['wid']} not found")  # type: ignore[index]
    ws, membership = access
    if not role_at_least(membership.role, minimum):
        abort(403, message=f"this needs the {minimum.value} role or higher; you are {membership.role}")
    g.workspace, g.membership = ws, membership
    return ws, membership
