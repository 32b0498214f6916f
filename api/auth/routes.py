"""/api/v1/auth and /api/v1/me: registration, API tokens, the caller.

Registration and token creation take no bearer token (credentials travel in
the body) and are rate-limited (429 with Retry-After; see :mod:`.login`).

Registration answers 202 with one message whether the email was new or
already had an account (nothing changes then): it does not tell who has an
account. The new user then creates a token with ``POST /api/v1/auth/tokens``.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import g

from clientnest.ratelimit import key_for
from clientnest.services import identity

from ..db_session import session
from ..extensions import Blueprint
from ..security import auth_required, current_user
from .errors import identity_errors
from .login import client_address, log_in, rate_limit
from .schemas import (
    MeSchema,
    RegisterSchema,
    RegistrationAcceptedSchema,
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


REGISTRATION_MESSAGE = (
    "Registration received. If this email had no account, it now has one, with its first workspace "
    "(you own it). If it already had one, nothing was changed."
)
REGISTRATION_NEXT = "POST /api/v1/auth/tokens with this email and password to get an API token"


@blp.route("/auth/register", methods=["POST"])
@blp.doc(security=[])
@blp.arguments(RegisterSchema)
@blp.response(202, RegistrationAcceptedSchema)
@blp.alt_response(429, response="TOO_MANY_REQUESTS")
def register(data: dict[str, Any]) -> Any:
    """Create an account and its first workspace (you own it).

    The answer is the same whether or not the email already had an account
    (then nothing changes), so it tells no one who has one. Get an API token
    next with ``POST /api/v1/auth/tokens`` (email and password).
    """
    rate_limit("registration", ("login", key_for("register:addr", client_address())))
    with identity_errors():
        identity.register(session(), **data)
    return {"message": REGISTRATION_MESSAGE, "next": REGISTRATION_NEXT}


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
    issued = log_in(data["email"], data["password"], label=data["label"], expires_at=TokenCreateSchema.expiry(data))
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
