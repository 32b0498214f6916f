"""A sandbox of LinkedIn: a WSGI app answering what the connector calls.

Shapes follow the recorded real traffic in ``fixtures/real-api/linkedin``:
``POST /rest/posts`` answers 201 with an empty body, ``x-restli-id`` and a
``Location`` of ``/posts/<encoded urn>``; text, article and single-image posts
get ``urn:li:share`` ids and multi-image and video posts ``urn:li:ugcPost`` ids;
lists come as ``{"paging": {start, count, links, total}, "elements": [...]}``
with ``next``/``prev`` links; errors as ``{"message", "serviceErrorCode"?,
"status"}`` with ``x-restli-error-response: true``. Ids are LinkedIn-style
snowflakes (the creation time in milliseconds shifted left by 22 bits).

What it holds lives in memory and is readable through LinkedIn's own read
endpoints (``GET /rest/posts/{urn}``, ``GET /rest/posts?q=author``, comments,
``socialMetadata``, share statistics). OAuth approves at once as the signed-in
member. It also behaves like LinkedIn where clients go wrong: ``/rest`` calls
need ``LinkedIn-Version`` and ``X-Restli-Protocol-Version: 2.0.0``, URNs in
paths must be encoded, scopes and organization roles are checked, an identical
post within an hour is refused as a duplicate (422), and commentary is cut at
the first unescaped reserved little-text character, as LinkedIn silently does.

Faults and the other controls follow ClientNest's standard sandbox interface
(:mod:`clientnest.testing.faults`: ``POST /_sandbox/faults``, ``/_sandbox/reset``,
``/_sandbox/comments``, ``/_sandbox/metrics``, ``/_sandbox/tokens``), answered
the LinkedIn way: ``rate_limit`` is a 429 with serviceErrorCode 101 and
``Retry-After``; ``unavailable`` a 503 with ``Retry-After``; ``server_error`` a
500/502/504 in LinkedIn's error body, nothing done; ``expired_token`` a 401
with serviceErrorCode 65602; ``duplicate`` a 422 "Content is a duplicate of
urn:li:share:..." on ``POST /rest/posts``; ``slow`` and ``disconnect`` carry the
request out first (a post created behind a timeout or a reset). In Python:
``sandbox.faults.arm(kind=..., ...)``. Two LinkedIn extras:
``POST /_sandbox/expire-tokens`` and ``GET /_sandbox`` (a summary of the state).
"""
from __future__ import annotations

import html
import json
import re
import secrets
import string
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from clientnest.testing.faults import Fault, FaultSet, SandboxControl, close_connection

from .versions import is_active

__all__ = [
    "LinkedInSandbox",
    "SANDBOX_CLIENT_ID",
    "SANDBOX_CLIENT_SECRET",
    "RESERVED",
]

SANDBOX_CLIENT_ID = "clientnest-sandbox"
SANDBOX_CLIENT_SECRET = "clientnest-sandbox-secret"
TOKEN_SECONDS = 60 * 24 * 3600
REFRESH_SECONDS = 365 * 24 * 3600
VIDEO_PART = 4 * 1024 * 1024  # LinkedIn's video parts are 4 MiB
RESERVED = frozenset("\\|{}@[]()<>#*_~")
_ALNUM = string.ascii_letters + string.digits
_HASHTAG_AT = re.compile(r"#(\w+)")
_MENTION_AT = re.compile(r"@\[(?:\\.|[^\]\\])*\]\(urn:li:[A-Za-z]+:[^)]+\)")
_TEMPLATE_AT = re.compile(r"\{hashtag\|\\#\|[^{}|\\]+\}")
_URL_AT = re.compile(r"https?://[^\s()<>\[\]{}|\\]+")

