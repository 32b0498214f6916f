"""The Instagram sandbox: a WSGI app answering the Instagram Graph endpoints the
connector uses, with the recorded shapes (``{"id"}`` for containers and
``media_publish``, ``status_code`` ``IN_PROGRESS``/``FINISHED``/``ERROR`` on
container polls, ``permalink`` read-back, cursor paging, insights envelopes).

It also plays Facebook Login (the dialog approves at once) and ``/me/accounts``
with ``instagram_business_account``. Creating a container downloads its
``image_url`` / ``video_url`` as Instagram does (:mod:`.fetch`): an image it
cannot download, or that is not a photo, is refused at once with Graph's
"Media download has failed" error (code 9004, subcode 2207052); a video is
downloaded too, and such a failure shows as the container's ``ERROR`` status.
Video containers answer ``IN_PROGRESS`` for
:attr:`InstagramState.processing_polls` polls. Faults come through
:mod:`clientnest.testing.faults`: throttling is code 80002 (the Instagram
business-use-case limit) with ``x-business-use-case-usage``; an expired token
is code 190 subcode 463. Instagram has no duplicate refusal of its own; the
``duplicate`` fault answers ``media_publish`` with Graph's duplicate code 506.
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

from .fetch import Fetched, fetch_media
from .fields import parse_fields, select
from .state import FAN, FINISHED, IN_PROGRESS, PUBLISH_QUOTA, InstagramState, TokenInfo, graph_time

__all__ = ["InstagramSandbox", "SANDBOX_APP_ID", "SANDBOX_APP_SECRET", "SANDBOX_VERIFY_TOKEN"]

SANDBOX_APP_ID = "1234567890123456"
SANDBOX_APP_SECRET = "sandbox-instagram-app-secret"
SANDBOX_VERIFY_TOKEN = "sandbox-instagram-verify-token"
DEFAULT_VERSION = "v23.0"
SHORT_TOKEN_TTL = 2 * 3600
LONG_TOKEN_TTL = 5184000
MAX_CAPTION = 2200
MAX_CHILDREN = 10
_VERSION = re.compile(r"^v\d+\.\d+$")
#: fault kinds where the platform carries the request out before the answer is lost
_ACTED = ("slow", "disconnect")
_UNSUPPORTED = (
    "Unsupported {method} request. Object with ID '{oid}' does not exist, cannot be loaded due to missing "
    "permissions, or does not support this operation. Please read the Graph API documentation at "
    "https://developers.facebook.com/docs/graph-api"
)
#: insights each media answers to, by metric name -> PostMetrics name
_METRICS = {"impressions": "impressions", "views": "impressions", "reach": "reach", "saved": "saves",
            "shares": "shares", "likes": "likes", "comments": "comments", "plays": "video_views",
            "total_interactions": "likes"}
_IG_DEFAULT = ("username", "name", "profile_picture_url")


class GraphError(Exception):
    def __init__(self, message: str, *, code: int, status: int = 400, type_: str = "OAuthException",
                 subcode: int | None = None, extra: Mapping[str, Any] | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.status, self.type = message, code, status, type_
        self.subcode, self.extra, self.headers = subcode, dict(extra or {}), dict(headers or {})


def _unsupported(method: str, oid: str) -> GraphError:
    return GraphError(_UNSUPPORTED.format(method=method.lower(), oid=oid), code=100, subcode=33,
                      type_="GraphMethodException")


def _download_failed(url: str) -> GraphError:
    """Instagram's answer to a container whose image it could not download
    (or that is not a photo): HTTP 400, code 9004, subcode 2207052, as quoted
    in public issue threads and client code that handles it."""
    return GraphError("Only photo or video can be accepted as media type.", code=9004, subcode=2207052, extra={
        "is_transient": False, "error_user_title": "Media download has failed.",
        "error_user_msg": f"The media could not be fetched from this uri: {url}. Please check the uri and try again."})


class InstagramSandbox:
    """The WSGI app; ``state`` holds the data, ``faults`` the armed faults."""

    def __init__(self) -> None:
        self.state = InstagramState()
        self.faults = FaultSet()
        self.control = SandboxControl(self.faults, reset=self.state.reset, add_comment=self.add_fan_comment,
                                      set_metrics=self.set_metrics, issue_token=self.issue_user_token)
        self._calls = 0
        #: how a media URL is downloaded (tests may swap it)
        self.fetch: Callable[[str, str], Fetched] = fetch_media

    # -- control hooks ---------------------------------------------------------------
    def add_fan_comment(self, post_id: str, text: str, reply_to: str | None = None) -> str:
        with self.state.lock:
            if reply_to is not None:
                parent = self.state.comments.get(reply_to)
                if parent is None:
                    raise KeyError(reply_to)
                return self.state.add_comment(parent["media_id"], text, FAN, parent_id=reply_to)["id"]
            if post_id not in self.state.media:
                raise KeyError(post_id)
            return self.state.add_comment(post_id, text, FAN)["id"]

    def set_metrics(self, post_id: str, metrics: Mapping[str, int]) -> None:
        with self.state.lock:
            if post_id not in self.state.media:
                raise KeyError(post_id)
            self.state.metrics.setdefault(post_id, {}).update({k: int(v) for k, v in metrics.items()})

    def issue_user_token(self) -> dict[str, Any]:
        with self.state.lock:
            return {"access_token": self.state.issue_token("user", self.state.user["id"], ttl=LONG_TOKEN_TTL,
                                                           long_lived=True)}

    # -- WSGI ---------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        if SandboxControl.is_control(request.path):
            return self.control.dispatch(request)(environ, start_response)
        return self._serve(request, environ)(environ, start_response)

    def _serve(self, request: Request, environ: dict[str, Any]) -> Response:
        segs = [s for s in request.path.split("/") if s]
        version = DEFAULT_VERSION
        if segs and _VERSION.match(segs[0]):
            version = segs.pop(0)
        if segs == ["dialog", "oauth"]:
            return self._dialog(request)
        publish = request.method == "POST" and len(segs) == 2 and segs[1] == "media_publish"
        fault = self._take_fault(request.method, request.path, publish)
        if fault is not None and fault.kind not in ("slow", "disconnect"):
            return self._fault_response(fault, version, segs)
        try:
            response = self._route(request, version, segs, self._params(request))
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
            body = request.get_json(silent=True) if request.is_json else None
            if isinstance(body, dict):
                params.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()})
        return params

    # -- responses ----------------------------------------------------------------------
    def _headers(self, version: str, ig_id: str | None) -> dict[str, str]:
        self._calls += 1
        headers = {
            "facebook-api-version": version,
            "x-fb-trace-id": secrets.token_urlsafe(8)[:11],
            "x-fb-request-id": secrets.token_urlsafe(16)[:23],
        }
        # as recorded: calls on an Instagram account report business-use-case usage, others app usage
        if not ig_id:
            headers["x-app-usage"] = json.dumps({"call_count": self._calls % 100, "total_cputime": 0, "total_time": 1})
        else:
            headers["x-business-use-case-usage"] = json.dumps({ig_id: [{
                "type": "instagram", "call_count": 1, "total_cputime": 1, "total_time": 1,
                "estimated_time_to_regain_access": 0,
            }]})
        return headers

    def _ok(self, body: Any, version: str, ig_id: str | None = None) -> Response:
        return Response(json.dumps(body), status=200, content_type="application/json; charset=UTF-8",
                        headers=self._headers(version, ig_id))

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
        with self.state.lock:
            owner = self.state.owner_of(segs[0]) if segs else None
        if fault.kind == "rate_limit":
            minutes = max(1, math.ceil(fault.retry_after / 60))
            usage = {owner or "0": [{"type": "instagram", "call_count": 100, "total_cputime": 20,
                                     "total_time": 100, "estimated_time_to_regain_access": minutes}]}
            return self._error(GraphError(
                "There have been too many calls to this Instagram account. Wait a bit and try again. For more "
                "info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
                code=80002, extra={"is_transient": True},
                headers={"x-business-use-case-usage": json.dumps(usage)}), version)
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
        return self._error(GraphError("Duplicate post", code=506, subcode=1455006, extra={
            "is_transient": False, "error_user_title": "Duplicate Post",
            "error_user_msg": "This post is identical to one you already published."}), version)

    # -- OAuth (Facebook Login) -----------------------------------------------------------
    def _dialog(self, request: Request) -> Response:
        redirect_uri = request.args.get("redirect_uri")
        if not redirect_uri or not request.args.get("client_id"):
            return Response("<h1>Sandbox Facebook Login</h1><p>client_id and redirect_uri are required.</p>",
                            status=400, content_type="text/html; charset=utf-8")
        code = "AQ" + secrets.token_urlsafe(40)
        with self.state.lock:
            self.state.codes[code] = {"redirect_uri": redirect_uri, "used": False}
        query = {"code": code}
        if request.args.get("state") is not None:
            query["state"] = request.args["state"]
        parts = urlsplit(redirect_uri)
        joined = f"{parts.query}&{urlencode(query)}" if parts.query else urlencode(query)
        return Response(status=302, headers={
            "Location": urlunsplit((parts.scheme, parts.netloc, parts.path, joined, "")) + "#_=_"})

    def _access_token(self, params: Mapping[str, str], version: str) -> Response:
        if not params.get("client_id") or not params.get("client_secret"):
            raise GraphError("Missing client_id or client_secret parameter.", code=101)
        st = self.state
        if params.get("grant_type") == "fb_exchange_token":
            info = st.tokens.get(params.get("fb_exchange_token", ""))
            if info is None or info.kind != "user" or info.expired(datetime.now(UTC)):
                raise GraphError("Error validating access token: The session is invalid.", code=190, subcode=460)
            token = st.issue_token("user", info.subject, ttl=LONG_TOKEN_TTL, long_lived=True)
            return self._ok({"access_token": token, "token_type": "bearer", "expires_in": LONG_TOKEN_TTL}, version)
        code = st.codes.get(params.get("code", ""))
        if code is None:
            raise GraphError("Invalid verification code format.", code=100, subcode=36007)
        if code["used"]:
            raise GraphError("This authorization code has been used.", code=100, subcode=36009)
        if code["redirect_uri"] != params.get("redirect_uri"):
            raise GraphError("Error validating verification code. Please make sure your redirect_uri is identical "
                             "to the one you used in the OAuth dialog request", code=100, subcode=36008)
        code["used"] = True
        token = st.issue_token("user", st.user["id"], ttl=SHORT_TOKEN_TTL)
        return self._ok({"access_token": token, "token_type": "bearer", "expires_in": SHORT_TOKEN_TTL}, version)

    def _token(self, request: Request, params: Mapping[str, str]) -> TokenInfo:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        token = value.strip() if scheme.lower() in ("bearer", "oauth") else params.get("access_token", "")
        if not token:
            raise GraphError("An access token is required to request this resource.", code=104)
        info = self.state.tokens.get(token)
        if info is None:
            raise GraphError("Invalid OAuth access token - Cannot parse access token", code=190)
        if info.expired(datetime.now(UTC)):
            raise GraphError("Error validating access token: Session has expired.", code=190, subcode=463)
        return info

    # -- routing ---------------------------------------------------------------------------
    def _route(self, request: Request, version: str, segs: list[str], params: dict[str, str]) -> Response:
        method = request.method
        if segs == ["oauth", "access_token"] and method in ("GET", "POST"):
            with self.state.lock:
                return self._access_token(params, version)
        fetched = self._download(request, segs, params)
        with self.state.lock:
            info = self._token(request, params)
            if segs and segs[0] == "me":
                segs = [info.subject, *segs[1:]]
            if len(segs) == 1:
                return self._node(method, version, segs[0], info, params)
            if len(segs) == 2:
                return self._edge(method, version, segs[0], segs[1], info, params, fetched)
        raise GraphError(f"Unknown path components: /{'/'.join(segs[2:])}", code=2500)

    def _download(self, request: Request, segs: list[str], params: dict[str, str]) -> Fetched | None:
        """For a container creation, download its media as Instagram does:
        outside the state lock (the URL may take its time), and only for a
        caller allowed to post as that account (otherwise routing answers
        with the error, and nothing is downloaded)."""
        if request.method != "POST" or len(segs) != 2 or segs[1] != "media":
            return None
        media_type = (params.get("media_type") or "").upper()
        want = "video" if media_type in ("VIDEO", "REELS") else "image"
        url = params.get("video_url" if want == "video" else "image_url")
        if media_type == "CAROUSEL" or not url:
            return None
        with self.state.lock:
            info = self._token(request, params)
            oid = info.subject if segs[0] == "me" else segs[0]
            if self.state.object_kind(oid) != "ig_user" or not self.state.can_act_for(info, oid):
                return None
        return self.fetch(url, want)

    def _require(self, info: TokenInfo, ig_id: str | None) -> None:
        if ig_id is None or not self.state.can_act_for(info, ig_id):
            raise GraphError("(#10) Application does not have permission for this action", code=10)

    def _page_view(self, page_id: str, info: TokenInfo) -> dict[str, Any]:
        st = self.state
        page = st.pages[page_id]
        out: dict[str, Any] = {"id": page_id, "name": page["name"],
                               "access_token": st.page_token(page_id, info)}
        if page.get("ig"):
            out["instagram_business_account"] = dict(st.ig_users[page["ig"]])
        return out

    def _node(self, method: str, version: str, oid: str, info: TokenInfo, params: dict[str, str]) -> Response:
        st = self.state
        kind = st.object_kind(oid)
        owner = st.owner_of(oid)
        specs = parse_fields(params.get("fields"))
        if method == "DELETE":
            if kind == "comment":
                self._require(info, owner)
                for rid in [r["id"] for r in st.replies_of(oid)]:
                    st.comments.pop(rid, None)
                st.comments.pop(oid, None)
                return self._ok({"success": True}, version, owner)
            # published media cannot be deleted through the Instagram API
            raise _unsupported("delete", oid)
        if method != "GET" or kind is None:
            raise _unsupported(method, oid)
        if kind == "user":
            return self._ok(select(dict(st.user), specs), version)
        if kind == "page":
            if info.kind == "page" and info.subject != oid:
                raise _unsupported("get", oid)
            body = self._page_view(oid, info)
            if specs is None:
                body = {"id": oid, "name": body["name"]}
            else:
                # an unexpanded instagram_business_account is just {"id"}
                for spec in specs:
                    if spec.name == "instagram_business_account" and spec.children is None and \
                            "instagram_business_account" in body:
                        body["instagram_business_account"] = {"id": body["instagram_business_account"]["id"]}
            return self._ok(select(body, specs), version, body.get("instagram_business_account", {}).get("id"))
        self._require(info, owner)
        if kind == "ig_user":
            user = dict(st.ig_users[oid])
            user["media_count"] = sum(1 for m in st.media.values() if m["ig"] == oid and not m["is_child"])
            return self._ok(select(user, specs, default=_IG_DEFAULT), version, oid)
        if kind == "container":
            c = st.poll_container(oid) if specs is None or any(s.name in ("status_code", "status") for s in specs) \
                else st.containers[oid]
            body = {"id": oid, "status_code": c["status_code"], "status": c["status"]}
            return self._ok(select(body, specs, default=("status_code",)), version, owner)
        if kind == "media":
            return self._ok(select(self._render_media(oid), specs, default=("id",)), version, owner)
        return self._ok(select(st.render_comment(st.comments[oid]), specs, default=("text", "timestamp")),
                        version, owner)

    def _render_media(self, mid: str) -> dict[str, Any]:
        st = self.state
        m = st.media[mid]
        ig = st.ig_users[m["ig"]]
        out: dict[str, Any] = {
            "id": mid, "media_type": m["media_type"], "media_product_type": m["media_product_type"],
            "media_url": m["media_url"], "permalink": m["permalink"], "shortcode": m["shortcode"],
            "timestamp": graph_time(m["timestamp"]), "username": ig["username"],
            "owner": {"id": m["ig"]}, "is_comment_enabled": True,
            "like_count": st.metric(mid, "likes"), "comments_count": st.metric(mid, "comments"),
        }
        if m.get("caption"):
            out["caption"] = m["caption"]
        if m["children"]:
            out["children"] = {"data": [
                {k: v for k, v in self._render_media(c).items() if k not in ("children", "caption")}
                for c in m["children"]
            ]}
        return out

    def _edge(self, method: str, version: str, oid: str, edge: str, info: TokenInfo,
              params: dict[str, str], fetched: Fetched | None = None) -> Response:
        st = self.state
        kind = st.object_kind(oid)
        if kind is None:
            raise _unsupported(method, oid)
        if edge == "accounts":
            if kind != "user" or method != "GET":
                raise GraphError(f"(#100) Tried accessing nonexisting field (accounts) on node type "
                                 f"({'Page' if kind == 'page' else 'User'})", code=100)
            return self._accounts(info, params, version)
        owner = st.owner_of(oid)
        self._require(info, owner)
        if kind == "ig_user" and edge == "media" and method == "POST":
            return self._create_container(oid, params, version, fetched)
        if kind == "ig_user" and edge == "media_publish" and method == "POST":
            return self._media_publish(oid, params, version)
        if kind == "ig_user" and edge == "media" and method == "GET":
            return self._media_list(oid, params, version)
        if kind == "ig_user" and edge == "content_publishing_limit" and method == "GET":
            return self._ok({"data": [{"quota_usage": st.published_last_day(oid),
                                       "config": {"quota_total": PUBLISH_QUOTA, "quota_duration": 86400}}]},
                            version, oid)
        if kind == "media" and edge == "insights" and method == "GET":
            return self._insights(oid, params, version, owner)
        if kind == "ig_user" and edge == "insights" and method == "GET":
            return self._user_insights(oid, params, version)
        if kind == "media" and edge == "comments":
            if method == "GET":
                rows = [st.render_comment(c) for c in st.comments_of(oid)]
                return self._list(rows, params, version, owner, default=("id", "text", "timestamp"))
            if method == "POST":
                text = params.get("message", "").strip()
                if not text:
                    raise GraphError("(#100) The parameter message is required", code=100)
                row = st.add_comment(oid, text, self._own_author(owner))
                return self._ok({"id": row["id"]}, version, owner)
        if kind == "comment" and edge == "replies":
            if method == "GET":
                rows = [st.render_comment(c, with_replies=False) for c in st.replies_of(oid)]
                return self._list(rows, params, version, owner, default=("id", "text", "timestamp"))
            if method == "POST":
                text = params.get("message", "").strip()
                if not text:
                    raise GraphError("(#100) The parameter message is required", code=100)
                parent = st.comments[oid]
                if parent["parent_id"]:  # replies are one level deep on Instagram
                    raise GraphError("(#100) Cannot reply to a reply", code=100)
                row = st.add_comment(parent["media_id"], text, self._own_author(owner), parent_id=oid)
                return self._ok({"id": row["id"]}, version, owner)
        raise GraphError(f"(#100) Tried accessing nonexisting field ({edge})", code=100)

    def _own_author(self, ig_id: str | None) -> dict[str, str]:
        user = self.state.ig_users.get(ig_id or "", {"id": ig_id or "", "username": ""})
        return {"id": user["id"], "username": user["username"]}

    # -- edges --------------------------------------------------------------------------------
    def _list(self, rows: list[dict[str, Any]], params: Mapping[str, str], version: str, owner: str | None,
              default: tuple[str, ...]) -> Response:
        specs = parse_fields(params.get("fields"))
        limit = max(1, min(int(params.get("limit") or 25), 100))
        start = _decode_cursor(params.get("after"))
        chunk = [select(r, specs, default=default) for r in rows[start:start + limit]]
        paging: dict[str, Any] = {}
        if chunk:
            paging["cursors"] = {"before": _cursor(start), "after": _cursor(start + len(chunk))}
            if start + len(chunk) < len(rows):
                paging["next"] = f"https://graph.facebook.com/sandbox?after={_cursor(start + len(chunk))}"
        return self._ok({"data": chunk, "paging": paging}, version, owner)

    def _accounts(self, info: TokenInfo, params: dict[str, str], version: str) -> Response:
        specs = parse_fields(params.get("fields"))
        rows = []
        for pid in self.state.pages:
            body = self._page_view(pid, info)
            if specs is not None:
                for spec in specs:
                    if spec.name == "instagram_business_account" and spec.children is None and \
                            "instagram_business_account" in body:
                        body["instagram_business_account"] = {"id": body["instagram_business_account"]["id"]}
            rows.append(body)
        return self._list(rows, params, version, None, default=("id", "name", "access_token"))

    def _create_container(self, ig_id: str, params: dict[str, str], version: str,
                          fetched: Fetched | None = None) -> Response:
        st = self.state
        media_type = (params.get("media_type") or "").upper()
        caption = params.get("caption") or None
        if caption and len(caption) > MAX_CAPTION:
            raise GraphError("(#100) The caption is too long.", code=100, subcode=2207010,
                             extra={"error_user_title": "Caption too long",
                                    "error_user_msg": f"The caption exceeds {MAX_CAPTION} characters."})
        is_item = params.get("is_carousel_item") in ("true", "1")
        cid = st.new_id()
        container: dict[str, Any] = {"id": cid, "ig": ig_id, "caption": caption, "is_carousel_item": is_item,
                                     "status_code": "FINISHED", "status": FINISHED, "polls_left": 0,
                                     "created": datetime.now(UTC)}
        if media_type == "CAROUSEL":
            raw = params.get("children", "")
            try:
                children = json.loads(raw) if raw.strip().startswith("[") else raw.split(",")
            except ValueError:
                children = []
            children = [str(c).strip() for c in children if str(c).strip()]
            if not 2 <= len(children) <= MAX_CHILDREN:
                raise GraphError(f"(#100) The carousel must have between 2 and {MAX_CHILDREN} children", code=100,
                                 subcode=2207014)
            for child in children:
                c = st.containers.get(child)
                if c is None or not c["is_carousel_item"] or c["ig"] != ig_id:
                    raise GraphError(f"(#100) Invalid child container {child}", code=100)
                if c["status_code"] != "FINISHED":
                    raise GraphError("Media ID is not available", code=9007, subcode=2207027, extra={
                        "error_user_title": "Media not ready for publishing",
                        "error_user_msg": "The media is not ready for publishing, please wait for a moment"})
            container.update(kind="CAROUSEL", children=children)
        elif media_type in ("VIDEO", "REELS"):
            video_url = params.get("video_url")
            if not video_url:
                raise GraphError("(#100) The parameter video_url is required", code=100)
            container.update(kind=media_type, video_url=video_url, status_code="IN_PROGRESS",
                             status=IN_PROGRESS, polls_left=st.processing_polls)
            # Instagram processes video after answering: a download that
            # failed shows in the container's status, not as an error here
            if fetched is None or fetched.url != video_url or not fetched.ok:
                container.update(status_code="ERROR", polls_left=0,
                                 status="Error: Media download has failed. The media URI doesn't meet our "
                                        "requirements.")
            else:
                container["fetched"] = fetched.digest()
        elif media_type in ("", "IMAGE"):
            image_url = params.get("image_url")
            if not image_url:
                raise GraphError("(#100) The parameter image_url is required", code=100)
            if fetched is None or fetched.url != image_url or not fetched.ok:
                raise _download_failed(image_url)
            container.update(kind="IMAGE", image_url=image_url, fetched=fetched.digest())
        else:
            raise GraphError(f"(#100) Invalid media_type {media_type}", code=100)
        st.containers[cid] = container
        return self._ok({"id": cid}, version, ig_id)

    def _media_publish(self, ig_id: str, params: dict[str, str], version: str) -> Response:
        st = self.state
        cid = params.get("creation_id", "")
        c = st.containers.get(cid)
        if c is None or c["ig"] != ig_id or c["is_carousel_item"]:
            raise GraphError(f"(#100) Param creation_id {cid!r} is not a valid container", code=100)
        if c["status_code"] == "PUBLISHED":
            raise GraphError("(#100) The media has already been published", code=100, subcode=2207008)
        if c["status_code"] != "FINISHED":
            raise GraphError("Media ID is not available", code=9007, subcode=2207027, extra={
                "is_transient": False, "error_user_title": "Media not ready for publishing",
                "error_user_msg": "The media is not ready for publishing, please wait for a moment"})
        if st.published_last_day(ig_id) >= PUBLISH_QUOTA:
            raise GraphError("Application request limit reached", code=9, subcode=2207042, extra={
                "is_transient": True, "error_user_title": "Reached maximum number of posts",
                "error_user_msg": "The maximum number of posts that were published has been reached."})
        media = st.publish(cid)
        return self._ok({"id": media["id"]}, version, ig_id)

    def _media_list(self, ig_id: str, params: dict[str, str], version: str) -> Response:
        st = self.state
        rows = sorted((m for m in st.media.values() if m["ig"] == ig_id and not m["is_child"]),
                      key=lambda m: (m["timestamp"], m["id"]), reverse=True)
        if params.get("since"):
            rows = [m for m in rows if m["timestamp"].timestamp() >= _epoch(params["since"])]
        if params.get("until"):
            rows = [m for m in rows if m["timestamp"].timestamp() <= _epoch(params["until"])]
        return self._list([self._render_media(m["id"]) for m in rows], params, version, ig_id, default=("id",))

    def _user_insights(self, ig_id: str, params: dict[str, str], version: str) -> Response:
        from .account_insights import InsightsRefused, user_insights

        with self.state.lock:
            figures = dict(self.state.metrics.get(ig_id, {}))
        try:
            return self._ok(user_insights(ig_id, figures, params), version, ig_id)
        except InsightsRefused as exc:
            raise GraphError(str(exc), code=100) from None

    def set_account_metrics(self, account_id: str, figures: Mapping[str, int]) -> None:
        """Set an Instagram account's figures: ``followers`` (``followers_count``),
        and the last complete day's ``impressions``, ``reach``, ``profile_views``,
        ``engagements`` (``accounts_engaged``), ``new_followers`` (``follower_count``)."""
        known = {"followers", "impressions", "reach", "profile_views", "engagements", "new_followers"}
        unknown = sorted(set(figures) - known)
        if unknown:
            raise ValueError(f"figures: unknown name(s) {', '.join(unknown)}")
        with self.state.lock:
            if account_id not in self.state.ig_users:
                raise KeyError(account_id)
            if "followers" in figures:
                self.state.ig_users[account_id]["followers_count"] = int(figures["followers"])
            self.state.metrics.setdefault(account_id, {}).update(
                {k: int(v) for k, v in figures.items() if k != "followers"})

    def _insights(self, mid: str, params: dict[str, str], version: str, owner: str | None) -> Response:
        st = self.state
        names = [m.strip() for m in params.get("metric", "").split(",") if m.strip()]
        if not names:
            raise GraphError("(#100) The parameter metric is required", code=100)
        bad = [n for n in names if n not in _METRICS]
        if bad:
            raise GraphError(f"(#100) metric[{names.index(bad[0])}] must be one of the following values: "
                             f"{', '.join(sorted(_METRICS))}", code=100)
        data = [{"name": n, "period": "lifetime", "values": [{"value": st.metric(mid, _METRICS[n])}],
                 "title": n.replace("_", " ").capitalize(), "description": f"Lifetime {n} of the media object",
                 "id": f"{mid}/insights/{n}/lifetime"} for n in names]
        return self._ok({"data": data}, version, owner)


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
