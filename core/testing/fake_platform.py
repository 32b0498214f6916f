"""A fake social platform over HTTP, and the connector that talks to it.

:class:`FakePlatform` is a WSGI app (serve it with
:func:`clientnest.testing.server.serve`). It keeps accounts, tokens and posts
in memory, counts every request it receives, and injects faults on demand, so
the engine's tests exercise real HTTP: real timeouts, real status codes, real
headers. Faults are queued per operation (``publish``, ``refresh``,
``lookup``) and consumed one per request:

============== ================================================================
kind           what the platform does
============== ================================================================
``rate_limit`` 429 with ``x-rate-limit-reset`` (epoch) and/or ``Retry-After``
``unavailable`` 503 with ``Retry-After``: nothing was done
``error``      500 / 502 / 504 (``status=``); ``created=True`` creates the post
               first (the request *was* acted on), ``False`` does not
``slow``       creates the post, then answers after ``delay`` seconds (longer
               than the client's read timeout: the client cannot know)
``hang``       answers 504 after ``delay`` seconds without creating anything
``auth``       401: the token is rejected
``permanent``  400 with the platform's own ``message`` and ``code``
``fail``       (``refresh`` only) 400 ``invalid_grant``
============== ================================================================

Tokens are real: a request with an unknown or expired access token gets 401;
a refresh rotates the refresh token and a used one is refused afterwards, so
two concurrent refreshes of one account would show up as a failure.

:class:`FakeConnector` is the reference for connector authors: every platform
failure is turned into one :mod:`clientnest.errors` class in one place,
:meth:`FakeConnector._send` (transport) and :func:`classify_response` (HTTP
answers). :data:`plugin` registers it (``build_plugin_host(...,
extra_plugins=[("fake", plugin)])``).

Control endpoints, for a fake running in another process: ``POST
/_fake/accounts`` (``{"external_id", "token_ttl"}`` -> credentials), ``POST
/_fake/faults`` (``{"op", "kind", "times", ...params}``), ``GET /_fake/stats``.
"""
from __future__ import annotations

import email.utils
import itertools
import json
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from ..config import ConfigField, ConfigSchema
from ..connector import (
    Account,
    Capability,
    Credentials,
    PlatformRules,
    PostContent,
    PublishResult,
    SocialConnector,
)
from ..errors import AmbiguousError, AuthError, NotSentError, PermanentError, PlatformError
from ..hookspecs import hookimpl

__all__ = ["FakePlatform", "Fault", "FakeConnector", "FakePlugin", "plugin", "classify_response"]

FAULT_KINDS = frozenset({"rate_limit", "unavailable", "error", "slow", "hang", "auth", "permanent", "fail"})
OPERATIONS = frozenset({"publish", "refresh", "lookup"})