_DEFAULT_MESSAGES = {
    400: "Bad Request",
    401: "Invalid access token",
    403: "Not enough permissions to access this resource",
    404: "Not Found",
    422: "Unprocessable Entity",
    429: "Resource level throttle limit for calls to this resource is reached.",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def _now_ms() -> int:
    return int(time.time() * 1000)


def _rand(n: int, alphabet: str = _ALNUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    h = {"x-restli-protocol-version": "2.0.0", **(headers or {})}
    return Response(json.dumps(data), status=status, content_type="application/json", headers=h)


def _error(status: int, message: str | None = None, code: int | None = None,
           headers: Mapping[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"message": message or _DEFAULT_MESSAGES.get(status, "Error"), "status": status}
    if code is not None:
        body["serviceErrorCode"] = code
    return _json(body, status, {"x-restli-error-response": "true", **(headers or {})})


def _oauth_error(status: int, error: str, description: str) -> Response:
    return Response(json.dumps({"error": error, "error_description": description}), status=status,
                    content_type="application/json")


class _Reject(Exception):
    """Raised inside a handler to answer with a LinkedIn error."""

    def __init__(self, response: Response) -> None:
        self.response = response


def _forbid(method: str, resource: str) -> _Reject:
    return _Reject(_error(403, f"Not enough permissions to access: {method} {resource}", 100))


def parse_list(value: str | None) -> list[str]:
    """``List(a,b)`` (already URL-decoded) -> ``["a", "b"]``."""
    if not value:
        return []
    value = value.strip()
    if not (value.startswith("List(") and value.endswith(")")):
        raise _Reject(_error(400, f"Invalid Rest.li list syntax: {value[:80]}"))
    inner = value[5:-1]
    return [v for v in inner.split(",") if v]


def store_little(text: str) -> str:
    """Commentary as LinkedIn keeps it: cut at the first reserved character
    that is neither escaped nor part of a URL, mention, hashtag or template
    (the silent truncation LinkedIn is known for), bare hashtags rewritten as
    ``{hashtag|\\#|tag}`` templates."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        url = _URL_AT.match(text, i) if c in "hH" else None
        if url:
            out.append(url.group(0))
            i = url.end()
            continue
        if c == "\\":
            out.append(text[i:i + 2])
            i += 2
            continue
        if c in RESERVED:
            m = _TEMPLATE_AT.match(text, i) or _MENTION_AT.match(text, i)
            if m:
                out.append(m.group(0))
                i = m.end()
                continue
            h = _HASHTAG_AT.match(text, i)
            if c == "#" and h:
                out.append("{hashtag|\\#|" + h.group(1) + "}")
                i = h.end()
                continue
            break  # LinkedIn drops the rest of the post here
        out.append(c)
        i += 1
    return "".join(out)


@dataclass
class _Token:
    member: str
    scopes: frozenset[str]
    expires_at: float
    client_id: str
    created_at: float = field(default_factory=time.time)
    revoked: bool = False


class LinkedInSandbox:
    """The sandbox WSGI app; one instance holds one in-memory LinkedIn."""

    def __init__(self, *, video_part_size: int = VIDEO_PART, video_processing_polls: int = 1,
                 duplicate_window_seconds: int = 3600) -> None:
        self.video_part_size = video_part_size
        self.video_processing_polls = video_processing_polls
        self.duplicate_window_seconds = duplicate_window_seconds
        self._lock = threading.RLock()
        self.faults = FaultSet()
        self.control = SandboxControl(
            self.faults,
            reset=self.reset,
            add_comment=self._control_add_comment,
            set_metrics=self._control_set_metrics,
            issue_token=self._control_issue_token,
        )
        self._url_map = Map([
            Rule("/", endpoint="index", methods=["GET"]),
            Rule("/oauth/v2/authorization", endpoint="authorize", methods=["GET"]),
            Rule("/oauth/v2/accessToken", endpoint="access_token", methods=["POST"]),
            Rule("/oauth/v2/introspectToken", endpoint="introspect", methods=["POST"]),
            Rule("/v2/userinfo", endpoint="userinfo", methods=["GET"]),
            Rule("/v2/me", endpoint="me", methods=["GET"]),
            Rule("/v2/organizationAcls", endpoint="organization_acls", methods=["GET"]),
            Rule("/rest/organizationAcls", endpoint="organization_acls", methods=["GET"]),
            Rule("/rest/posts", endpoint="posts", methods=["GET", "POST"]),
            Rule("/rest/posts/<urn>", endpoint="post", methods=["GET", "DELETE"]),
            Rule("/rest/images", endpoint="images_action", methods=["POST"]),
            Rule("/rest/images/<urn>", endpoint="image", methods=["GET"]),
            Rule("/rest/videos", endpoint="videos_action", methods=["POST"]),
            Rule("/rest/videos/<urn>", endpoint="video", methods=["GET"]),
            Rule("/dms-uploads/<asset>/<kind>/<int:part>", endpoint="upload", methods=["PUT", "POST"]),
            Rule("/rest/socialActions/<urn>/comments", endpoint="comments", methods=["GET", "POST"]),
            Rule("/rest/socialMetadata", endpoint="social_metadata", methods=["GET"]),
            Rule("/rest/organizationalEntityShareStatistics", endpoint="share_statistics", methods=["GET"]),
            Rule("/rest/networkSizes/<urn>", endpoint="network_sizes", methods=["GET"]),
            Rule("/feed/update/<urn>/", endpoint="permalink", methods=["GET"]),
            Rule("/_sandbox", endpoint="control_state", methods=["GET"]),
        ], strict_slashes=False)
        self.reset()

    # -- state ------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget everything; start with one member administering two
        organizations (and only an analyst of a third)."""
        with self._lock:
            self.members: dict[str, dict[str, Any]] = {}
            self.organizations: dict[str, dict[str, Any]] = {}
            self.acls: list[dict[str, str]] = []
            self.codes: dict[str, dict[str, Any]] = {}
            self.tokens: dict[str, _Token] = {}
            self.refresh_tokens: dict[str, dict[str, Any]] = {}
            self.posts: dict[str, dict[str, Any]] = {}
            self.signatures: dict[str, str] = {}
            self.deleted: set[str] = set()
            self.images: dict[str, dict[str, Any]] = {}
            self.videos: dict[str, dict[str, Any]] = {}
            self.uploads: dict[str, tuple[str, str]] = {}
            self.comments: dict[str, list[dict[str, Any]]] = {}
            self.engagement: dict[str, dict[str, int]] = {}
            self.faults.clear()
            self.requests: list[dict[str, Any]] = []
            self._last_id = 0
            member = self.add_member("Sandra", "Box", member_id="Sbx4Kq7LmN", email="sandra.box@example.com")
            self.signed_in = member
            self.add_organization(2414183, "Devtestco", "devtestco", admin=member)
            self.add_organization(90362860, "Testing Company", "oursource", admin=member)
            self.add_organization(80893183, "sf-test", "sf-test-1", admin=member, role="ANALYST")

    def add_member(self, given: str, family: str, *, member_id: str | None = None,
                   email: str | None = None) -> str:
        """Add a member; returns its ``urn:li:person`` URN."""
        mid = member_id or _rand(10)
        urn = f"urn:li:person:{mid}"
        with self._lock:
            self.members[urn] = {"id": mid, "given": given, "family": family, "email": email}
        return urn

    def add_organization(self, org_id: int, name: str, vanity: str, *, admin: str | None = None,
                         role: str = "ADMINISTRATOR") -> str:
        urn = f"urn:li:organization:{org_id}"
        with self._lock:
            self.organizations[urn] = {"id": org_id, "localizedName": name, "vanityName": vanity}
            if admin:
                self.acls.append({"member": admin, "organization": urn, "role": role, "state": "APPROVED"})
        return urn

    def issue_token(self, member: str | None = None, *, scope: str | Iterable[str] | None = None,
                    expires_in: int = TOKEN_SECONDS) -> str:
        """A ready access token (for direct connection tests); every scope by default."""
        scopes = _scopes(scope) if scope is not None else _ALL_SCOPES
        token = "AQV" + _rand(60, _ALNUM + "-_")
        with self._lock:
            self.tokens[token] = _Token(member or self.signed_in, scopes, time.time() + expires_in,
                                        SANDBOX_CLIENT_ID)
        return token

    def expire_tokens(self) -> None:
        """Make every access token expired (refresh tokens keep working)."""
        with self._lock:
            for t in self.tokens.values():
                t.expires_at = min(t.expires_at, time.time() - 1)

    def inject(self, **spec: Any) -> Fault:
        """Arm a fault (the fields of ``POST /_sandbox/faults``)."""
        return self.faults.arm(**spec)

    def engage(self, urn: str, *, impressions: int | None = None, unique_impressions: int | None = None,
               likes: int | None = None, clicks: int | None = None, shares: int | None = None) -> None:
        """Set the counts the statistics endpoints report for a post.

        :raises KeyError: no such post.
        """
        with self._lock:
            if urn not in self.posts or urn in self.deleted:
                raise KeyError(urn)
            e = self.engagement.setdefault(urn, {})
            for key, value in (("impressions", impressions), ("unique_impressions", unique_impressions),
                               ("likes", likes), ("clicks", clicks), ("shares", shares)):
                if value is not None:
                    e[key] = int(value)

    def add_comment(self, target: str, text: str, *, actor: str | None = None) -> dict[str, Any]:
        """A comment by someone else (default: a new member) on a post or comment.

        :raises KeyError: no such post or comment.
        """
        with self._lock:
            if actor is None:
                actor = self.add_member("Commenting", "Member")
            try:
                return self._new_comment(target, actor, text, impersonator=None)
            except _Reject:
                raise KeyError(target) from None

    def post(self, urn: str) -> dict[str, Any] | None:
        """A stored post as ``GET /rest/posts/{urn}`` gives it (``None`` once deleted)."""
        with self._lock:
            p = self.posts.get(urn)
            return json.loads(json.dumps(p)) if p and urn not in self.deleted else None

    def state_posts(self) -> list[str]:
        """URNs of the posts held (deleted ones left out), oldest first."""
        with self._lock:
            return [u for u in self.posts if u not in self.deleted]

    def requests_to(self, method: str, path_prefix: str) -> list[dict[str, Any]]:
        """The logged requests with this method under this path."""
        with self._lock:
            return [r for r in self.requests if r["method"] == method and r["path"].startswith(path_prefix)]

    def _next_id(self) -> int:
        with self._lock:
            candidate = _now_ms() << 22
            self._last_id = max(candidate, self._last_id + 1)
            return self._last_id

    # -- WSGI ---------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self._handle(request)
        return response(environ, start_response)

    def _fault_response(self, fault: Fault) -> Response:
        """What LinkedIn answers for a fault that stops the request."""
        if fault.kind == "rate_limit":
            return _error(429, None, 101, {"Retry-After": str(fault.retry_after)})
        if fault.kind == "unavailable":
            return _error(503, None, None, {"Retry-After": str(fault.retry_after)})
        if fault.kind == "expired_token":
            return _error(401, "The token used in the request has expired", 65602)
        if fault.kind == "duplicate":
            with self._lock:
                live = [u for u in self.posts if u not in self.deleted]
            dup = live[-1] if live else f"urn:li:share:{self._next_id()}"
            return _error(422, f"Content is a duplicate of {dup}")
        return _error(fault.status or 500)

    def _log(self, request: Request) -> None:
        headers = {k: v for k, v in request.headers.items()}
        if "Authorization" in headers:
            headers["Authorization"] = headers["Authorization"].split(" ", 1)[0] + " ***"
        body: Any = None
        if request.mimetype == "application/json":
            body = request.get_json(silent=True)
        with self._lock:
            self.requests.append({
                "method": request.method, "path": request.path, "query": request.query_string.decode(),
                "raw_uri": request.environ.get("REQUEST_URI") or request.environ.get("RAW_URI"),
                "headers": headers, "json": body, "at": time.time(),
            })
            del self.requests[:-1000]

    def _handle(self, request: Request) -> Response:
        if SandboxControl.is_control(request.path):
            if request.path.rstrip("/") == "/_sandbox/expire-tokens" and request.method == "POST":
                self.expire_tokens()
                return Response(status=204)
            return self.control.dispatch(request)
        adapter = self._url_map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except HTTPException as exc:
            if isinstance(exc, NotFound):
                return _error(404, f"No resource found for {request.method} {request.path}")
            return _error(exc.code or 400, exc.description)
        if endpoint.startswith("control_"):
            return getattr(self, f"_{endpoint}")(request, **args)
        self._log(request)
        if endpoint in ("index", "permalink"):  # pages for people, never faulted
            return getattr(self, f"_{endpoint}")(request, **args)
        publish = request.method == "POST" and request.path.rstrip("/") == "/rest/posts"
        fault = self.faults.take(request.method, request.path, publish=publish)
        carried_out = fault is not None and fault.kind in ("slow", "disconnect")
        if fault is not None and not carried_out:
            if fault.delay:
                time.sleep(fault.delay)
            return self._fault_response(fault)
        try:
            self._check_protocol(request, endpoint)
            response = getattr(self, f"_{endpoint}")(request, **args)
        except _Reject as rej:
            response = rej.response
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.kind == "disconnect" and not close_connection(request.environ):
                return _error(502)
        return response

    def _check_protocol(self, request: Request, endpoint: str) -> None:
        """What LinkedIn's gateway checks before any handler runs."""
        if not request.path.startswith("/rest/"):
            return
        version = request.headers.get("LinkedIn-Version")
        if not version:
            raise _Reject(_json({"status": 400, "code": "VERSION_MISSING", "message":
                                 "A version must be present. Please specify a version by adding the "
                                 "LinkedIn-Version header."}, 400))
        if not is_active(version):  # malformed, retired (over a year old) or not yet released
            raise _Reject(_json({"status": 426, "code": "NONEXISTENT_VERSION",
                                 "message": f"Requested version {version} is not active"}, 426))
        if request.headers.get("X-Restli-Protocol-Version") != "2.0.0":
            raise _Reject(_error(400, "X-Restli-Protocol-Version: 2.0.0 is required (encoded URNs and "
                                      "List() parameters are Rest.li 2.0 syntax)"))
        raw = request.environ.get("REQUEST_URI") or request.environ.get("RAW_URI") or ""
        raw_path = raw.split("?", 1)[0]
        if "urn:li:" in raw_path:
            raise _Reject(_error(400, "Syntax exception in path variables: URNs in a path must be URL-encoded"))

    # -- auth ---------------------------------------------------------------------------
    def _auth(self, request: Request) -> _Token:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or not header[7:].strip():
            raise _Reject(_error(401, "Empty oauth2_access_token", 401))
        with self._lock:
            token = self.tokens.get(header[7:].strip())
        if token is None:
            raise _Reject(_error(401, "Invalid access token", 65600))
        if token.revoked:
            raise _Reject(_error(401, "The token used in the request has been revoked by the user", 65601))
        if token.expires_at <= time.time():
            raise _Reject(_error(401, "The token used in the request has expired", 65602))
        return token

    @staticmethod
    def _need(token: _Token, method: str, resource: str, *any_of: str) -> None:
        if not token.scopes.intersection(any_of):
            raise _forbid(method, resource)

    def _is_admin(self, member: str, org: str) -> bool:
        with self._lock:
            return any(a["member"] == member and a["organization"] == org and a["role"] == "ADMINISTRATOR"
                       and a["state"] == "APPROVED" for a in self.acls)

    def _may_act_as(self, token: _Token, actor: str, method: str, resource: str) -> None:
        """Write access as a member (itself) or an organization (admins)."""
        if actor.startswith("urn:li:person:"):
            if actor != token.member:
                raise _forbid(method, resource)
            self._need(token, method, resource, "w_member_social")
        elif actor.startswith("urn:li:organization:"):
            self._need(token, method, resource, "w_organization_social")
            if not self._is_admin(token.member, actor):
                raise _forbid(method, resource)
        else:
            raise _Reject(_error(422, f"ERROR :: /actor :: Urn {actor!r} is not a person or organization\n"))

    def _may_read(self, token: _Token, author: str, method: str, resource: str) -> None:
        """Read access to an author's posts and their social actions."""
        if author.startswith("urn:li:person:"):
            if author != token.member or "r_member_social" not in token.scopes:
                raise _Reject(_error(400, "Member permissions must be used when using member as author"))
        else:
            self._need(token, method, resource, "r_organization_social", "rw_organization_admin")
            if not self._is_admin(token.member, author):
                raise _forbid(method, resource)

    # -- OAuth ----------------------------------------------------------------------------
    def _authorize(self, request: Request) -> Response:
        a = request.args
        redirect_uri = a.get("redirect_uri")
        if a.get("response_type") != "code" or not a.get("client_id") or not redirect_uri:
            return Response("<h1>Bad request</h1><p>response_type=code, client_id and redirect_uri are "
                            "required.</p>", 400, content_type="text/html")
        code = "AQT" + _rand(40, _ALNUM + "-_")
        with self._lock:
            self.codes[code] = {"member": self.signed_in, "redirect_uri": redirect_uri,
                                "client_id": a["client_id"], "scope": _scopes(a.get("scope")),
                                "at": time.time(), "used": False}
        query = {"code": code}
        if a.get("state") is not None:
            query["state"] = a["state"]
        sep = "&" if "?" in redirect_uri else "?"
        return Response("", 302, headers={"Location": redirect_uri + sep + urlencode(query)})

    def _grant(self, member: str, scopes: frozenset[str], client_id: str,
               refresh_token: str | None = None, refresh_expires: float | None = None) -> dict[str, Any]:
        token = "AQV" + _rand(60, _ALNUM + "-_")
        now = time.time()
        with self._lock:
            self.tokens[token] = _Token(member, scopes, now + TOKEN_SECONDS, client_id)
            if refresh_token is None:
                refresh_token = "AQX" + _rand(60, _ALNUM + "-_")
                refresh_expires = now + REFRESH_SECONDS
                self.refresh_tokens[refresh_token] = {"member": member, "scopes": scopes,
                                                      "expires_at": refresh_expires, "client_id": client_id}
        return {
            "access_token": token,
            "expires_in": TOKEN_SECONDS,
            "refresh_token": refresh_token,
            "refresh_token_expires_in": int((refresh_expires or now) - now),
            "scope": ",".join(sorted(scopes)),
            "token_type": "Bearer",
        }

    def _access_token(self, request: Request) -> Response:
        f = request.form
        if not f.get("client_id") or not f.get("client_secret"):
            return _oauth_error(401, "invalid_client", "Client authentication failed")
        grant = f.get("grant_type")
        if grant == "authorization_code":
            with self._lock:
                entry = self.codes.get(f.get("code") or "")
                ok = (entry is not None and not entry["used"] and entry["redirect_uri"] == f.get("redirect_uri")
                      and entry["client_id"] == f["client_id"] and time.time() - entry["at"] < 1800)
                if ok:
                    entry["used"] = True
            if not ok:
                return _oauth_error(400, "invalid_request",
                                    "Unable to retrieve access token: appid/redirect uri/code verifier does not "
                                    "match authorization code. Or authorization code expired. Or external member "
                                    "binding exists")
            return Response(json.dumps(self._grant(entry["member"], entry["scope"], f["client_id"])),
                            200, content_type="application/json")
        if grant == "refresh_token":
            rt = f.get("refresh_token") or ""
            with self._lock:
                entry = self.refresh_tokens.get(rt)
            if entry is None or entry["expires_at"] <= time.time():
                return _oauth_error(400, "invalid_request", "The provided refresh token is invalid or expired")
            return Response(json.dumps(self._grant(entry["member"], entry["scopes"], f["client_id"],
                                                   refresh_token=rt, refresh_expires=entry["expires_at"])),
                            200, content_type="application/json")
        return _oauth_error(400, "unsupported_grant_type", f"grant_type {grant!r} is not supported")

    def _introspect(self, request: Request) -> Response:
        f = request.form
        if not f.get("client_id") or not f.get("client_secret"):
            return _oauth_error(401, "invalid_client", "Client authentication failed")
        with self._lock:
            t = self.tokens.get(f.get("token") or "")
        if t is None:
            return Response(json.dumps({"active": False}), 200, content_type="application/json")
        status = "revoked" if t.revoked else "expired" if t.expires_at <= time.time() else "active"
        return Response(json.dumps({
            "active": status == "active", "client_id": t.client_id, "authorized_at": int(t.created_at),
            "created_at": int(t.created_at), "status": status, "expires_at": int(t.expires_at),
            "scope": ",".join(sorted(t.scopes)), "auth_type": "3L",
        }), 200, content_type="application/json")

    # -- profile and organizations ----------------------------------------------------------
    def _userinfo(self, request: Request) -> Response:
        token = self._auth(request)
        if not {"openid", "profile"} <= token.scopes:
            raise _forbid("GET", "/userinfo")
        m = self.members[token.member]
        body = {"sub": m["id"], "name": f"{m['given']} {m['family']}", "given_name": m["given"],
                "family_name": m["family"], "locale": {"country": "US", "language": "en"}}
        if m.get("email") and "email" in token.scopes:
            body.update(email=m["email"], email_verified=True)
        return Response(json.dumps(body), 200, content_type="application/json")

    def _me(self, request: Request) -> Response:
        token = self._auth(request)
        self._need(token, "GET", "/me", "profile", "r_liteprofile", "r_basicprofile")
        m = self.members[token.member]
        return Response(json.dumps({"localizedFirstName": m["given"], "localizedLastName": m["family"],
                                    "id": m["id"]}), 200, content_type="application/json")

    def _organization_acls(self, request: Request) -> Response:
        token = self._auth(request)
        self._need(token, "GET", "/organizationAcls", "rw_organization_admin", "r_organization_admin")
        a = request.args
        if a.get("q") != "roleAssignee":
            raise _Reject(_error(400, "Only the roleAssignee finder is supported by the sandbox"))
        with self._lock:
            rows = [r for r in self.acls if r["member"] == token.member
                    and r["role"] == a.get("role", r["role"]) and r["state"] == a.get("state", r["state"])]
        decorate = "organization~" in (a.get("projection") or "")
        elements = []
        for r in rows:
            el: dict[str, Any] = {"organization": r["organization"], "role": r["role"], "state": r["state"],
                                  "roleAssignee": r["member"]}
            if decorate:
                org = self.organizations[r["organization"]]
                el["organization~"] = {"vanityName": org["vanityName"], "localizedName": org["localizedName"],
                                       "id": org["id"]}
            elements.append(el)
        start, count = _paging_args(a, default_count=10)
        page = elements[start:start + count]
        return Response(json.dumps({"paging": _paging(request, start, count, len(elements), with_total=False),
                                    "elements": page}), 200, content_type="application/json;charset=utf-8")

    # -- posts --------------------------------------------------------------------------------
    def _posts(self, request: Request) -> Response:
        token = self._auth(request)
        if request.method == "POST":
            return self._create_post(request, token)
        a = request.args
        if a.get("q") != "author" or not a.get("author"):
            raise _Reject(_error(400, "Finder q=author with an author is required"))
        author = a["author"]
        self._may_read(token, author, "GET", "/posts")
        sort = a.get("sortBy", "LAST_MODIFIED")
        if sort not in ("LAST_MODIFIED", "CREATED"):
            raise _Reject(_error(400, f"Invalid sortBy {sort}"))
        key = "createdAt" if sort == "CREATED" else "lastModifiedAt"
        with self._lock:
            mine = [json.loads(json.dumps(p)) for u, p in self.posts.items()
                    if p["author"] == author and u not in self.deleted]
        mine.sort(key=lambda p: (p[key], p["id"]), reverse=True)
        start, count = _paging_args(a, default_count=10, max_count=100)
        return _json({"paging": _paging(request, start, count, len(mine)), "elements": mine[start:start + count]})

    def _create_post(self, request: Request, token: _Token) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise _Reject(_json({"status": 400, "code": "ILLEGAL_ARGUMENT",
                                 "message": "Request body could not be converted to data map"}, 400))
        problems = [f"ERROR :: /{k} :: field is required but not found and has no default value\n"
                    for k in ("author", "commentary", "visibility", "distribution", "lifecycleState")
                    if k not in body]
        author = body.get("author")
        if isinstance(author, str) and not author.startswith("urn:"):
            msg = f"ERROR :: /author :: Urn doesn't start with 'urn:'. Urn: {author} at index 0: {author}\n"
            problems += [msg, msg]
        if problems:
            raise _Reject(_error(422, "".join(problems)))
        self._may_act_as(token, author, "POST", "/posts")
        content = body.get("content") or None
        kind = "share"
        if content:
            kind = self._check_content(content, author)
        commentary = store_little(str(body["commentary"]))
        now = _now_ms()
        signature = json.dumps([author, commentary, content], sort_keys=True)
        with self._lock:
            for u, p in reversed(self.posts.items()):
                if u in self.deleted or p["author"] != author:
                    continue
                if now - p["createdAt"] > self.duplicate_window_seconds * 1000:
                    break
                if self.signatures.get(u) == signature:
                    raise _Reject(_error(422, f"Content is a duplicate of {u}"))
            urn = f"urn:li:{kind}:{self._next_id()}"
            distribution = dict(body.get("distribution") or {})
            if not distribution.get("targetEntities"):
                distribution.pop("targetEntities", None)
            post: dict[str, Any] = {
                "isReshareDisabledByAuthor": bool(body.get("isReshareDisabledByAuthor", False)),
                "createdAt": now,
                "lifecycleState": body["lifecycleState"],
                "lastModifiedAt": now,
                "visibility": body["visibility"],
                "publishedAt": now,
                "author": author,
                "id": urn,
                "distribution": distribution,
                "commentary": commentary,
                "lifecycleStateInfo": {"isEditedByAuthor": False},
            }
            if content:
                post["content"] = content
            self.posts[urn] = post
            self.signatures[urn] = signature
        return Response("", 201, headers={
            "Location": f"/posts/{quote(urn, safe='')}",
            "x-restli-id": urn,
            "x-restli-protocol-version": "2.0.0",
            "Content-Length": "0",
        })

    def _check_content(self, content: Mapping[str, Any], author: str) -> str:
        """Validate referenced media; the URN kind the post will get."""
        if "article" in content:
            art = content["article"] or {}
            if not art.get("source") or not art.get("title"):
                raise _Reject(_error(422, "ERROR :: /content/article/title :: field is required but not found "
                                          "and has no default value\n"))
            return "share"
        if "multiImage" in content:
            images = (content["multiImage"] or {}).get("images") or []
            if not 2 <= len(images) <= 20:
                raise _Reject(_error(422, "ERROR :: /content/multiImage/images :: a multi-image post takes "
                                          "2 to 20 images\n"))
            for i, img in enumerate(images):
                self._check_asset(str(img.get("id", "")), author, f"/content/multiImage/images/{i}/id")
            return "ugcPost"
        if "media" in content:
            mid = str((content["media"] or {}).get("id", ""))
            self._check_asset(mid, author, "/content/media/id")
            return "ugcPost" if mid.startswith("urn:li:video:") else "share"
        raise _Reject(_error(422, f"ERROR :: /content :: unsupported content {sorted(content)}\n"))

    def _check_asset(self, urn: str, author: str, where: str) -> None:
        with self._lock:
            asset = self.images.get(urn) or self.videos.get(urn)
        if asset is None:
            raise _Reject(_error(422, f"ERROR :: {where} :: {urn} does not exist\n"))
        if asset["owner"] != author:
            raise _Reject(_error(422, f"ERROR :: {where} :: {urn} is not owned by {author}\n"))
        if asset["status"] != "AVAILABLE":
            raise _Reject(_error(422, f"ERROR :: {where} :: {urn} is {asset['status']}, not AVAILABLE\n"))

    def _post(self, request: Request, urn: str) -> Response:
        token = self._auth(request)
        with self._lock:
            post = self.posts.get(urn)
        if post is None or urn in self.deleted:
            raise _Reject(_error(404, f"Post {urn} not found"))
        if request.method == "DELETE":
            self._may_act_as(token, post["author"], "DELETE", "/posts")
            with self._lock:
                self.deleted.add(urn)
            return Response("", 204, headers={"x-restli-protocol-version": "2.0.0"})
        self._may_read(token, post["author"], "GET", "/posts")
        return _json(post)

    def _permalink(self, request: Request, urn: str) -> Response:
        with self._lock:
            post = self.posts.get(urn)
            gone = urn in self.deleted
        if post is None or gone:
            return Response("<h1>This post cannot be displayed</h1>", 404, content_type="text/html")
        author = post["author"]
        name = (self.organizations.get(author) or {}).get("localizedName") or (
            " ".join((self.members.get(author) or {}).get(k, "") for k in ("given", "family")).strip() or author)
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(post["createdAt"] / 1000))
        body = (f"<!doctype html><title>LinkedIn sandbox post</title><p><em>LinkedIn sandbox</em></p>"
                f"<h1>{html.escape(name)}</h1><p>{html.escape(post['commentary'])}</p>"
                f"<p><small>{html.escape(urn)} &middot; {when}</small></p>")
        return Response(body, 200, content_type="text/html")

    # -- media ------------------------------------------------------------------------------------
    def _images_action(self, request: Request) -> Response:
        token = self._auth(request)
        if request.args.get("action") != "initializeUpload":
            raise _Reject(_error(400, "Unsupported action"))
        req = ((request.get_json(silent=True) or {}).get("initializeUploadRequest") or {})
        owner = str(req.get("owner") or "")
        self._may_act_as(token, owner, "POST", "/images")
        asset = "C4E10AQ" + _rand(11, _ALNUM + "-_")
        urn = f"urn:li:image:{asset}"
        with self._lock:
            self.images[urn] = {"owner": owner, "status": "WAITING_UPLOAD", "size": 0}
            self.uploads[asset] = ("image", urn)
        expires = _now_ms() + 24 * 3600 * 1000
        url = (f"{request.url_root}dms-uploads/{asset}/uploaded-image/0?ca=vector_ads&cn=uploads&sync=0"
               f"&v=beta&ut={_rand(14)}")
        return _json({"value": {"uploadUrlExpiresAt": expires, "uploadUrl": url, "image": urn}})

    def _image(self, request: Request, urn: str) -> Response:
        self._auth(request)
        with self._lock:
            img = self.images.get(urn)
        if img is None:
            raise _Reject(_error(404, f"Image {urn} not found"))
        asset = urn.rsplit(":", 1)[-1]
        body: dict[str, Any] = {"owner": img["owner"], "id": urn, "status": img["status"]}
        if img["status"] == "AVAILABLE":
            body.update(downloadUrl=f"{request.url_root}dms/image/{asset}/image-shrink_1280/0",
                        downloadUrlExpiresAt=_now_ms() + 7 * 24 * 3600 * 1000)
        return _json(body)

    def _videos_action(self, request: Request) -> Response:
        token = self._auth(request)
        action = request.args.get("action")
        data = request.get_json(silent=True) or {}
        if action == "initializeUpload":
            req = data.get("initializeUploadRequest") or {}
            owner = str(req.get("owner") or "")
            size = req.get("fileSizeBytes")
            self._may_act_as(token, owner, "POST", "/videos")
            if not isinstance(size, int) or size <= 0:
                raise _Reject(_error(422, "ERROR :: /initializeUploadRequest/fileSizeBytes :: field is required "
                                          "but not found and has no default value\n"))
            asset = "C5F10AQ" + _rand(11, _ALNUM + "-_")
            urn = f"urn:li:video:{asset}"
            parts = []
            for i, first in enumerate(range(0, size, self.video_part_size)):
                last = min(first + self.video_part_size, size) - 1
                parts.append({"uploadUrl": f"{request.url_root}dms-uploads/{asset}/uploadedVideo/{i}"
                                           f"?ca=vector_feedshare&cn=uploads&m=AQ&app=1&sync=0&v=beta&ut={_rand(12)}",
                              "lastByte": last, "firstByte": first})
            with self._lock:
                self.videos[urn] = {"owner": owner, "status": "WAITING_UPLOAD", "size": size,
                                    "parts": [None] * len(parts), "polls": 0}
                self.uploads[asset] = ("video", urn)
            return _json({"value": {"uploadUrlsExpireAt": _now_ms() + 24 * 3600 * 1000, "video": urn,
                                    "uploadInstructions": parts, "uploadToken": ""}})
        if action == "finalizeUpload":
            req = data.get("finalizeUploadRequest") or {}
            urn = str(req.get("video") or "")
            with self._lock:
                video = self.videos.get(urn)
                if video is None:
                    raise _Reject(_error(404, f"Video {urn} not found"))
                self._may_act_as(token, video["owner"], "POST", "/videos")
                etags = [p["etag"] if p else None for p in video["parts"]]
                if None in etags or list(req.get("uploadedPartIds") or []) != etags:
                    raise _Reject(_error(400, "uploadedPartIds do not match the uploaded parts"))
                video["status"] = "PROCESSING"
            return Response("", 200, headers={"x-restli-protocol-version": "2.0.0"})
        raise _Reject(_error(400, "Unsupported action"))

    def _video(self, request: Request, urn: str) -> Response:
        self._auth(request)
        with self._lock:
            video = self.videos.get(urn)
            if video is None:
                raise _Reject(_error(404, f"Video {urn} not found"))
            if video["status"] == "PROCESSING":
                video["polls"] += 1
                if video["polls"] > self.video_processing_polls:
                    video["status"] = "AVAILABLE"
            body: dict[str, Any] = {"owner": video["owner"], "id": urn, "status": video["status"]}
        if body["status"] == "AVAILABLE":
            asset = urn.rsplit(":", 1)[-1]
            body.update(duration=5570, aspectRatioWidth=1.75, aspectRatioHeight=1,
                        thumbnail=f"{request.url_root}dms/image/{asset}/videocover-high/0",
                        downloadUrl=f"{request.url_root}playlist/{asset}/mp4-640p-30fp-crf28/0",
                        downloadUrlExpiresAt=_now_ms() + 7 * 24 * 3600 * 1000)
        return _json(body)

    def _upload(self, request: Request, asset: str, kind: str, part: int) -> Response:
        self._auth(request)
        data = request.get_data()
        with self._lock:
            target = self.uploads.get(asset)
            if target is None:
                return Response("", 404)
            what, urn = target
            if what == "image":
                if not data:
                    return Response("", 400)
                self.images[urn].update(status="AVAILABLE", size=len(data))
                return Response("", 201)
            video = self.videos[urn]
            if not 0 <= part < len(video["parts"]):
                return Response("", 400)
            first = part * self.video_part_size
            expected = min(first + self.video_part_size, video["size"]) - first
            if len(data) != expected:
                return Response(f"part {part} must be {expected} bytes, got {len(data)}", 400)
            etag = f"/ambry-video/signedId/{_rand(24)}"
            video["parts"][part] = {"etag": etag, "size": len(data)}
        return Response("", 200, headers={"ETag": etag})

    # -- comments and statistics ---------------------------------------------------------------
    def _target_post(self, target: str) -> str | None:
        """The post a socialActions target belongs to (itself, or a comment's post)."""
        with self._lock:
            if target in self.posts:
                return None if target in self.deleted else target
            for comments in self.comments.values():
                for c in comments:
                    if c["commentUrn"] == target:
                        return c["object"] if c["object"] not in self.deleted else None
        return None

    def _new_comment(self, target: str, actor: str, text: str, impersonator: str | None,
                     parent: str | None = None) -> dict[str, Any]:
        post = self._target_post(target)
        if post is None:
            raise _Reject(_error(404, f"{target} not found"))
        cid = str(self._next_id())
        urn = f"urn:li:comment:({post},{cid})"
        now = _now_ms()
        stamp: dict[str, Any] = {"actor": actor, "time": now}
        if impersonator:
            stamp["impersonator"] = impersonator
        comment: dict[str, Any] = {
            "actor": actor, "created": dict(stamp), "lastModified": dict(stamp), "id": cid,
            "commentUrn": urn, "$URN": urn, "message": {"attributes": [], "text": text}, "object": post,
        }
        if target != post:
            comment["parentComment"] = parent or target
        with self._lock:
            self.comments.setdefault(target, []).append(comment)
        return comment

    def _with_summary(self, comment: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            replies = len(self.comments.get(comment["commentUrn"], []))
        out = json.loads(json.dumps(comment))
        out["commentsSummary"] = {"totalFirstLevelComments": replies, "aggregatedTotalComments": replies}
        return out

    def _comments(self, request: Request, urn: str) -> Response:
        token = self._auth(request)
        post = self._target_post(urn)
        if post is None:
            raise _Reject(_error(404, f"{urn} not found"))
        author = self.posts[post]["author"]
        if request.method == "POST":
            body = request.get_json(silent=True) or {}
            actor = str(body.get("actor") or "")
            text = ((body.get("message") or {}).get("text"))
            if not actor or not isinstance(text, str) or not text.strip():
                raise _Reject(_error(422, "ERROR :: /message/text :: field is required but not found and has "
                                          "no default value\n"))
            if body.get("object") != post:
                raise _Reject(_error(422, f"ERROR :: /object :: must be {post}\n"))
            self._may_act_as(token, actor, "POST", "/socialActions/comments")
            parent = body.get("parentComment")
            if urn != post and parent != urn:
                raise _Reject(_error(422, f"ERROR :: /parentComment :: must be {urn}\n"))
            impersonator = token.member if actor.startswith("urn:li:organization:") else None
            comment = self._new_comment(urn, actor, text, impersonator, parent)
            return _json(self._with_summary(comment), 201, {"x-restli-id": comment["commentUrn"]})
        self._may_read(token, author, "GET", "/socialActions/comments")
        with self._lock:
            items = list(reversed(self.comments.get(urn, [])))  # newest first, as recorded
        start, count = _paging_args(request.args, default_count=10, max_count=100)
        page = [self._with_summary(c) for c in items[start:start + count]]
        return _json({"paging": _paging(request, start, count, len(items)), "elements": page})

    def _counts(self, urn: str) -> dict[str, int]:
        with self._lock:
            e = dict(self.engagement.get(urn, {}))
            top = self.comments.get(urn, [])
            replies = sum(len(self.comments.get(c["commentUrn"], [])) for c in top)
        return {
            "impressions": e.get("impressions", 0),
            "unique_impressions": e.get("unique_impressions", 0),
            "likes": e.get("likes", 0),
            "clicks": e.get("clicks", 0),
            "shares": e.get("shares", 0),
            "comments": e.get("comments", len(top) + replies),
            "top_comments": len(top),
        }

    def _social_metadata(self, request: Request) -> Response:
        token = self._auth(request)
        ids = parse_list(request.args.get("ids"))
        results: dict[str, Any] = {}
        statuses: dict[str, int] = {}
        errors: dict[str, Any] = {}
        for urn in ids:
            with self._lock:
                post = self.posts.get(urn) if urn not in self.deleted else None
            if post is None:
                statuses[urn] = 404
                errors[urn] = {"message": f"{urn} not found", "status": 404}
                continue
            self._may_read(token, post["author"], "GET", "/socialMetadata")
            n = self._counts(urn)
            reactions = {"LIKE": {"reactionType": "LIKE", "count": n["likes"]}} if n["likes"] else {}
            results[urn] = {"reactionSummaries": reactions, "commentsState": "OPEN",
                            "commentSummary": {"count": n["comments"], "topLevelCount": n["top_comments"]},
                            "entity": urn}
            statuses[urn] = 200
        return _json({"results": results, "statuses": statuses, "errors": errors})

    @staticmethod
    def _statistics(n: Mapping[str, int]) -> dict[str, Any]:
        engaged = n["clicks"] + n["likes"] + n["comments"] + n["shares"]
        return {
            "uniqueImpressionsCount": n["unique_impressions"], "shareCount": n["shares"],
            "shareMentionsCount": 0, "engagement": (engaged / n["impressions"]) if n["impressions"] else 0.0,
            "clickCount": n["clicks"], "likeCount": n["likes"], "impressionCount": n["impressions"],
            "commentMentionsCount": 0, "commentCount": n["comments"],
        }

    def _share_statistics(self, request: Request) -> Response:
        token = self._auth(request)
        a = request.args
        org = a.get("organizationalEntity") or ""
        if a.get("q") != "organizationalEntity" or not org.startswith("urn:li:organization:"):
            raise _Reject(_error(400, "Finder q=organizationalEntity with an organization is required"))
        self._need(token, "GET", "/organizationalEntityShareStatistics", "rw_organization_admin")
        if not self._is_admin(token.member, org):
            raise _forbid("GET", "/organizationalEntityShareStatistics")
        wanted = [("share", u) for u in parse_list(a.get("shares"))] + \
                 [("ugcPost", u) for u in parse_list(a.get("ugcPosts"))]
        elements = []
        if not wanted:  # lifetime totals of the organization
            with self._lock:
                theirs = [u for u, p in self.posts.items() if p["author"] == org and u not in self.deleted]
            total = {k: 0 for k in ("impressions", "unique_impressions", "likes", "clicks", "shares", "comments")}
            for u in theirs:
                for k, v in self._counts(u).items():
                    if k in total:
                        total[k] += v
            elements.append({"totalShareStatistics": self._statistics(total), "organizationalEntity": org})
        for key, urn in wanted:
            with self._lock:
                post = self.posts.get(urn) if urn not in self.deleted else None
            if post is None or post["author"] != org:
                continue
            elements.append({"totalShareStatistics": self._statistics(self._counts(urn)), key: urn,
                             "organizationalEntity": org})
        return _json({"paging": {"start": 0, "count": 10, "links": []}, "elements": elements})

    def _network_sizes(self, request: Request, urn: str) -> Response:
        """An organization's followers: ``{"firstDegreeSize": n}`` (recorded shape)."""
        token = self._auth(request)
        if request.args.get("edgeType") != "COMPANY_FOLLOWED_BY_MEMBER":
            raise _Reject(_error(400, "edgeType COMPANY_FOLLOWED_BY_MEMBER is required for an organization"))
        with self._lock:
            org = self.organizations.get(urn)
        if org is None:
            raise _Reject(_error(404, f"Organization {urn} not found"))
        self._need(token, "GET", "/networkSizes", "rw_organization_admin", "r_organization_social")
        return _json({"firstDegreeSize": int(org.get("followers", 0))})

    def set_account_metrics(self, account_id: str, figures: Mapping[str, int]) -> None:
        """Set an organization's ``followers``. Its impressions, reach and
        engagements are the lifetime totals of its posts (set with :meth:`engage`)."""
        unknown = sorted(set(figures) - {"followers"})
        if unknown:
            raise ValueError(f"figures: {', '.join(unknown)} come from the organization's posts (engage()); "
                             "only followers can be set")
        with self._lock:
            if account_id not in self.organizations:
                raise KeyError(account_id)
            if "followers" in figures:
                self.organizations[account_id]["followers"] = int(figures["followers"])

    # -- index and control -------------------------------------------------------------------------
    def _index(self, request: Request) -> Response:
        with self._lock:
            n_posts = len(self.posts) - len(self.deleted)
        body = ("<!doctype html><title>LinkedIn sandbox</title><h1>LinkedIn sandbox</h1>"
                "<p>This is not LinkedIn: a local imitation of its API for ClientNest. OAuth approves at once "
                f"as {html.escape(self.signed_in)}; {n_posts} post(s) held in memory.</p>"
                "<p>Control: <code>GET /_sandbox</code>, <code>POST /_sandbox/faults</code>, "
                "<code>POST /_sandbox/tokens</code>, <code>POST /_sandbox/reset</code>.</p>")
        return Response(body, 200, content_type="text/html")

    def _control_state(self, request: Request) -> Response:
        with self._lock:
            return Response(json.dumps({
                "signed_in": self.signed_in,
                "members": sorted(self.members),
                "organizations": {u: o["localizedName"] for u, o in self.organizations.items()},
                "posts": [u for u in self.posts if u not in self.deleted],
                "deleted": sorted(self.deleted),
                "faults": [f.to_json() for f in self.faults.list()],
                "requests": len(self.requests),
            }), 200, content_type="application/json")

    def _control_add_comment(self, post_id: str, text: str, reply_to: str | None) -> str:
        """``POST /_sandbox/comments``: another member comments (or replies)."""
        with self._lock:
            if post_id not in self.posts or post_id in self.deleted:
                raise KeyError(post_id)
            if reply_to is not None and self._target_post(reply_to) != post_id:
                raise KeyError(reply_to)
        return str(self.add_comment(reply_to or post_id, text)["commentUrn"])

    def _control_set_metrics(self, post_id: str, metrics: Mapping[str, int]) -> None:
        """``POST /_sandbox/metrics``: PostMetrics names mapped to what LinkedIn
        counts (reach is its unique impressions); saves and video views do not
        exist on LinkedIn and are refused."""
        names = {"impressions": "impressions", "reach": "unique_impressions", "likes": "likes",
                 "clicks": "clicks", "shares": "shares"}
        unknown = sorted(set(metrics) - set(names) - {"comments"})
        if unknown:
            raise ValueError(f"metrics: LinkedIn reports no {', '.join(unknown)}")
        self.engage(post_id, **{names[k]: v for k, v in metrics.items() if k in names})
        if "comments" in metrics:
            with self._lock:
                self.engagement[post_id]["comments"] = int(metrics["comments"])

    def _control_issue_token(self) -> dict[str, Any]:
        """``POST /_sandbox/tokens``: what ``connect_with_token`` takes."""
        token = self.issue_token()
        with self._lock:
            expires = self.tokens[token].expires_at
        return {"access_token": token,
                "expires_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(expires))}


_ALL_SCOPES = frozenset({
    "openid", "profile", "email", "w_member_social", "r_member_social", "r_organization_social",
    "w_organization_social", "rw_organization_admin", "r_organization_admin",
})


def _scopes(value: str | Iterable[str] | None) -> frozenset[str]:
    if value is None:
        return _ALL_SCOPES
    if isinstance(value, str):
        return frozenset(value.replace(",", " ").split())
    return frozenset(value)


def _paging_args(args: Mapping[str, str], *, default_count: int, max_count: int = 100) -> tuple[int, int]:
    try:
        start = max(0, int(args.get("start", 0)))
        count = int(args.get("count", default_count))
    except ValueError:
        raise _Reject(_error(400, "start and count must be integers")) from None
    if not 0 < count <= max_count:
        raise _Reject(_error(400, f"count must be between 1 and {max_count}"))
    return start, count


def _paging(request: Request, start: int, count: int, total: int, *, with_total: bool = True) -> dict[str, Any]:
    """LinkedIn's paging object, with ``prev``/``next`` links as recorded."""
    def href(s: int) -> str:
        args = [(k, v) for k, v in request.args.items(multi=True) if k not in ("start", "count")]
        args += [("count", str(count)), ("start", str(s))]
        return request.path + "?" + "&".join(
            f"{k}={quote(v, safe='(),~*')}" for k, v in args)

    links = []
    if start > 0:
        links.append({"type": "application/json", "rel": "prev", "href": href(max(0, start - count))})
    if start + count < total:
        links.append({"type": "application/json", "rel": "next", "href": href(start + count)})
    out: dict[str, Any] = {"start": start, "count": count, "links": links}
    if with_total:
        out["total"] = total
    return out
