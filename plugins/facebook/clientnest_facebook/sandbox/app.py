"""The Facebook sandbox: a WSGI app answering the Graph endpoints the connector
uses, with the real response shapes, status codes and headers.

Served at its own root (``/sandbox/facebook`` in the embedded mode), it plays
three hosts at once: ``www.facebook.com`` (the Login dialog, which approves at
once), ``graph.facebook.com`` and ``graph-video.facebook.com``. Paths may carry
a version prefix (``/v23.0/...``) or not.

Faults are armed through :mod:`clientnest.testing.faults` (``/_sandbox/faults``
or :attr:`FacebookSandbox.faults`) and answered the way Graph answers:
throttling is HTTP 400 with code 32 and ``x-business-use-case-usage`` carrying
``estimated_time_to_regain_access``; an expired token is code 190 subcode 463;
a duplicate is code 506 subcode 1455006.
"""
from __future__ import annotations

import base64
import json
import math
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from clientnest.testing.faults import Fault, FaultSet, SandboxControl, close_connection
from werkzeug.wrappers import Request, Response

from .fields import parse_fields, select
from .state import FAN, FacebookState, TokenInfo, graph_time

__all__ = ["FacebookSandbox", "SANDBOX_APP_ID", "SANDBOX_APP_SECRET", "SANDBOX_VERIFY_TOKEN"]

SANDBOX_APP_ID = "1234567890123456"
SANDBOX_APP_SECRET = "sandbox-facebook-app-secret"
SANDBOX_VERIFY_TOKEN = "sandbox-facebook-verify-token"
DEFAULT_VERSION = "v23.0"
SHORT_TOKEN_TTL = 2 * 3600
LONG_TOKEN_TTL = 5184000  # 60 days, as base_long_term_token.json
_VERSION = re.compile(r"^v\d+\.\d+$")
#: fault kinds where the platform carries the request out before the answer is lost
_ACTED = ("slow", "disconnect")
_UNSUPPORTED = (
    "Unsupported {method} request. Object with ID '{oid}' does not exist, cannot be loaded due to missing "
    "permissions, or does not support this operation. Please read the Graph API documentation at "
    "https://developers.facebook.com/docs/graph-api"
)
_POST_INSIGHTS = {"post_impressions": "impressions", "post_impressions_unique": "reach",
                  "post_clicks": "clicks", "post_video_views": "video_views"}
_VIDEO_INSIGHTS = {"total_video_views": "video_views", "total_video_impressions": "impressions",
                   "total_video_impressions_unique": "reach"}


