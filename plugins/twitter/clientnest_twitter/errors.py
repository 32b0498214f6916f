"""Every X failure is classified here, and only here.

X answers errors in three shapes (all recorded in the fixtures):

* problem+json: ``{"title", "detail", "type", "status"}`` (401, 403 duplicate, 429);
* invalid-request: ``{"errors": [{"message", "parameters"?}], "title", "detail", "type"}`` (400);
* partial errors in a 200: ``{"data": ..., "errors": [{"value", "detail", "title",
  "resource_type", "parameter", "resource_id", "type"}]}`` (lookups by id);

plus the OAuth token endpoint's ``{"error", "error_description"}`` and, on old
rate limits, a ``text/plain`` body ("Rate limit exceeded"). The class is decided
by what the caller should do next (see :mod:`clientnest.errors`):

==========================================  ==================  ================================
failure                                     class               why
==========================================  ==================  ================================
connection refused, DNS, connect timeout    NotSentError        nothing left this machine
429                                         NotSentError        X refused before acting;
                                                                ``retry_at`` = ``x-rate-limit-reset``
                                                                (the 24-hour user cap's reset when
                                                                that one is exhausted)
503 with ``Retry-After``                    NotSentError        X said when to come back
408                                         NotSentError        X gave up reading the request
read/write timeout, reset, bad 2xx body     AmbiguousError      the request may have been acted on
500, 502, 504 (and 503 without Retry-After) AmbiguousError      idem
401; 400/401 from the token endpoint        AuthError           refresh once, then reconnect
403 naming a missing scope                  AuthError           reconnecting grants the scope
403 duplicate content, other 4xx            PermanentError      with X's own message
==========================================  ==================  ================================
"""
from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta
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
    "classify_response",
    "classify_transport",
    "decode_body",
    "error_message",
    "partial_errors",
    "retry_at",
    "is_not_found",
]

PLATFORM = "twitter"
NOT_FOUND_TYPE = "https://api.twitter.com/2/problems/resource-not-found"
_OAUTH_AUTH_ERRORS = {"invalid_request", "invalid_grant", "invalid_client", "unauthorized_client"}


def decode_body(response: httpx.Response) -> Any:
    """The decoded JSON body, or the text when it is not JSON (X's plain 429)."""
    try:
        return response.json()
    except ValueError:
        return response.text


def partial_errors(body: Any) -> list[dict[str, Any]]:
    """The ``errors[]`` of a body (a 200 may carry them next to ``data``)."""
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        return [e for e in body["errors"] if isinstance(e, dict)]
    return []


def is_not_found(error: dict[str, Any]) -> bool:
    return error.get("type") == NOT_FOUND_TYPE or error.get("title") == "Not Found Error"


def error_message(body: Any) -> str:
    """X's own words: the specific ``errors[].message`` first (e.g. "Please
    include either text or media in your Tweet."), then ``detail``, ``title``,
    the OAuth ``error_description``, or a plain-text body."""
    if isinstance(body, dict):
        parts = [str(e.get("message") or e.get("detail")) for e in partial_errors(body)
                 if e.get("message") or e.get("detail")]
        if parts:
            return "; ".join(dict.fromkeys(parts))
        for key in ("detail", "title", "error_description", "error"):
            if body.get(key):
                return str(body[key])
        return ""
    if isinstance(body, str):
        return body.strip()[:300]
    return ""


def _epoch(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(int(value.strip()), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def retry_at(response: httpx.Response, now: datetime | None = None) -> datetime | None:
    """When X said to come back: ``Retry-After`` (seconds or HTTP date), else
    the latest reset among the exhausted rate-limit windows."""
    now = now or datetime.now(UTC)
    h = response.headers
    after = h.get("retry-after")
    if after:
        after = after.strip()
        if after.isdigit():
            return now + timedelta(seconds=int(after))
        try:
            parsed = email.utils.parsedate_to_datetime(after)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except (TypeError, ValueError):
            pass
    candidates = []
    window = _epoch(h.get("x-rate-limit-reset"))
    if window:
        candidates.append(window)
    # The 24-hour cap on posts per user comes in its own headers; when it is
    # the exhausted one, the 15-minute window's reset would be far too early.
    if h.get("x-user-limit-24hour-remaining", "").strip() == "0":
        daily = _epoch(h.get("x-user-limit-24hour-reset"))
        if daily:
            candidates.append(daily)
    if h.get("x-app-limit-24hour-remaining", "").strip() == "0":
        app_daily = _epoch(h.get("x-app-limit-24hour-reset"))
        if app_daily:
            candidates.append(app_daily)
    return max(candidates) if candidates else None


def _is_duplicate(message: str) -> bool:
    return "duplicate content" in message.lower()


def classify_response(
    response: httpx.Response, *, oauth: bool = False, now: datetime | None = None
) -> PlatformError | None:
    """The error for a non-2xx answer, or ``None`` for a success.

    :param oauth: the answer came from the token endpoint, whose 400s mean the
        code, refresh token or client was refused.
    """
    status = response.status_code
    if 200 <= status < 300:
        return None
    body = decode_body(response)
    message = error_message(body) or f"X answered HTTP {status}"
    code = None
    if isinstance(body, dict):
        code = body.get("type") or body.get("error")
    kw: dict[str, Any] = {"platform": PLATFORM, "status": status, "code": code, "raw": body}

    if status == 429:
        return NotSentError(f"rate limited by X: {message}", retry_at=retry_at(response, now), **kw)
    if status == 503 and response.headers.get("retry-after"):
        return NotSentError(f"X is unavailable: {message}", retry_at=retry_at(response, now), **kw)
    if status == 408:
        return NotSentError(f"X timed out reading the request: {message}", **kw)
    if status >= 500:
        return AmbiguousError(f"X failed with HTTP {status}: {message}", **kw)
    if status == 401:
        return AuthError(f"X rejected the credentials: {message}", **kw)
    if oauth and status == 400 and isinstance(body, dict) and body.get("error") in _OAUTH_AUTH_ERRORS:
        return AuthError(f"X refused the authorization: {message}", **kw)
    if status == 403:
        if _is_duplicate(message):
            return PermanentError(message, **kw)
        if "scope" in message.lower():
            return AuthError(f"X refused: {message} (reconnect the account to grant it)", **kw)
        return PermanentError(message, **kw)
    return PermanentError(message, **kw)


def classify_transport(exc: httpx.TransportError) -> TransientError:
    """Failures without an HTTP answer: did the request leave this machine?"""
    if isinstance(exc, httpx.LocalProtocolError):
        # refused by the HTTP client before sending; its message quotes the
        # offending header, which may be the bearer token: never repeat it
        return NotSentError("could not send the request to X: a header is not valid HTTP", platform=PLATFORM)
    detail = f"{type(exc).__name__}: {exc}"
    # ConnectError covers refused connections and DNS failures; nothing was sent.
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)):
        return NotSentError(f"could not reach X ({detail})", platform=PLATFORM)
    # Read/write timeouts, resets and half answers: X may have acted on it.
    return AmbiguousError(f"no complete answer from X ({detail})", platform=PLATFORM)
