"""OAuth 2.0 Authorization Code with PKCE, as X implements it.

* authorize: ``https://x.com/i/oauth2/authorize?response_type=code&client_id=..&
  redirect_uri=..&scope=..&state=..&code_challenge=..&code_challenge_method=S256``;
* token: ``POST {api_base}/2/oauth2/token`` (form-encoded). A confidential client
  (one with a secret) authenticates with HTTP Basic; a public client sends
  ``client_id`` in the body. We always send ``client_id`` too, as X's examples do;
* access tokens last 2 hours (``expires_in: 7200``, recorded); a refresh token
  comes only with ``offline.access`` and is rotated on every refresh: the old
  one stops working once the new one is issued, so the core must store the new
  credentials before anything else uses them.
"""
from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from clientnest import Credentials
from clientnest.errors import AmbiguousError, AuthError

from .errors import PLATFORM

__all__ = [
    "DEFAULT_SCOPES",
    "new_verifier",
    "challenge_for",
    "authorize_url",
    "code_exchange_form",
    "refresh_form",
    "credentials_from_token",
]

#: the four the product needs, plus ``media.write``, without which X's v2
#: media upload refuses OAuth 2.0 user tokens (images and video could not be posted)
DEFAULT_SCOPES = "tweet.read tweet.write users.read offline.access media.write"


def new_verifier() -> str:
    """A PKCE code verifier: 86 characters of the unreserved set (RFC 7636 allows 43-128)."""
    return secrets.token_urlsafe(64)


def challenge_for(verifier: str) -> str:
    """The S256 code challenge of ``verifier``."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_url(base: str, *, client_id: str, redirect_uri: str, state: str, scopes: str, verifier: str) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(scopes.split()),
        "state": state,
        "code_challenge": challenge_for(verifier),
        "code_challenge_method": "S256",
    }
    sep = "&" if "?" in base else "?"
    # %20 between scopes, as X documents (quote, not quote_plus)
    return base + sep + urlencode(params, quote_via=quote)


def code_exchange_form(*, code: str, redirect_uri: str, verifier: str, client_id: str) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
        "client_id": client_id,
    }


def refresh_form(*, refresh_token: str, client_id: str) -> dict[str, str]:
    return {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}


def credentials_from_token(body: Any, *, now: datetime | None = None, previous: Credentials | None = None) -> Credentials:
    """Credentials from the token endpoint's answer.

    ``{"token_type": "bearer", "expires_in": 7200, "access_token", "scope",
    "refresh_token"}`` (recorded). A 200 without an access token is treated as
    ambiguous: X may have rotated the refresh token we hold.
    """
    if not isinstance(body, Mapping) or not body.get("access_token"):
        raise AmbiguousError("X's token endpoint answered without an access token", platform=PLATFORM, raw=None)
    token_type = str(body.get("token_type") or "bearer")
    if token_type.lower() != "bearer":
        raise AuthError(f"X issued a {token_type!r} token, not a bearer token", platform=PLATFORM)
    now = now or datetime.now(UTC)
    expires_in = body.get("expires_in")
    expires_at = None
    if expires_in is not None:
        try:
            expires_at = now + timedelta(seconds=int(expires_in))
        except (TypeError, ValueError):
            expires_at = None
    refresh = body.get("refresh_token") or (previous.refresh_token if previous else None)
    extra: dict[str, Any] = dict(previous.extra) if previous else {}
    if body.get("scope"):
        extra["scope"] = str(body["scope"])
    extra["token_type"] = token_type
    return Credentials(access_token=str(body["access_token"]), refresh_token=refresh, expires_at=expires_at, extra=extra)