@dataclass
class Fault:
    """One injected failure, consumed by one request of its operation."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)


def _now() -> float:
    return time.time()


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(json.dumps(data), status=status, headers=dict(headers or {}), mimetype="application/json")


class FakePlatform:
    """The fake platform's state and WSGI app.

    :param token_ttl: lifetime of the access tokens it issues, seconds.
    """

    def __init__(self, *, token_ttl: int = 3600) -> None:
        self.token_ttl = token_ttl
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.accounts: set[str] = set()
        self._tokens: dict[str, tuple[str, float]] = {}  # access token -> (account, expires epoch)
        self._refresh: dict[str, str] = {}  # live refresh token -> account
        self._used_refresh: set[str] = set()
        self.posts: list[dict[str, Any]] = []
        #: requests received per operation (``publish``, ``refresh``, ``lookup``, ``me``)
        self.counts: Counter[str] = Counter()
        self._faults: dict[str, deque[Fault]] = {op: deque() for op in OPERATIONS}
        self._url_map = Map([
            Rule("/oauth/token", endpoint="token", methods=["POST"]),
            Rule("/v1/me", endpoint="me", methods=["GET"]),
            Rule("/v1/accounts/<account>/posts", endpoint="publish", methods=["POST"]),
            Rule("/v1/accounts/<account>/posts", endpoint="lookup", methods=["GET"]),
            Rule("/_fake/accounts", endpoint="ctl_account", methods=["POST"]),
            Rule("/_fake/faults", endpoint="ctl_faults", methods=["POST"]),
            Rule("/_fake/stats", endpoint="ctl_stats", methods=["GET"]),
        ])

    # -- test-side API ------------------------------------------------------------
    def add_account(self, external_id: str, *, token_ttl: float | None = None) -> Credentials:
        """Create an account and issue its first tokens."""
        with self._lock:
            self.accounts.add(external_id)
            return self._issue(external_id, self.token_ttl if token_ttl is None else token_ttl)

    def _issue(self, account: str, ttl: float) -> Credentials:
        access, refresh = "at_" + secrets.token_urlsafe(16), "rt_" + secrets.token_urlsafe(16)
        expires = _now() + ttl
        self._tokens[access] = (account, expires)
        self._refresh[refresh] = account
        return Credentials(
            access_token=access,
            refresh_token=refresh,
            expires_at=datetime.fromtimestamp(int(expires), UTC),
        )

    def expire_tokens(self, external_id: str) -> None:
        """Make every access token of an account expire now (server side)."""
        with self._lock:
            for token, (acct, _) in list(self._tokens.items()):
                if acct == external_id:
                    self._tokens[token] = (acct, _now() - 1)

    def fail(self, op: str, kind: str, times: int = 1, **params: Any) -> None:
        """Queue ``times`` faults of ``kind`` for the next requests of ``op``
        (of one account only if ``account=`` is given)."""
        if op not in OPERATIONS:
            raise ValueError(f"unknown operation {op!r}")
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        with self._lock:
            for _ in range(times):
                self._faults[op].append(Fault(kind, dict(params)))

    def clear_faults(self) -> None:
        with self._lock:
            for q in self._faults.values():
                q.clear()

    def posts_of(self, account: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(p) for p in self.posts if p["account"] == account]

    def copies(self, *, key: str | None = None, text: str | None = None) -> int:
        """How many posts the platform holds with this idempotency key or text."""
        with self._lock:
            return sum(
                1 for p in self.posts
                if (key is None or p["key"] == key) and (text is None or p["text"] == text)
            )

    def stats(self) -> dict[str, Any]:
        with self._lock:
            keys = Counter(p["key"] for p in self.posts if p["key"])
            return {
                "counts": dict(self.counts),
                "posts": len(self.posts),
                "duplicated_keys": sum(1 for n in keys.values() if n > 1),
            }

    # -- WSGI ---------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        adapter = self._url_map.bind_to_environ(environ)
        try:
            endpoint, values = adapter.match()
            response = getattr(self, f"_on_{endpoint}")(request, **values)
        except NotFound:
            response = _json({"error": {"message": "no such endpoint", "code": 404}}, 404)
        except HTTPException as exc:
            response = exc.get_response(environ)
        return response(environ, start_response)

    def _next_fault(self, op: str, account: str | None = None) -> Fault | None:
        """Count the request and take the first fault queued for it (a fault
        with an ``account`` parameter only applies to that account)."""
        with self._lock:
            self.counts[op] += 1
            q = self._faults[op]
            for i, fault in enumerate(q):
                if fault.params.get("account") in (None, account):
                    del q[i]
                    return fault
            return None

    def _check_token(self, request: Request, account: str) -> Response | None:
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        with self._lock:
            owner = self._tokens.get(token)
        if owner is None or owner[0] != account:
            return _json({"error": {"message": "Invalid access token", "code": "invalid_token"}}, 401)
        if owner[1] <= _now():
            return _json({"error": {"message": "Access token expired", "code": "token_expired"}}, 401)
        return None

    def _create(self, request: Request, account: str, body: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            post = {
                "id": f"fp_{next(self._ids)}",
                "account": account,
                "text": str(body.get("text") or ""),
                "link": body.get("link"),
                "key": str(body.get("key") or ""),
                "media": list(body.get("media") or []),
                "created_at": datetime.now(UTC).isoformat(),
            }
            post["url"] = f"{request.host_url.rstrip('/')}/p/{post['id']}"
            self.posts.append(post)
        return post

    def _fault_response(self, fault: Fault, create: Any = None) -> Response:
        p = fault.params
        if fault.kind == "rate_limit":
            headers: dict[str, str] = {}
            if "reset_at" in p:
                headers["x-rate-limit-reset"] = str(int(p["reset_at"]))
            if "retry_after" in p:
                headers["Retry-After"] = str(p["retry_after"])
            if not headers:
                headers["x-rate-limit-reset"] = str(int(_now()) + 60)
            return _json({"error": {"message": "Rate limit exceeded", "code": 88}}, 429, headers)
        if fault.kind == "unavailable":
            return _json({"error": {"message": "Service unavailable", "code": 503}}, 503,
                         {"Retry-After": str(p.get("retry_after", 5))})
        if fault.kind == "error":
            if p.get("created") and create is not None:
                create()
            status = int(p.get("status", 500))
            return _json({"error": {"message": "Internal error", "code": status}}, status)
        if fault.kind == "auth":
            return _json({"error": {"message": "Access token expired", "code": "token_expired"}}, 401)
        if fault.kind == "permanent":
            return _json({"error": {"message": p.get("message", "Status is a duplicate."),
                                    "code": p.get("code", 187)}}, int(p.get("status", 400)))
        if fault.kind == "hang":
            time.sleep(float(p.get("delay", 5)))
            return _json({"error": {"message": "Gateway timeout", "code": 504}}, 504)
        if fault.kind == "fail":
            return _json({"error": "invalid_grant", "error_description": p.get("message", "refresh token revoked")}, 400)
        raise ValueError(fault.kind)

    def _on_publish(self, request: Request, account: str) -> Response:
        fault = self._next_fault("publish", account)
        bad = self._check_token(request, account)
        if bad is not None:
            return bad
        body = request.get_json(silent=True) or {}
        if fault is not None and fault.kind == "slow":
            post = self._create(request, account, body)
            time.sleep(float(fault.params.get("delay", 2)))
            return _json({"data": post}, 201)
        if fault is not None:
            return self._fault_response(fault, create=lambda: self._create(request, account, body))
        if not str(body.get("text") or "").strip():
            return _json({"error": {"message": "Text is required", "code": 170}}, 400)
        return _json({"data": self._create(request, account, body)}, 201)

    def _on_lookup(self, request: Request, account: str) -> Response:
        fault = self._next_fault("lookup", account)
        bad = self._check_token(request, account)
        if bad is not None:
            return bad
        if fault is not None:
            return self._fault_response(fault)
        since = request.args.get("since")
        floor = datetime.fromisoformat(since) if since else None
        with self._lock:
            found = [
                dict(p) for p in self.posts
                if p["account"] == account
                and (floor is None or datetime.fromisoformat(p["created_at"]) >= floor)
            ]
        return _json({"data": found})

    def _on_me(self, request: Request) -> Response:
        with self._lock:
            self.counts["me"] += 1
        auth = request.headers.get("Authorization", "")
        with self._lock:
            owner = self._tokens.get(auth[7:])
        if owner is None:
            return _json({"error": {"message": "Invalid access token", "code": "invalid_token"}}, 401)
        return _json({"data": {"id": owner[0], "name": owner[0]}})

    def _on_token(self, request: Request) -> Response:
        form = request.form if request.form else (request.get_json(silent=True) or {})
        token = str(form.get("refresh_token") or "")
        with self._lock:
            owner = self._refresh.get(token)
        fault = self._next_fault("refresh", owner)
        if fault is not None:
            return self._fault_response(fault)
        if form.get("grant_type") != "refresh_token":
            return _json({"error": "unsupported_grant_type"}, 400)
        with self._lock:
            account = self._refresh.pop(token, None)
            if account is None:
                reused = token in self._used_refresh
                desc = "refresh token already used" if reused else "unknown refresh token"
                return _json({"error": "invalid_grant", "error_description": desc}, 400)
            self._used_refresh.add(token)
            creds = self._issue(account, self.token_ttl)
        return _json({
            "access_token": creds.access_token,
            "refresh_token": creds.refresh_token,
            "expires_in": self.token_ttl,
            "token_type": "bearer",
        })

    # control endpoints (a fake served by another process)
    def _on_ctl_account(self, request: Request) -> Response:
        body = request.get_json(silent=True) or {}
        creds = self.add_account(str(body["external_id"]), token_ttl=body.get("token_ttl"))
        return _json(creds.to_json(), 201)

    def _on_ctl_faults(self, request: Request) -> Response:
        body = dict(request.get_json(silent=True) or {})
        op, kind, times = body.pop("op"), body.pop("kind"), int(body.pop("times", 1))
        self.fail(op, kind, times, **body)
        return _json({"ok": True})

    def _on_ctl_stats(self, request: Request) -> Response:
        return _json(self.stats())


# -- the connector ------------------------------------------------------------------


def _retry_at(response: httpx.Response) -> datetime | None:
    """When the platform said to come back: ``x-rate-limit-reset`` (epoch
    seconds) wins over ``Retry-After`` (seconds or an HTTP date)."""
    reset = response.headers.get("x-rate-limit-reset")
    if reset and reset.strip().isdigit():
        return datetime.fromtimestamp(int(reset), UTC)
    after = response.headers.get("retry-after")
    if after:
        after = after.strip()
        if after.isdigit():
            return datetime.now(UTC) + timedelta(seconds=int(after))
        try:
            return email.utils.parsedate_to_datetime(after).astimezone(UTC)
        except (TypeError, ValueError):
            return None
    return None


def _platform_message(response: httpx.Response) -> tuple[str, Any, Any]:
    """The platform's own message and code, and the decoded body."""
    try:
        body = response.json()
    except ValueError:
        return (response.text[:200] or response.reason_phrase), None, None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return str(err.get("message") or response.reason_phrase), err.get("code"), body
        if isinstance(err, str):  # OAuth style
            return str(body.get("error_description") or err), err, body
    return response.reason_phrase, None, body


