"""The browser session's cookies and its CSRF value, in one place.

A browser signs in with ``POST /api/v1/auth/session`` and gets two cookies:

- :data:`SESSION_COOKIE`: the session token itself (an API token labelled
  ``browser session``, stored as a SHA-256 hash like every token); HttpOnly,
  so no script can read it;
- :data:`CSRF_COOKIE`: a value derived from that token with a server key,
  readable by the app's scripts, which send it back in :data:`CSRF_HEADER` on
  every unsafe request. A cross-site page can make the browser send the
  cookies but can read neither, so it cannot fill in the header.

The server key is derived from the Fernet keys (every process of a
deployment has the same ones); the newest key issues the value and every
key is accepted, so a key rotation does not sign anybody out.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import timedelta
from urllib.parse import urlsplit

from clientnest.crypto import load_or_create_key
from clientnest.settings import Settings

__all__ = [
    "SESSION_COOKIE",
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "SESSION_LABEL",
    "SESSION_LIFETIME",
    "UNSAFE_METHODS",
    "CsrfSigner",
    "cookie_options",
]

SESSION_COOKIE = "clientnest_session"
CSRF_COOKIE = "clientnest_csrf"
CSRF_HEADER = "X-CSRF-Token"
#: the label of the API token behind a browser session (GET /auth/tokens lists it)
SESSION_LABEL = "browser session"
SESSION_LIFETIME = timedelta(days=14)
#: methods that change something: cookie-authenticated ones need the CSRF header
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CsrfSigner:
    """HMAC-SHA256 of a session token under keys derived from the Fernet keys."""

    def __init__(self, fernet_keys: Sequence[str]) -> None:
        # a key of its own (not the Fernet key itself): the CSRF value is
        # public to the page's scripts, the Fernet key encrypts credentials
        self._keys = [hashlib.sha256(b"clientnest csrf\0" + k.encode()).digest() for k in fernet_keys]

    @classmethod
    def for_settings(cls, settings: Settings) -> CsrfSigner:
        keys = settings.fernet_keys or (load_or_create_key(settings.data_dir),)
        return cls(keys)

    def _sign(self, key: bytes, token: str) -> str:
        return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()

    def value_for(self, token: str) -> str:
        """The CSRF value of a session token (under the newest key)."""
        return self._sign(self._keys[0], token)

    def verify(self, token: str, sent: str | None) -> bool:
        if not sent:
            return False
        return any(hmac.compare_digest(self._sign(k, token), sent) for k in self._keys)


def cookie_options(public_url: str) -> dict[str, object]:
    """Attributes of both cookies: the whole site, Lax, Secure behind https."""
    return {
        "path": "/",
        "samesite": "Lax",
        "secure": urlsplit(public_url).scheme == "https",
    }
