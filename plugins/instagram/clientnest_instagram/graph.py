"""A small Graph API client, and the one place where Instagram errors are classified.

Every call of the connector goes through :meth:`GraphClient.request`, which
turns every failure into exactly one class of :mod:`clientnest.errors`:

==============================================  ================================
what happened                                   class
==============================================  ================================
connection refused / DNS / connect timeout      ``NotSentError`` (nothing sent)
read timeout, reset, 500/502/504 on a write     ``AmbiguousError`` (reconcile)
the same on a read (GET)                        ``NotSentError`` (safe to repeat)
503, HTTP 429                                   ``NotSentError`` (+ Retry-After)
code 190, 102, 10, 200-299                      ``AuthError``
code 4, 17, 32, 613, 341, 80001-80099           ``NotSentError`` with ``retry_at``
                                                from ``x-business-use-case-usage``
                                                / ``x-app-usage`` / ``Retry-After``
code 1, 2 or ``is_transient`` on a 4xx          ``NotSentError``
code 506 (duplicate post) and everything else   ``PermanentError``
==============================================  ================================

Access tokens travel in the ``Authorization`` header, never in a URL, so they
cannot reach a log line; the OAuth code exchange must send the app secret as a
query parameter (that is how Graph takes it), so the ``httpx`` request log is
given a filter that blanks those parameters.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Mapping
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
)

__all__ = ["GraphClient", "classify_error", "retry_at_from_headers", "THROTTLE_CODES"]

PLATFORM = "instagram"

#: Graph error codes that mean "throttled": application (4), user (17), page
#: (32), custom per-call (613), feed action limit (341). Business use case
#: limits use 80001-80099 (80001 pages, 80002 instagram, 80004 ads ...).
THROTTLE_CODES = frozenset({4, 17, 32, 613, 341})
AUTH_CODES = frozenset({190, 102, 10})
_SECRET_PARAMS = re.compile(r"((?:access_token|client_secret|fb_exchange_token|code|appsecret_proof)=)[^&\s\"]+")


class _RedactQuery(logging.Filter):
    """Blank secret query parameters in httpx's ``HTTP Request: ...`` lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(
                _SECRET_PARAMS.sub(r"\1***", str(a)) if isinstance(a, httpx.URL | str) else a
                for a in (record.args if isinstance(record.args, tuple) else (record.args,))
            )
        return True


def _install_log_filter() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactQuery) for f in logger.filters):
        logger.addFilter(_RedactQuery())


def _now() -> datetime:
    return datetime.now(UTC)


def _json_header(headers: Mapping[str, str], name: str) -> Any:
    raw = headers.get(name)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def retry_at_from_headers(headers: Mapping[str, str], now: datetime | None = None) -> datetime | None:
    """When the platform said access comes back, from the usage headers.

    ``x-business-use-case-usage`` maps object ids to lists of
    ``{type, call_count, total_cputime, total_time, estimated_time_to_regain_access}``
    (minutes); ``x-app-usage`` / ``x-page-usage`` may carry the same key, and
    ``x-ad-account-usage`` a ``reset_time_duration`` in seconds. A plain
    ``Retry-After`` (seconds or HTTP date) is honoured too. The latest time wins.
    """
    now = now or _now()
    waits: list[timedelta] = []
    buc = _json_header(headers, "x-business-use-case-usage")
    if isinstance(buc, dict):
        for entries in buc.values():
            for entry in entries if isinstance(entries, list) else [entries]:
                if isinstance(entry, dict):
                    minutes = entry.get("estimated_time_to_regain_access")
                    if isinstance(minutes, int | float) and minutes > 0:
                        waits.append(timedelta(minutes=minutes))
    for name in ("x-app-usage", "x-page-usage", "x-ad-account-usage"):
        usage = _json_header(headers, name)
        if isinstance(usage, dict):
            minutes = usage.get("estimated_time_to_regain_access")
            if isinstance(minutes, int | float) and minutes > 0:
                waits.append(timedelta(minutes=minutes))
            seconds = usage.get("reset_time_duration")
            if isinstance(seconds, int | float) and seconds > 0:
                waits.append(timedelta(seconds=seconds))
    after = headers.get("retry-after")
    if after:
        after = after.strip()
        if after.isdigit():
            waits.append(timedelta(seconds=int(after)))
        else:
            try:
                at = parsedate_to_datetime(after)
                if at.tzinfo is not None:
                    waits.append(at.astimezone(UTC) - now)
            except (TypeError, ValueError):
                pass
    waits = [w for w in waits if w > timedelta(0)]
    return now + max(waits) if waits else None


