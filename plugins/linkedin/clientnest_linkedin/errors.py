"""Every LinkedIn failure classified into ClientNest's error classes, here only.

LinkedIn answers errors with ``{"message", "serviceErrorCode"?, "status"}``
(Rest.li adds ``x-restli-error-response: true``); the OAuth endpoints on
www.linkedin.com answer ``{"error", "error_description"}``. The connector never
inspects a status code itself: it hands the response (or the transport
exception) to one of the functions below and raises what comes back.

==============================  ==================================================
what LinkedIn did               class (what the engine does next)
==============================  ==================================================
401                             :class:`AuthError` (refresh once, then reconnect)
429                             :class:`NotSentError`, ``retry_at`` from
                                ``Retry-After`` or ``now + default`` (LinkedIn
                                rarely sends one; its quotas are per day)
503 with ``Retry-After``        :class:`NotSentError` (the request was refused)
500, 502, 503 without it, 504   :class:`AmbiguousError` (reconcile first)
408                             :class:`NotSentError` (request never completed)
422 duplicate content           :class:`DuplicateContentError`, a
                                :class:`PermanentError` naming the earlier post
426 (version not active)        :class:`PermanentError` with LinkedIn's message
                                and the setting the operator must change
other 4xx (400, 403, 404, 422)  :class:`PermanentError` with LinkedIn's message
connect error / connect timeout :class:`NotSentError` (nothing reached LinkedIn)
read timeout, reset after send  :class:`AmbiguousError`
OAuth endpoint 4xx              :class:`AuthError` with ``error_description``
==============================  ==================================================
"""
from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from clientnest.errors import (
    AmbiguousError,
    AuthError,
    NotSentError,
    PermanentError,
    PlatformError,
    TransientError,
)

__all__ = [
    "PLATFORM",
    "DEFAULT_RETRY_SECONDS",
    "DuplicateContentError",
    "classify_response",
    "classify_oauth_response",
    "classify_transport_error",
    "duplicate_of",
    "error_body",
    "retry_after",
]

PLATFORM = "linkedin"
#: used for a 429 that carries no ``Retry-After`` (LinkedIn's usual case)
DEFAULT_RETRY_SECONDS = 600

_DUPLICATE = re.compile(r"duplicate of (urn:li:[A-Za-z]+:[0-9]+)")


class DuplicateContentError(PermanentError):
    """LinkedIn refused a post as a copy of one it already has.

    Still permanent (sending again is refused again), but ``duplicate_of``
    names the earlier post, which the reconciliation lookup would find.
    """

    def __init__(self, message: str, *, duplicate_of: str | None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.duplicate_of = duplicate_of


def error_body(response: httpx.Response) -> dict[str, Any]:
    """The decoded error object, or ``{}`` when the body is not JSON."""
    try:
        data = json.loads(response.content or b"null")
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def duplicate_of(message: str) -> str | None:
    """The URN named by LinkedIn's "Content is a duplicate of urn:li:..." message."""
    m = _DUPLICATE.search(message or "")
    return m.group(1) if m else None


def retry_after(response: httpx.Response, now: datetime | None = None) -> datetime | None:
    """``Retry-After`` as an aware UTC datetime (seconds or an HTTP date)."""
    raw = response.headers.get("retry-after")
    if not raw:
        return None
    now = now or datetime.now(UTC)
    raw = raw.strip()
    if raw.isdigit():
        return now + timedelta(seconds=int(raw))
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when.astimezone(UTC), now)


def _message(body: dict[str, Any], response: httpx.Response) -> str:
    msg = body.get("message") or body.get("error_description") or body.get("error")
    if isinstance(msg, str) and msg.strip():
        return msg.strip()
    text = response.text.strip() if response.content else ""
    return f"LinkedIn answered HTTP {response.status_code}" + (f": {text[:200]}" if text else "")


def _version_hint(response: httpx.Response) -> str:
    """What the operator must do when LinkedIn has retired the version sent."""
    try:
        sent = response.request.headers.get("LinkedIn-Version", "")
    except RuntimeError:  # a response built without its request (tests)
        sent = ""
    return (f" (LinkedIn no longer serves LinkedIn-Version {sent or '?'}: set CLIENTNEST_LINKEDIN_API_VERSION "
            "to a YYYYMM version released in the last 12 months, or unset it so that ClientNest "
            "follows the calendar)")


def classify_response(
    response: httpx.Response, *, default_retry_seconds: int = DEFAULT_RETRY_SECONDS
) -> PlatformError:
    """The error for a non-2xx answer of the LinkedIn API (``api.linkedin.com``)."""
    status = response.status_code
    body = error_body(response)
    message = _message(body, response)
    code = body.get("serviceErrorCode", body.get("code"))
    kw: dict[str, Any] = {"platform": PLATFORM, "code": code, "status": status, "raw": body or None}
    if status == 401:
        return AuthError(message, **kw)
    if status == 429:
        when = retry_after(response) or datetime.now(UTC) + timedelta(seconds=default_retry_seconds)
        return NotSentError(message, retry_at=when, **kw)
    if status == 408:
        return NotSentError(message, retry_at=retry_after(response), **kw)
    if status == 503 and response.headers.get("retry-after"):
        return NotSentError(message, retry_at=retry_after(response), **kw)
    if status >= 500:
        # 500/502/504 (and a 503 that gives no retry time): LinkedIn may have
        # acted on the request, so the engine must look before sending again.
        return AmbiguousError(message, retry_at=retry_after(response), **kw)
    if status == 426:
        return PermanentError(message + _version_hint(response), **kw)
    if status == 422:
        dup = duplicate_of(message)
        if dup:
            return DuplicateContentError(message, duplicate_of=dup, **kw)
    return PermanentError(message, **kw)


def classify_oauth_response(response: httpx.Response) -> PlatformError:
    """The error for a non-2xx answer of ``/oauth/v2/accessToken`` or
    ``/oauth/v2/introspectToken``: a refused code or refresh token means the
    member must connect again; throttling and 5xx stay transient."""
    status = response.status_code
    body = error_body(response)
    message = _message(body, response)
    kw: dict[str, Any] = {"platform": PLATFORM, "code": body.get("error"), "status": status, "raw": body or None}
    if status == 429:
        when = retry_after(response) or datetime.now(UTC) + timedelta(seconds=DEFAULT_RETRY_SECONDS)
        return NotSentError(message, retry_at=when, **kw)
    if status >= 500:
        # Exchanging a code twice fails, so an unknown outcome is not "not sent".
        return AmbiguousError(message, retry_at=retry_after(response), **kw)
    return AuthError(message, **kw)


def classify_transport_error(exc: httpx.TransportError) -> TransientError:
    """A failure without an HTTP answer: did the request leave this machine?"""
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    kw: dict[str, Any] = {"platform": PLATFORM}
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)):
        return NotSentError(f"could not reach LinkedIn ({detail})", **kw)
    # ReadTimeout, WriteTimeout, ReadError, RemoteProtocolError ...: the
    # request was (at least partly) sent and LinkedIn may have acted on it.
    return AmbiguousError(f"no answer from LinkedIn after sending ({detail})", **kw)
