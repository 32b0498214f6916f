"""/api/v1/auth/session: sign a browser in and out.

The web app uses these like any API client may: the session is an API token
(label ``browser session``, expiring after :data:`~..cookies.SESSION_LIFETIME`)
held in an HttpOnly cookie, with a CSRF cookie beside it (see
:mod:`clientnest.api.cookies`). Sign-in runs the token route's own code
(``POST /api/v1/auth/tokens``): its login rate limits and credential check.
"""
from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify, request

from clientnest.db import utcnow
from clientnest.models import User
from clientnest.services import identity

from ..auth.login import log_in
from ..auth.errors import identity_errors
from ..cookies import (
    CSRF_COOKIE,
    CSRF_HEADER,
    SESSION_COOKIE,
    SESSION_LABEL,
    SESSION_LIFETIME,
    cookie_options,
)
from ..db_session import connection, runtime, session
from ..extensions import Blueprint
from ..security import AuthFailure, Caller, auth_required, csrf_signer, current_user, find_caller
from .schemas import MeSchema, SessionCreateSchema

__all__ = ["blp"]

blp = Blueprint(
    "session", __name__, url_prefix="/api/v1",
    description=(
        "Browser sessions: sign in with email and password to get an HttpOnly session cookie "
        f"({SESSION_COOKIE}) and a readable CSRF cookie ({CSRF_COOKIE}). Requests signed in by the "
        f"cookie that change something (POST, PUT, PATCH, DELETE) must send the CSRF cookie's value "
        f"in the {CSRF_HEADER} header. Bearer tokens never need it."
    ),
)

_ME = MeSchema()


def _me(user: Caller | User) -> dict[str, Any]:
    """The body of GET /api/v1/me."""
    return _ME.dump({
        "user": user,
        "workspaces": [
            {"id": ws.id, "name": ws.name, "timezone": ws.timezone, "role": role}
            for ws, role in identity.workspaces_of(session(), user)  # type: ignore[arg-type]
        ],
    })


def _set_cookies(resp: Response, token: str, max_age: int) -> None:
    opts = cookie_options(runtime().settings.public_url)
    resp.set_cookie(SESSION_COOKIE, token, max_age=max_age, httponly=True, **opts)  # type: ignore[arg-type]
    resp.set_cookie(CSRF_COOKIE, csrf_signer().value_for(token), max_age=max_age, **opts)  # type: ignore[arg-type]


def _clear_cookies(resp: Response) -> None:
    opts = cookie_options(runtime().settings.public_url)
    resp.delete_cookie(SESSION_COOKIE, httponly=True, **opts)  # type: ignore[arg-type]
    resp.delete_cookie(CSRF_COOKIE, **opts)  # type: ignore[arg-type]


def _seconds_left(expires_at: Any) -> int:
    return max(0, int((expires_at - utcnow()).total_seconds())) if expires_at else int(SESSION_LIFETIME.total_seconds())


@blp.route("/auth/session", methods=["POST"])
@blp.doc(security=[])
@blp.arguments(SessionCreateSchema)
@blp.response(200, MeSchema, headers={"Set-Cookie": {"description": f"{SESSION_COOKIE} (HttpOnly) and {CSRF_COOKIE}", "schema": {"type": "string"}}})
@blp.alt_response(401, response="UNAUTHORIZED", description="wrong email or password")
@blp.alt_response(429, response="TOO_MANY_REQUESTS")
def sign_in(data: dict[str, Any]) -> Any:
    """Sign a browser in: sets the session and CSRF cookies; answers you, as GET /me does.

    The session lasts 14 days and is listed among your tokens (label
    "browser session"); DELETE /auth/session or revoking that token ends it.
    """
    # one login, two ways to hold it: the session is a token made by the same
    # login as POST /auth/tokens (its rate limits and credential check)
    secret = log_in(data["email"], data["password"], label=SESSION_LABEL,
                    expires_at=utcnow() + SESSION_LIFETIME).secret
    resp = jsonify(_me(find_caller(connection(), secret).user))
    _set_cookies(resp, secret, int(SESSION_LIFETIME.total_seconds()))
    resp.headers["Cache-Control"] = "no-store"
    return resp


@blp.route("/auth/session", methods=["GET"])
@auth_required
@blp.response(200, MeSchema)
@blp.alt_response(401, response="UNAUTHORIZED", description="not signed in (or the session ended)")
def current_session() -> Any:
    """You, as GET /me answers, if signed in; else 401.

    Signed in by the cookie, the answer sets the CSRF cookie again, so an app
    that lost it (or a key rotation) needs no new sign-in.
    """
    resp = jsonify(_me(current_user()))
    if g.by_cookie:
        _set_cookies(resp, request.cookies[SESSION_COOKIE], _seconds_left(g.token.expires_at))
    resp.headers["Cache-Control"] = "no-store"
    return resp


@blp.route("/auth/session", methods=["DELETE"])
@blp.doc(security=[])
@blp.response(204)
@blp.alt_response(403, response="FORBIDDEN", description=f"signed in by the cookie without the {CSRF_HEADER} header")
def sign_out() -> Any:
    """Sign the browser out: revokes the session and clears both cookies.

    Needs the CSRF header while the session is valid. Without a session (or
    with one that already ended) it only clears the cookies; a bearer token
    is never revoked here (use DELETE /auth/tokens/{id}).
    """
    token = request.cookies.get(SESSION_COOKIE, "")
    if token:
        try:
            find_caller(connection(), token)
        except AuthFailure:
            token = ""  # already ended: nothing to revoke, only cookies to clear
    if token and "Authorization" not in request.headers:
        current_user()  # authenticates by the cookie: checks the CSRF header
        with identity_errors():
            identity.revoke_token(session(), current_user(), g.token.id)  # type: ignore[arg-type]
    resp = Response(status=204)
    _clear_cookies(resp)
    return resp