def classify_response(response: httpx.Response, platform: str = "fake") -> PlatformError:
    """Turn an HTTP error answer into exactly one :mod:`clientnest.errors` class.

    * 429, and 503 with ``Retry-After``: the platform refused before doing
      anything -> :class:`NotSentError` with ``retry_at``;
    * other 5xx (500, 502, 504 ...): it may have acted -> :class:`AmbiguousError`;
    * 401, and OAuth ``invalid_grant``: -> :class:`AuthError`;
    * any other 4xx: the platform refused this content -> :class:`PermanentError`
      carrying the platform's own message.
    """
    status = response.status_code
    message, code, raw = _platform_message(response)
    kw: dict[str, Any] = {"platform": platform, "code": code, "status": status, "raw": raw}
    if status == 429 or (status == 503 and "retry-after" in response.headers):
        return NotSentError(message, retry_at=_retry_at(response), **kw)
    if status >= 500:
        return AmbiguousError(message, retry_at=_retry_at(response), **kw)
    if status == 401 or code in ("invalid_grant", "invalid_token", "token_expired"):
        return AuthError(message, **kw)
    return PermanentError(message, **kw)


class FakeConnector(SocialConnector):
    """A connector for :class:`FakePlatform`; the model for real connectors.

    Settings: ``base_url`` (required), ``timeout`` (read timeout, seconds; keep
    it well below ``publish_lease_seconds``) and ``connect_timeout``.
    """

    name = "fake"
    display_name = "Fake Platform"
    version = "1.0"
    capabilities = frozenset({
        Capability.PUBLISH_TEXT, Capability.PUBLISH_LINK, Capability.REFRESH, Capability.LOOKUP,
    })
    config_schema = ConfigSchema((
        ConfigField("base_url", str, required=True, help="where the fake platform is served"),
        ConfigField("timeout", float, default=10.0, help="read timeout, seconds"),
        ConfigField("connect_timeout", float, default=5.0, help="connect timeout, seconds"),
    ))
    rules = PlatformRules(max_length=500)

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()

    @classmethod
    def sandbox(cls) -> Any:
        return FakePlatform()

    @classmethod
    def sandbox_config(cls, base_url: str) -> dict[str, Any]:
        return {"base_url": base_url}

    @property
    def http(self) -> httpx.Client:
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = httpx.Client(
                        base_url=self.config["base_url"].rstrip("/"),
                        timeout=httpx.Timeout(self.config["timeout"], connect=self.config["connect_timeout"]),
                    )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # The one place where transport failures are classified.
    def _send(self, method: str, path: str, *, token: str | None = None, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            response = self.http.request(method, path, headers=headers, **kw)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # the request never left this machine: safe to send again
            raise NotSentError(f"could not reach the platform: {type(exc).__name__}", platform=self.name) from exc
        except httpx.TransportError as exc:
            # read timeout, reset, half-written request: the platform may have acted
            raise AmbiguousError(f"no answer from the platform: {type(exc).__name__}", platform=self.name) from exc
        if response.status_code >= 400:
            raise classify_response(response, self.name)
        return response

    # -- operations ------------------------------------------------------------------
    def connect_with_token(self, credentials: Mapping[str, Any]) -> list[Account]:
        creds = Credentials.from_json(credentials)
        me = self._send("GET", "/v1/me", token=creds.access_token).json()["data"]
        return [Account(external_id=me["id"], credentials=creds, display_name=me.get("name", ""))]

    def refresh(self, account: Account) -> Credentials:
        rt = account.credentials.refresh_token
        if not rt:
            raise AuthError("no refresh token; reconnect the account", platform=self.name)
        data = self._send("POST", "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": rt}).json()
        return Credentials(
            access_token=data["access_token"],
            refresh_token=data.get("refresh_token") or rt,  # keep the old one if not rotated
            expires_at=datetime.now(UTC) + timedelta(seconds=int(data.get("expires_in", 3600))),
        )

    def publish(self, account: Account, content: PostContent) -> PublishResult:
        body = {"text": content.text, "link": content.link, "key": content.key,
                "media": [{"id": m.id, "kind": m.kind, "url": m.url} for m in content.media]}
        data = self._send("POST", f"/v1/accounts/{account.external_id}/posts",
                          token=account.credentials.access_token, json=body).json()["data"]
        return _result(data)

    def find_published(self, account: Account, content: PostContent, since: datetime) -> PublishResult | None:
        data = self._send("GET", f"/v1/accounts/{account.external_id}/posts",
                          token=account.credentials.access_token,
                          params={"since": since.astimezone(UTC).isoformat()}).json()["data"]
        return _match(data, content)


def _result(data: Mapping[str, Any]) -> PublishResult:
    return PublishResult(
        external_id=str(data["id"]),
        url=data.get("url"),
        published_at=datetime.fromisoformat(data["created_at"]) if data.get("created_at") else None,
        raw=dict(data),
    )


def _match(posts: Iterable[Mapping[str, Any]], content: PostContent) -> PublishResult | None:
    """Exact match: the idempotency key when the platform echoes it, else the
    exact text. The oldest match is the one we made first."""
    for p in posts:
        if content.key and p.get("key"):
            if p["key"] == content.key:
                return _result(p)
        elif p.get("text") == content.text:
            return _result(p)
    return None


class FakePlugin:
    """Registers :class:`FakeConnector` (as a plugin object, not an entry point)."""

    __version__ = FakeConnector.version

    @hookimpl
    def clientnest_register_connectors(self) -> list[type[SocialConnector]]:
        return [FakeConnector]


plugin = FakePlugin()
