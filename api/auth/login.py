"""Signing in with email and password: the rate limits and the credential
check, in one place for ``POST /api/v1/auth/tokens`` and the browser's
``POST /api/v1/auth/session`` (and the per-address limit of registration).

- registration: per client address (``settings.login_rate_limit`` a minute);
- sign-in: per account *and* address together (``login_rate_limit``), so
  failures from one address lock only that address out of the account, never
  its owner elsewhere; and per address over all accounts
  (``login_address_rate_limit``).
"""
from __future__ import annotations

import logging
from datetime import datetime

from flask import request
from flask_smorest import abort

from clientnest.ratelimit import key_for, limiter_for
from clientnest.services import identity

from ..db_session import runtime, session
from .errors import identity_errors

__all__ = ["client_address", "rate_limit", "log_in"]

log = logging.getLogger(__name__)


def client_address() -> str:
    # request.remote_addr: behind a proxy, deploy with werkzeug's ProxyFix so
    # this is the client and not the proxy
    return request.remote_addr or "unknown"


def rate_limit(action: str, *hits: tuple[str, str]) -> None:
    """Count one attempt on each ``(limiter name, key)``; 429 if any is over.

    Every counter is hit even when an earlier one already refuses, so
    spreading attempts does not dodge one of them.
    """
    decisions = [limiter_for(runtime(), name).hit(key) for name, key in hits]
    refused = [d for d in decisions if not d.allowed]
    if refused:
        retry_after = max(d.retry_after for d in refused)
        log.warning("rate limit: %s refused (%d attempts this window)", action, max(d.count for d in refused))
        abort(
            429,
            message=f"too many {action} attempts; try again in {retry_after} seconds",
            headers={"Retry-After": str(retry_after)},
        )


def log_in(email: str, password: str, *, label: str, expires_at: datetime | None) -> identity.IssuedToken:
    """A new token for the holder of ``email`` + ``password`` (401 when they
    do not match, 429 over the limits)."""
    addr = client_address()
    rate_limit("login", ("login", key_for("login:account+addr", f"{email}\n{addr}")),
               ("login_address", key_for("login:addr", addr)))
    s = session()
    with identity_errors():
        user = identity.authenticate(s, email, password)
    return identity.issue_token(s, user, label=label, expires_at=expires_at)