def _is_throttle(code: int | None, subcode: int | None) -> bool:
    if code in THROTTLE_CODES:
        return True
    if code is not None and 80001 <= code <= 80099:
        return True
    # Instagram content publishing limit (code 9, subcode 2207042)
    return subcode == 2207042


def classify_error(
    status: int,
    body: Any,
    headers: Mapping[str, str],
    method: str = "GET",
    *,
    platform: str = PLATFORM,
    now: datetime | None = None,
) -> PlatformError:
    """Map one failed Graph response to the error class the engine acts on."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        err = {}
    code = err.get("code")
    code = int(code) if isinstance(code, int | str) and str(code).isdigit() else None
    subcode = err.get("error_subcode")
    subcode = int(subcode) if isinstance(subcode, int | str) and str(subcode).isdigit() else None
    message = str(err.get("error_user_msg") or err.get("message") or f"HTTP {status} from the Graph API")
    kw: dict[str, Any] = {"platform": platform, "code": code, "status": status, "raw": body if err else None}
    write = method.upper() not in ("GET", "HEAD")

    if code in AUTH_CODES or (code is not None and 200 <= code <= 299):
        return AuthError(message, **kw)
    if _is_throttle(code, subcode) or status == 429:
        return NotSentError(message, retry_at=retry_at_from_headers(headers, now), **kw)
    if code == 506:
        return PermanentError(message, **kw)
    if status == 503:
        return NotSentError(message, retry_at=retry_at_from_headers(headers, now), **kw)
    if status >= 500:
        # The platform may have acted before failing: a write must be reconciled.
        cls = AmbiguousError if write else NotSentError
        return cls(message, retry_at=retry_at_from_headers(headers, now), **kw)
    if code in (1, 2) or err.get("is_transient") is True:
        # a 4xx answer means the request was processed and refused: nothing happened
        return NotSentError(message, retry_at=retry_at_from_headers(headers, now), **kw)
    return PermanentError(message, **kw)


class GraphClient:
    """Calls the Graph API; returns decoded JSON or raises a classified error.

    :param api_base: e.g. ``https://graph.facebook.com`` (a proxy or a sandbox).
    :param version: e.g. ``v23.0``; empty for unversioned calls.
    :param app_secret: when set, every call with a token carries
        ``appsecret_proof`` (required by apps with "Require App Secret" on).
    """

    def __init__(
        self,
        api_base: str,
        version: str,
        *,
        timeout: float = 30.0,
        app_secret: str | None = None,
        platform: str = PLATFORM,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        _install_log_filter()
        self.api_base = api_base.rstrip("/")
        self.version = version.strip("/")
        self.app_secret = app_secret
        self.platform = platform
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
            headers={"User-Agent": f"clientnest-{platform}"},
        )

    def url(self, path: str, base: str | None = None) -> str:
        root = (base or self.api_base).rstrip("/")
        version = f"/{self.version}" if self.version else ""
        return f"{root}{version}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        files: Any = None,
        base: str | None = None,
    ) -> Any:
        """One Graph call. ``params`` go in the query, ``data`` in a form body."""
        headers: dict[str, str] = {}
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        if token:
            headers["Authorization"] = f"Bearer {token}"
            if self.app_secret:
                query["appsecret_proof"] = hmac.new(
                    self.app_secret.encode(), token.encode(), hashlib.sha256
                ).hexdigest()
        form = {k: _param(v) for k, v in (data or {}).items() if v is not None} if data is not None else None
        try:
            response = self._http.request(
                method, self.url(path, base), params=query, data=form, files=files, headers=headers
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol) as exc:
            raise NotSentError(
                f"could not reach the Graph API: {type(exc).__name__}", platform=self.platform
            ) from None
        except httpx.TransportError as exc:
            # The request left: the platform may have acted on a write.
            cls = AmbiguousError if method.upper() not in ("GET", "HEAD") else NotSentError
            raise cls(
                f"no answer from the Graph API after sending: {type(exc).__name__}", platform=self.platform
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400 or (isinstance(body, dict) and "error" in body):
            raise classify_error(response.status_code, body, response.headers, method, platform=self.platform)
        if body is None:
            # a 2xx with a body that is not JSON: treat like a broken gateway
            cls = AmbiguousError if method.upper() not in ("GET", "HEAD") else NotSentError
            raise cls("the Graph API answered with a body that is not JSON", platform=self.platform,
                      status=response.status_code)
        return body

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.request("POST", path, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)

    def close(self) -> None:
        self._http.close()


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)
