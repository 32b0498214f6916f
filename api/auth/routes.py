"""/api/v1/auth and /api/v1/me: registration, API tokens, the caller.

Registration and token creation take no bearer token (credentials travel in
the body) and are rate-limited: per client address, and for token creation per
email too (``settings.login_rate_limit`` per minute; 429 with Retry-After).
"""
from __future__ import annotations

import logging
from typing import Any

from flask import g, request
from flask_smorest import abort

from clientnest.models import Role
from clientnest.ratelimit import key_for, limiter_for
from clientnest.services import identity

from ..db_session import runtime, session
from ..extensions import Blueprint
from ..security import auth_required, current_user
from ..workspaces.schemas import workspace_out
from .errors import identity_errors
from .schemas import (
    MeSchema,
    RegisteredSchema,
    RegisterSchema,
    TokenCreatedSchema,
    TokenCreateSchema,
    TokenSchema,
)

__all__ = ["blp"]

log = logging.getLogger(__name__)

blp = Blueprint(
    "auth", __name__, url_prefix="/api/v1",
    description="Registration, API tokens (shown once, stored hashed) and the caller's identity",
)


def _client_address() -> str:
    # request.remote_addr: behind a proxy, deploy with werkzeug's ProxyFix so
    # this is the client and not the proxy
    return request.remote_addr or "unknown"


def _rate_limit(action: str, *keys: str) -> None:
    decision = limiter_for(runtime()).hit(*keys)
    if not decision.allowed:
        log.warning("rate limit: %s refused (%d attempts this window)", action, decision.count)
        abort(
            429,
            message=f"too many {action} attempts; try again in {decision.retry_after} seconds",
            headers={"Retry-After": str(decision.retry_after)},
        )


@blp.route("/auth/register", methods=["POST"])
@blp.doc(security=[])
@blp.arguments(RegisterSchema)
@blp.response(201, RegisteredSchema)
@blp.alt_response(409, response="CONFLICT", description="an account with this email exists")
@blp.alt_response(429, response="TOO_MANY_REQUESTS")
def register(data: dict[str, Any]) -> Any:
    """Create an account, its first workspace (you own it) and a first API token.

    The token is in this response only; it is stored as a SHA-256 hash.
    """
    _rate_limit("registration", key_for("register:addr", _client_address()))
    with identity_errors():
        user, ws, issued = identity.register(session(), **data)
    return {"user": user, "workspace": workspace_out(ws, Role.OWNER), "token": issued.secret}


@blp.route("/auth/tokens", methods=["POST"])
@blp.doc(security=[])
@blp.arguments(TokenCreateSchema)
@blp.response(201, TokenCreatedSchema)
@blp.alt_response(401, response="UNAUTHORIZED", description="wrong email or password")
@blp.alt_response(429, response="TOO_MANY_REQUESTS")
def create_token(data: dict[str, Any]) -> Any:
    """Create an API token from email and password (no bearer token needed).

    The token is in this response only. Without ``expires_at`` or
    ``expires_in_days`` it does not expire.
    """
    _rate_limit("login", key_for("login:email", data["email"]), key_for("login:addr", _client_address()))
    s = session()
    with identity_errors():
        user = identity.authenticate(s, data["email"], data["password"])
    issued = identity.issue_token(s, user, label=data["label"], expires_at=TokenCreateSchema.expiry(data))
    row = issued.row
    return {
        "id": row.id, "token": issued.secret, "label": row.label, "prefix": row.prefix,
        "created_at": row.created_at, "expires_at": row.expires_at,
    }


@blp.route("/auth/tokens", methods=["GET"])
@auth_required
@blp.response(200, TokenSchema(many=True))
def list_tokens() -> Any:
    """Your API tokens: labels, prefixes and dates; never the tokens themselves."""
    used = g.token.id
    return [
        {"id": t.id, "label": t.label, "prefix": t.prefix, "created_at": t.created_at,
         "expires_at": t.expires_at, "last_used_at": t.last_used_at, "current": t.id == used}
        for t in identity.list_tokens(session(), current_user())
    ]


@blp.route("/auth/tokens/<int:token_id>", methods=["DELETE"])
@auth_required
@blp.response(204)
@blp.alt_response(404, response="NOT_FOUND")
def revoke_token(token_id: int) -> None:
    """Revoke one of your tokens; it stops working at once (the one in use too)."""
    with identity_errors():
        identity.revoke_token(session(), current_user(), token_id)


@blp.route("/me", methods=["GET"])
@auth_required
@blp.response(200, MeSchema)
def me() -> Any:
    """You, and your workspaces with your role in each."""
    user = current_user()
    return {
        "user": user,
        "workspaces": [
            {"id": ws.id, "name": ws.name, "timezone": ws.timezone, "role": role}
            for ws, role in identity.workspaces_of(session(), user)
        ],
    }