class GraphError(Exception):
    """Raised by a handler; becomes a Graph error response."""

    def __init__(self, message: str, *, code: int, status: int = 400, type_: str = "OAuthException",
                 subcode: int | None = None, extra: Mapping[str, Any] | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.status, self.type = message, code, status, type_
        self.subcode, self.extra, self.headers = subcode, dict(extra or {}), dict(headers or {})


def _unsupported(method: str, oid: str) -> GraphError:
    return GraphError(_UNSUPPORTED.format(method=method.lower(), oid=oid), code=100, subcode=33,
                      type_="GraphMethodException")


class FacebookSandbox:
    """The WSGI app. ``faults`` arms faults from Python; ``state`` is the data."""

    def __init__(self) -> None:
        self.state = FacebookState()
        self.faults = FaultSet()
        self.control = SandboxControl(
            self.faults,
            reset=self.state.reset,
            add_comment=self.add_fan_comment,
            set_metrics=self.set_metrics,
            issue_token=self.issue_user_token,
        )
        self._calls = 0

    # -- control hooks ------------------------------------------------------------
    def add_fan_comment(self, post_id: str, text: str, reply_to: str | None = None) -> str:
        """Another user comments on a post (or replies to a comment)."""
        with self.state.lock:
            if reply_to is not None:
                if reply_to not in self.state.comments:
                    raise KeyError(reply_to)
                parent = self.state.comments[reply_to]
                return self.state.add_comment(parent["object_id"], text, FAN, parent_id=reply_to)["id"]
            if self.state.object_kind(post_id) not in ("post", "video", "photo"):
                raise KeyError(post_id)
            return self.state.add_comment(post_id, text, FAN)["id"]

    def set_metrics(self, post_id: str, metrics: Mapping[str, int]) -> None:
        with self.state.lock:
            if self.state.object_kind(post_id) not in ("post", "video", "photo"):
                raise KeyError(post_id)
            self.state.metrics.setdefault(post_id, {}).update({k: int(v) for k, v in metrics.items()})

    def set_account_metrics(self, account_id: str, figures: Mapping[str, int]) -> None:
        """Set a Page's figures: ``followers`` (``followers_count``; ``fan_count``
        follows it), and the last complete day's ``impressions``, ``reach``,
        ``profile_views``, ``engagements``, ``new_followers``."""
        known = {"followers", "impressions", "reach", "profile_views", "engagements", "new_followers"}
        unknown = sorted(set(figures) - known)
        if unknown:
            raise ValueError(f"figures: unknown name(s) {', '.join(unknown)}")
        with self.state.lock:
            if self.state.object_kind(account_id) != "page":
                raise KeyError(account_id)
            if "followers" in figures:
                self.state.pages[account_id]["followers_count"] = int(figures["followers"])
                self.state.pages[account_id]["fan_count"] = int(figures["followers"])
            self.state.metrics.setdefault(account_id, {}).update(
                {k: int(v) for k, v in figures.items() if k != "followers"})

    def issue_user_token(self) -> dict[str, Any]:
        """A long-lived user token, as a user would paste it (``connect_with_token``)."""
        with self.state.lock:
            return {"access_token": self.state.issue_token("user", self.state.user["id"], ttl=LONG_TOKEN_TTL,
                                                           long_lived=True)}

    # -- WSGI -------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        if SandboxControl.is_control(request.path):
            return self.control.dispatch(request)(environ, start_response)
        response = self._serve(request, environ)
        return response(environ, start_response)

    def _serve(self, request: Request, environ: dict[str, Any]) -> Response:
        segs = [s for s in request.path.split("/") if s]
        version = DEFAULT_VERSION
        if segs and _VERSION.match(segs[0]):
            version = segs.pop(0)
        if segs == ["dialog", "oauth"]:
            return self._dialog(request)  # a browser page, never faulted
        params = self._params(request)
        fault = self._take_fault(request.method, request.path, self._is_publish(request.method, segs, params))
        if fault is not None and fault.kind not in ("slow", "disconnect"):
            return self._fault_response(fault, version, segs)
        try:
            response = self._route(request, version, segs, params)
        except GraphError as err:
            response = self._error(err, version)
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay)
        elif fault is not None and fault.kind == "disconnect":
            if close_connection(environ):
                return Response(b"", status=200)
            return self._error(GraphError("Bad gateway", code=1, status=502), version)
        return response

    def _take_fault(self, method: str, path: str, publish: bool) -> Fault | None:
        """The armed fault for this request. ``slow`` and ``disconnect`` mean
        "the platform acted, then the answer was lost": without a ``path`` they
        wait for the request that makes a post visible (a media upload or a
        container is invisible, so losing its answer loses nothing)."""
        if not publish:
            first = next((f for f in self.faults.list() if f.matches(method, path, publish=False)), None)
            if first is not None and first.kind in _ACTED and first.path is None:
                return None
        return self.faults.take(method, path, publish=publish)

    @staticmethod
    def _params(request: Request) -> dict[str, str]:
        params = {k: v for k, v in request.args.items()}
        if request.method in ("POST", "DELETE"):
            params.update({k: v for k, v in request.form.items()})
            if request.is_json:
                body = request.get_json(silent=True)
                if isinstance(body, dict):
                    params.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()})
        return params

    @staticmethod
    def _is_publish(method: str, segs: list[str], params: Mapping[str, str]) -> bool:
        if method != "POST":
            return False
        if len(segs) == 2 and segs[1] in ("feed", "videos"):
            return True
        if len(segs) == 2 and segs[1] == "photos":
            return params.get("published", "true") != "false"
        return False

    # -- responses -------------------------------------------------------------------
    def _headers(self, version: str, page_id: str | None) -> dict[str, str]:
        self._calls += 1
        headers = {
            "facebook-api-version": version,
            "x-fb-trace-id": secrets.token_urlsafe(8)[:11],
            "x-fb-request-id": secrets.token_urlsafe(16)[:23],
            "x-fb-rev": "1006950027",
        }
        # as recorded: Page-scoped calls report business-use-case usage, others app usage
        if not page_id:
            headers["x-app-usage"] = json.dumps({"call_count": self._calls % 100, "total_cputime": 0, "total_time": 1})
        else:
            headers["x-business-use-case-usage"] = json.dumps({page_id: [{
                "type": "pages", "call_count": 1, "total_cputime": 1, "total_time": 1,
                "estimated_time_to_regain_access": 0,
            }]})
        return headers

    def _ok(self, body: Any, version: str, page_id: str | None = None) -> Response:
        return Response(json.dumps(body), status=200, content_type="application/json; charset=UTF-8",
                        headers=self._headers(version, page_id))

    def _error(self, err: GraphError, version: str) -> Response:
        error: dict[str, Any] = {"message": err.message, "type": err.type, "code": err.code}
        if err.subcode is not None:
            error["error_subcode"] = err.subcode
        error.update(err.extra)
        error["fbtrace_id"] = secrets.token_urlsafe(16)[:23]
        headers = self._headers(version, None)
        kind = "invalid_token" if err.code == 190 else "invalid_request"
        headers["WWW-Authenticate"] = f'OAuth "Facebook Platform" "{kind}" "{err.message[:200]}"'
        headers.update(err.headers)
        return Response(json.dumps({"error": error}), status=err.status,
                        content_type="application/json; charset=UTF-8", headers=headers)

    def _fault_response(self, fault: Fault, version: str, segs: list[str]) -> Response:
        target = segs[0] if segs else ""
        with self.state.lock:
            page = self.state.page_of(target) or target
        if fault.kind == "rate_limit":
            minutes = max(1, math.ceil(fault.retry_after / 60))
            usage = {page: [{"type": "pages", "call_count": 100, "total_cputime": 12, "total_time": 100,
                             "estimated_time_to_regain_access": minutes}]}
            return self._error(GraphError(
                "(#32) Page request limit reached", code=32, extra={"is_transient": True},
                headers={"x-business-use-case-usage": json.dumps(usage),
                         "x-app-usage": json.dumps({"call_count": 100, "total_cputime": 10, "total_time": 100})},
            ), version)
        if fault.kind == "unavailable":
            return self._error(GraphError("Service temporarily unavailable", code=2, status=503,
                                          extra={"is_transient": True},
                                          headers={"Retry-After": str(fault.retry_after)}), version)
        if fault.kind == "server_error":
            return self._error(GraphError("An unexpected error has occurred. Please retry your request later.",
                                          code=2, status=fault.status or 500, extra={"is_transient": True}), version)
        if fault.kind == "expired_token":
            return self._error(GraphError(
                "Error validating access token: Session has expired on Monday, 19-Jun-23 06:29:46 PDT. "
                "The current time is Tuesday, 04-Jul-23 02:11:32 PDT.", code=190, subcode=463), version)
        # duplicate: the recorded refusal of POST /{page}/feed
        return self._error(GraphError(
            "Duplicate status message", code=506, subcode=1455006,
            extra={"is_transient": False, "error_user_title": "Duplicate Status Update",
                   "error_user_msg": "This status update is identical to the last one you posted. Try posting "
                                     "something different, or delete your previous update."}), version)

    # -- OAuth -------------------------------------------------------------------------
    def _dialog(self, request: Request) -> Response:
        redirect_uri = request.args.get("redirect_uri")
        if not redirect_uri or not request.args.get("client_id"):
            return Response("<h1>Sandbox Facebook Login</h1><p>client_id and redirect_uri are required.</p>",
                            status=400, content_type="text/html; charset=utf-8")
        code = "AQ" + secrets.token_urlsafe(40)
        with self.state.lock:
            self.state.codes[code] = {"redirect_uri": redirect_uri, "client_id": request.args["client_id"],
                                      "scope": request.args.get("scope", ""), "used": False}
        query = {"code": code}
        if request.args.get("state") is not None:
            query["state"] = request.args["state"]
        parts = urlsplit(redirect_uri)
        joined = f"{parts.query}&{urlencode(query)}" if parts.query else urlencode(query)
        location = urlunsplit((parts.scheme, parts.netloc, parts.path, joined, "")) + "#_=_"
        return Response(status=302, headers={"Location": location})

    def _access_token(self, params: Mapping[str, str], version: str) -> Response:
        if not params.get("client_id") or not params.get("client_secret"):
            raise GraphError("Missing client_id or client_secret parameter.", code=101)
        with self.state.lock:
            if params.get("grant_type") == "fb_exchange_token":
                info = self.state.tokens.get(params.get("fb_exchange_token", ""))
                if info is None or info.kind != "user" or info.expired(datetime.now(UTC)):
                    raise GraphError("Error validating access token: The session is invalid.", code=190, subcode=460)
                token = self.state.issue_token("user", info.subject, ttl=LONG_TOKEN_TTL, long_lived=True)
                return self._ok({"access_token": token, "token_type": "bearer", "expires_in": LONG_TOKEN_TTL}, version)
            code = self.state.codes.get(params.get("code", ""))
            if code is None:
                raise GraphError("Invalid verification code format.", code=100, subcode=36007)
            if code["used"]:
                raise GraphError("This authorization code has been used.", code=100, subcode=36009)
            if code["redirect_uri"] != params.get("redirect_uri"):
                raise GraphError("Error validating verification code. Please make sure your redirect_uri is "
                                 "identical to the one you used in the OAuth dialog request", code=100, subcode=36008)
            code["used"] = True
            token = self.state.issue_token("user", self.state.user["id"], ttl=SHORT_TOKEN_TTL)
        return self._ok({"access_token": token, "token_type": "bearer", "expires_in": SHORT_TOKEN_TTL}, version)

    def _token(self, request: Request, params: Mapping[str, str]) -> tuple[str, TokenInfo]:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        token = value.strip() if scheme.lower() in ("bearer", "oauth") else params.get("access_token", "")
        if not token:
            raise GraphError("An access token is required to request this resource.", code=104)
        info = self.state.tokens.get(token)
        if info is None:
            raise GraphError("Invalid OAuth access token - Cannot parse access token", code=190)
        if info.expired(datetime.now(UTC)):
            raise GraphError(f"Error validating access token: Session has expired on "
                             f"{info.expires_at:%A, %d-%b-%y %H:%M:%S} UTC.", code=190, subcode=463)
        return token, info

    # -- routing ------------------------------------------------------------------------
    def _route(self, request: Request, version: str, segs: list[str], params: dict[str, str]) -> Response:
        method = request.method
        if segs == ["oauth", "access_token"] and method in ("GET", "POST"):
            return self._access_token(params, version)
        with self.state.lock:
            token, info = self._token(request, params)
            if segs and segs[0] == "me":
                segs = [info.subject, *segs[1:]]
            if len(segs) == 1:
                return self._node(request, method, version, segs[0], info, params)
            if len(segs) == 2:
                return self._edge(request, method, version, segs[0], segs[1], info, params)
        raise GraphError(f"Unknown path components: /{'/'.join(segs[2:])}", code=2500)

    def _require_page_token(self, info: TokenInfo, page_id: str) -> None:
        if info.kind != "page" or info.subject != page_id:
            raise GraphError("(#200) If posting to a page, requires both pages_read_engagement and "
                             "pages_manage_posts as an admin with sufficient administrative permission", code=200,
                             type_="OAuthException")

    def _node(self, request: Request, method: str, version: str, oid: str, info: TokenInfo,
              params: dict[str, str]) -> Response:
        st = self.state
        kind = st.object_kind(oid)
        page = st.page_of(oid)
        specs = parse_fields(params.get("fields"))
        if method == "DELETE":
            if kind not in ("post", "photo", "video", "comment"):
                raise _unsupported("delete", oid)
            self._require_page_token(info, page or "")
            st.delete(oid)
            return self._ok({"success": True}, version, page)
        if method == "POST":
            if kind == "video":
                self._require_page_token(info, page or "")
                video = st.videos[oid]
                if params.get("published") == "true" and not video["published"]:
                    self._publish_video(video)
                if specs is None:
                    return self._ok({"success": True}, version, page)
                return self._ok(select(self._render(oid, specs), specs), version, page)
            raise _unsupported("post", oid)
        if method != "GET":
            raise _unsupported(method, oid)
        if kind is None:
            raise _unsupported("get", oid)
        body = self._render(oid, specs, info)
        return self._ok(select(body, specs, default=_DEFAULT_FIELDS.get(kind, ())), version, page)

    def _render(self, oid: str, specs: Any, info: TokenInfo | None = None) -> dict[str, Any]:
        """Every field of an object (callers narrow it with :func:`select`)."""
        st = self.state
        kind = st.object_kind(oid)
        if kind == "user":
            return dict(st.user)
        if kind == "page":
            page = dict(st.pages[oid])
            page.setdefault("followers_count", 0)  # set with set_account_metrics
            page.setdefault("fan_count", page["followers_count"])
            if info is not None and (info.kind == "user" or info.subject == oid):
                page["access_token"] = st.page_token(oid, info)
            return page
        if kind == "post":
            return self._render_post(st.posts[oid], specs)
        if kind == "photo":
            photo = st.photos[oid]
            return {"id": oid, "created_time": graph_time(photo["created_time"]),
                    "link": f"https://www.facebook.com/photo.php?fbid={oid}", "name": photo.get("message") or "",
                    "published": photo["published"], **self._counts(oid, specs)}
        if kind == "video":
            video = st.videos[oid]
            return {
                "id": oid, "description": video.get("description") or "", "title": video.get("title") or "",
                "created_time": graph_time(video["created_time"]), "updated_time": graph_time(video["created_time"]),
                "published": video["published"],
                "permalink_url": f"/{video['page_id']}/videos/{oid}",
                "status": {"video_status": "ready", "uploading_phase": {"status": "complete"},
                           "processing_phase": {"status": "complete"},
                           "publishing_phase": {"status": "complete" if video["published"] else "not_started"}},
                **self._counts(oid, specs),
            }
        return st.render_comment(st.comments[oid])

    def _counts(self, oid: str, specs: Any) -> dict[str, Any]:
        """``comments`` / ``reactions`` / ``likes`` edges as fields, honouring
        ``.limit(n)`` and ``.summary(true)``."""
        st = self.state
        out: dict[str, Any] = {}
        wanted = {s.name: s for s in specs or []}
        for name in ("comments", "reactions", "likes"):
            spec = wanted.get(name)
            if spec is None:
                continue
            if name == "comments":
                rows = [st.render_comment(c) for c in st.comments_of(oid, toplevel=True)]
                total = len(st.comments_of(oid, toplevel=False)) if oid not in st.metrics or \
                    "comments" not in st.metrics[oid] else st.metric(oid, "comments")
                summary: dict[str, Any] = {"order": "chronological", "total_count": total, "can_comment": True}
            else:
                rows = []
                summary = {"total_count": st.metric(oid, "likes"), "viewer_reaction": "NONE"}
                if name == "likes":
                    summary = {"total_count": st.metric(oid, "likes"), "can_like": True, "has_liked": False}
            limit = spec.modifiers.get("limit")
            if limit is not None and limit.isdigit():
                rows = rows[: int(limit)]
            edge: dict[str, Any] = {"data": rows}
            if spec.modifiers.get("summary") in ("true", "1", "total_count"):
                edge["summary"] = summary
            out[name] = edge
        return out

    def _render_post(self, post: dict[str, Any], specs: Any) -> dict[str, Any]:
        st = self.state
        page = st.pages[post["page_id"]]
        out: dict[str, Any] = {
            "id": post["id"],
            "created_time": graph_time(post["created_time"]),
            "updated_time": graph_time(post["updated_time"]),
            "permalink_url": st.permalink(post),
            "from": {"id": page["id"], "name": page["name"]},
            "is_published": True,
            "status_type": {"status": "mobile_status_update", "link": "shared_story", "photo": "added_photos",
                            "album": "added_photos", "video": "added_video"}[post["kind"]],
        }
        if post.get("message"):
            out["message"] = post["message"]
        atts = st.render_attachments(post)
        if atts:
            out["attachments"] = {"data": atts}
        shares = st.metric(post["id"], "shares")
        if shares:
            out["shares"] = {"count": shares}
        out.update(self._counts(post["id"], specs))
        return out

    def _edge(self, request: Request, method: str, version: str, oid: str, edge: str, info: TokenInfo,
              params: dict[str, str]) -> Response:
        st = self.state
        kind = st.object_kind(oid)
        if kind is None:
            raise _unsupported(method, oid)
        page = st.page_of(oid)
        if kind == "page" and edge == "accounts":
            raise GraphError("(#100) Tried accessing nonexisting field (accounts) on node type (Page)", code=100)
        if kind == "user" and edge == "accounts" and method == "GET":
            return self._accounts(info, params, version)
        if kind == "page" and edge in ("feed", "posts", "published_posts") and method == "GET":
            return self._feed(oid, params, version)
        if kind == "page" and edge == "feed" and method == "POST":
            self._require_page_token(info, oid)
            return self._post_feed(oid, params, version)
        if kind == "page" and edge == "photos" and method == "POST":
            self._require_page_token(info, oid)
            return self._post_photo(oid, request, params, version)
        if kind == "page" and edge == "videos" and method == "POST":
            self._require_page_token(info, oid)
            return self._post_video(oid, request, params, version)
        if edge == "comments" and kind in ("post", "photo", "video", "comment"):
            if method == "GET":
                return self._comments(oid, kind, params, version, page)
            if method == "POST":
                self._require_page_token(info, page or "")
                message = params.get("message", "").strip()
                if not message and "attachment_url" not in params:
                    raise GraphError("(#100) Missing message or attachment", code=100)
                if kind == "comment":
                    parent = st.comments[oid]
                    row = st.add_comment(parent["object_id"], message, self._page_author(page), parent_id=oid)
                else:
                    row = st.add_comment(oid, message, self._page_author(page))
                body = st.render_comment(row)
                specs = parse_fields(params.get("fields"))
                return self._ok(select(body, specs) if specs else {"id": row["id"]}, version, page)
        if edge == "insights" and method == "GET" and kind == "page":
            return self._page_insights(oid, params, version)
        if edge in ("insights", "video_insights") and method == "GET" and kind in ("post", "video"):
            return self._insights(oid, edge, params, version, page)
        raise GraphError(f"(#100) Tried accessing nonexisting field ({edge}) on node type "
                         f"({(kind or 'Object').capitalize()})", code=100)

    def _page_author(self, page_id: str | None) -> dict[str, str]:
        page = self.state.pages.get(page_id or "", {"id": page_id or "", "name": ""})
        return {"id": page["id"], "name": page["name"]}

    # -- edges ------------------------------------------------------------------------------
    def _paged(self, request_params: Mapping[str, str], rows: list[dict[str, Any]],
               default_limit: int = 25) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """One page of ``rows`` with Graph's cursor paging (``after`` is the offset, encoded)."""
        limit = int(request_params.get("limit") or default_limit)
        limit = max(1, min(limit, 100))
        start = _decode_cursor(request_params.get("after"))
        chunk = rows[start:start + limit]
        paging: dict[str, Any] = {}
        if chunk:
            paging["cursors"] = {"before": _cursor(start), "after": _cursor(start + len(chunk))}
            if start + len(chunk) < len(rows):
                paging["next"] = f"https://graph.facebook.com/sandbox?after={_cursor(start + len(chunk))}"
            if start > 0:
                paging["previous"] = f"https://graph.facebook.com/sandbox?before={_cursor(start)}"
        return chunk, paging

    def _accounts(self, info: TokenInfo, params: dict[str, str], version: str) -> Response:
        st = self.state
        specs = parse_fields(params.get("fields"))
        pages = [self._render(pid, specs, info) for pid in st.pages]
        pages = [select(p, specs, default=("access_token", "category", "category_list", "name", "id", "tasks"))
                 for p in pages]
        chunk, paging = self._paged(params, pages)
        return self._ok({"data": chunk, "paging": paging}, version)

    def _feed(self, page_id: str, params: dict[str, str], version: str) -> Response:
        st = self.state
        posts = sorted((p for p in st.posts.values() if p["page_id"] == page_id),
                       key=lambda p: (p["created_time"], p["id"]), reverse=True)
        since, until = params.get("since"), params.get("until")
        if since:
            posts = [p for p in posts if p["created_time"].timestamp() >= _epoch(since)]
        if until:
            posts = [p for p in posts if p["created_time"].timestamp() <= _epoch(until)]
        specs = parse_fields(params.get("fields"))
        rows = [select(self._render_post(p, specs), specs, default=("message", "created_time")) for p in posts]
        chunk, paging = self._paged(params, rows)
        return self._ok({"data": chunk, "paging": paging}, version, page_id)

    def _post_feed(self, page_id: str, params: dict[str, str], version: str) -> Response:
        st = self.state
        message, link = params.get("message") or None, params.get("link") or None
        attached = [v for k, v in sorted(params.items()) if k.startswith("attached_media")]
        photo_ids: list[str] = []
        for raw in attached:
            try:
                items = json.loads(raw)
            except ValueError:
                raise GraphError("(#100) param attached_media must be an array of objects", code=100) from None
            for item in items if isinstance(items, list) else [items]:
                fbid = str((item or {}).get("media_fbid", ""))
                if fbid not in st.photos or st.photos[fbid]["page_id"] != page_id:
                    raise GraphError(f"(#100) Invalid media_fbid {fbid}", code=100)
                photo_ids.append(fbid)
        if not message and not link and not photo_ids:
            raise GraphError("(#100) Missing message or attachment", code=100)
        last = st.last_status(page_id)
        if (not photo_ids and last is not None and last["kind"] in ("status", "link")
                and (last.get("message") or None) == message and (last.get("link") or None) == link):
            raise GraphError("Duplicate status message", code=506, subcode=1455006, extra={
                "is_transient": False, "error_user_title": "Duplicate Status Update",
                "error_user_msg": "This status update is identical to the last one you posted. Try posting "
                                  "something different, or delete your previous update."})
        kind = "album" if len(photo_ids) > 1 else "photo" if photo_ids else "link" if link else "status"
        post = st.add_post(page_id, message=message, link=link, kind=kind, photo_ids=photo_ids)
        for pid in photo_ids:
            st.photos[pid]["published"] = True
            st.photos[pid]["post_id"] = post["id"]
        return self._ok({"id": post["id"]}, version, page_id)

    def _post_photo(self, page_id: str, request: Request, params: dict[str, str], version: str) -> Response:
        st = self.state
        source = request.files.get("source")
        if not params.get("url") and source is None:
            raise GraphError("(#324) Requires upload file", code=324)
        size = len(source.read()) if source is not None else None
        published = params.get("published", "true") != "false"
        pid = st.new_id()
        message = params.get("message") or params.get("caption") or None
        st.photos[pid] = {"id": pid, "page_id": page_id, "url": params.get("url"), "size": size,
                          "message": message, "published": published,
                          "created_time": datetime.now(UTC), "post_id": None}
        if not published:
            return self._ok({"id": pid}, version, page_id)
        post = st.add_post(page_id, message=message, kind="photo", photo_ids=[pid])
        st.photos[pid]["post_id"] = post["id"]
        return self._ok({"id": pid, "post_id": post["id"]}, version, page_id)

    def _post_video(self, page_id: str, request: Request, params: dict[str, str], version: str) -> Response:
        st = self.state
        source = request.files.get("source")
        if not params.get("file_url") and source is None:
            raise GraphError("(#100) No file or file_url was given", code=100)
        vid = st.new_id()
        video = {"id": vid, "page_id": page_id, "file_url": params.get("file_url"),
                 "size": len(source.read()) if source is not None else None,
                 "description": params.get("description") or None, "title": params.get("title") or None,
                 "published": False, "created_time": datetime.now(UTC)}
        st.videos[vid] = video
        if params.get("published", "true") != "false":
            self._publish_video(video)
        return self._ok({"id": vid}, version, page_id)

    def _publish_video(self, video: dict[str, Any]) -> None:
        video["published"] = True
        self.state.add_post(video["page_id"], message=video.get("description"), kind="video", video_id=video["id"])

    def _comments(self, oid: str, kind: str, params: dict[str, str], version: str, page: str | None) -> Response:
        st = self.state
        if kind == "comment":
            rows = st.replies_of(oid)
        else:
            rows = st.comments_of(oid, toplevel=params.get("filter", "toplevel") != "stream")
        if params.get("order") == "reverse_chronological":
            rows = list(reversed(rows))
        specs = parse_fields(params.get("fields"))
        rendered = [select(st.render_comment(c), specs, default=("created_time", "from", "message")) for c in rows]
        chunk, paging = self._paged(params, rendered)
        body: dict[str, Any] = {"data": chunk, "paging": paging}
        if params.get("summary") in ("true", "1"):
            body["summary"] = {"order": "chronological", "total_count": len(rows), "can_comment": True}
        return self._ok(body, version, page)

    def _page_insights(self, page_id: str, params: dict[str, str], version: str) -> Response:
        from .page_insights import InsightsRefused, page_insights

        with self.state.lock:
            figures = dict(self.state.metrics.get(page_id, {}))
        try:
            return self._ok(page_insights(page_id, figures, params), version, page_id)
        except InsightsRefused as exc:
            raise GraphError(str(exc), code=100) from None

    def _insights(self, oid: str, edge: str, params: dict[str, str], version: str, page: str | None) -> Response:
        st = self.state
        known = _VIDEO_INSIGHTS if edge == "video_insights" else _POST_INSIGHTS
        names = [m.strip() for m in params.get("metric", "").split(",") if m.strip()] or list(known)
        bad = [m for m in names if m not in known]
        if bad:
            raise GraphError(f"(#100) The value must be a valid insights metric: {bad[0]}", code=100)
        data = [{
            "name": name, "period": "lifetime", "values": [{"value": st.metric(oid, known[name])}],
            "title": name.replace("_", " ").capitalize(), "description": f"Lifetime: {name}",
            "id": f"{oid}/insights/{name}/lifetime",
        } for name in names]
        return self._ok({"data": data}, version, page)


_DEFAULT_FIELDS: dict[str, tuple[str, ...]] = {
    "user": ("name",),
    "page": ("name",),
    "post": ("created_time", "message"),
    "photo": ("created_time", "link", "name"),
    "video": ("description", "updated_time"),
    "comment": ("created_time", "from", "message"),
}


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return max(0, int(text.split(":", 1)[1]))
    except (ValueError, IndexError):
        raise GraphError("(#100) Invalid cursor", code=100) from None


def _epoch(value: str) -> float:
    if value.isdigit():
        return float(value)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise GraphError(f"(#100) Invalid time: {value}", code=100) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
