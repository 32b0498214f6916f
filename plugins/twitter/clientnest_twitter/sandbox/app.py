"""The X sandbox as a WSGI app: X API v2 endpoints with X's real shapes.

Endpoints (relative to the sandbox root, which stands for both ``api.x.com``
and ``x.com``):

* ``GET /i/oauth2/authorize``: approves at once, redirects with ``state`` and ``code``;
* ``POST /2/oauth2/token``: authorization code (PKCE S256 or plain) and rotating refresh tokens;
* ``GET /2/users/me``, ``GET /2/users/{id}``, ``GET /2/users/by/username/{username}``;
* ``POST /2/tweets`` (text, media, reply), ``DELETE /2/tweets/{id}``;
* ``GET /2/tweets/{id}``, ``GET /2/tweets?ids=``, ``GET /2/users/{id}/tweets``,
  ``GET /2/tweets/search/recent`` and ``/all`` (``conversation_id:``, ``from:``, ...);
* ``POST /2/media/upload`` (INIT, APPEND, FINALIZE) and ``GET`` (STATUS);
* the standard control routes of :mod:`clientnest.testing.faults`, plus
  ``POST /_sandbox/expire_tokens`` (every access token issued so far expires).

Every API answer carries X's ``x-rate-limit-*`` headers and the limits are
enforced per user and endpoint (15-minute windows); ``daily_post_limit`` adds
the ``x-user-limit-24hour-*`` cap on posts.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from clientnest.testing.faults import Fault, FaultSet, SandboxControl, close_connection

from ..metrics import TO_PUBLIC
from ..validation import MAX_WEIGHTED_LENGTH, weighted_length
from . import shapes
from .base import Refuse, parse_utc
from .media_routes import MediaRoutes
from .oauth_routes import OAuthRoutes
from .store import Media, Store, Tweet, User, x_time

__all__ = ["TwitterSandbox", "SANDBOX_CLIENT_ID", "SANDBOX_CLIENT_SECRET"]

SANDBOX_CLIENT_ID = "clientnest-sandbox"
SANDBOX_CLIENT_SECRET = "clientnest-sandbox-secret"

TWEET_FIELDS = {
    "attachments", "author_id", "conversation_id", "created_at", "edit_history_tweet_ids", "entities",
    "id", "in_reply_to_user_id", "lang", "non_public_metrics", "organic_metrics", "possibly_sensitive",
    "public_metrics", "referenced_tweets", "reply_settings", "source", "text", "withheld",
}
USER_FIELDS = {"created_at", "description", "id", "name", "profile_image_url", "protected", "public_metrics",
               "url", "username", "verified"}
MEDIA_FIELDS = {"duration_ms", "height", "media_key", "preview_image_url", "public_metrics", "type", "url", "width",
                "alt_text", "non_public_metrics"}
EXPANSIONS = {"author_id", "attachments.media_keys", "in_reply_to_user_id", "referenced_tweets.id"}
ID_RE = re.compile(r"^[0-9]{1,19}$")
PRIVATE = ("non_public_metrics", "organic_metrics")


class TwitterSandbox(OAuthRoutes, MediaRoutes):
    """An in-memory X. ``TwitterSandbox()`` is a WSGI app.

    :param clock: returns the current aware UTC time (tests move it forward).
    :param daily_post_limit: posts per user per 24 hours (``None``: no cap, no headers).
    :param processing_steps: STATUS polls a video needs before it is ready.
    :param check_after_secs: what FINALIZE and STATUS tell the client to wait.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        client_id: str = SANDBOX_CLIENT_ID,
        client_secret: str = SANDBOX_CLIENT_SECRET,
        daily_post_limit: int | None = None,
        processing_steps: int = 1,
        check_after_secs: int = 1,
    ) -> None:
        self.store = Store(clock or (lambda: datetime.now(UTC)))
        self.client_id = client_id
        self.client_secret = client_secret
        self.daily_post_limit = daily_post_limit
        self.processing_steps = processing_steps
        self.check_after_secs = check_after_secs
        self.faults = FaultSet()
        self.control = SandboxControl(
            self.faults, reset=self.store.reset, add_comment=self.add_comment,
            set_metrics=self.set_metrics, issue_token=self.issue_token,
        )
        self.url_map = Map([
            Rule("/", endpoint="index", methods=["GET"]),
            Rule("/i/oauth2/authorize", endpoint="authorize", methods=["GET"]),
            Rule("/2/oauth2/token", endpoint="token", methods=["POST"]),
            Rule("/2/users/me", endpoint="me", methods=["GET"]),
            Rule("/2/users/by/username/<username>", endpoint="user_by_username", methods=["GET"]),
            Rule("/2/users/<uid>", endpoint="user", methods=["GET"]),
            Rule("/2/users/<uid>/tweets", endpoint="user_tweets", methods=["GET"]),
            Rule("/2/tweets", endpoint="tweets", methods=["GET", "POST"]),
            Rule("/2/tweets/search/recent", endpoint="search_recent", methods=["GET"]),
            Rule("/2/tweets/search/all", endpoint="search_all", methods=["GET"]),
            Rule("/2/tweets/<tid>", endpoint="tweet", methods=["GET", "DELETE"]),
            Rule("/2/media/upload", endpoint="media", methods=["GET", "POST"]),
        ], strict_slashes=False)

    # -- WSGI --------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        if SandboxControl.is_control(request.path):
            if request.path.rstrip("/") == "/_sandbox/expire_tokens" and request.method == "POST":
                response = self._json(200, {"expired": self.store.expire_tokens()})
            else:
                response = self.control.dispatch(request)
            return response(environ, start_response)
        return self._handle(request, environ)(environ, start_response)

    def _handle(self, request: Request, environ: dict[str, Any]) -> Response:
        publish = request.method == "POST" and request.path.rstrip("/") == "/2/tweets"
        fault = self.faults.take(request.method, request.path, publish=publish)
        if fault is not None and fault.kind not in ("slow", "disconnect"):
            return self._fault(fault)
        adapter = self.url_map.bind_to_environ(environ)
        started = time.monotonic()
        try:
            endpoint, args = adapter.match()
            response = getattr(self, f"on_{endpoint}")(request, **args)
        except Refuse as refused:
            response = refused.response
        except NotFound:
            response = self._json(404, shapes.problem(404, "Not Found Error", f"no such endpoint: {request.path}"))
        except MethodNotAllowed:
            response = self._json(405, shapes.problem(405, "Method Not Allowed"))
        except HTTPException as exc:  # pragma: no cover - werkzeug's own
            response = self._json(exc.code or 400, shapes.problem(exc.code or 400, exc.name))
        response.headers["x-response-time"] = str(int((time.monotonic() - started) * 1000))
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay)  # done, but the answer comes late
        if fault is not None and fault.kind == "disconnect":
            if close_connection(environ):
                return Response(status=200)
            return self._json(502, shapes.problem(502, "Bad Gateway"))
        return response

    def _fault(self, fault: Fault) -> Response:
        now = int(self.store.now().timestamp())
        if fault.kind == "rate_limit":
            return self._json(429, shapes.TOO_MANY_REQUESTS, shapes.rate_headers(200, 0, now + fault.retry_after))
        if fault.kind == "unavailable":
            return self._json(503, shapes.problem(503, "Service Unavailable"), {"retry-after": str(fault.retry_after)})
        if fault.kind == "expired_token":
            return self._json(401, shapes.UNAUTHORIZED)
        if fault.kind == "duplicate":
            return self._json(403, shapes.DUPLICATE, shapes.rate_headers(200, 199, now + 900))
        status = fault.status or 500
        titles = {500: "Internal Server Error", 502: "Bad Gateway", 504: "Gateway Timeout"}
        return self._json(status, shapes.problem(status, titles.get(status, "Server Error")))

    # -- rendering ---------------------------------------------------------------------
    def _user_json(self, user: User, fields: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": user.id, "name": user.name, "username": user.username}
        if "created_at" in fields:
            out["created_at"] = x_time(user.created_at)
        if "profile_image_url" in fields:
            out["profile_image_url"] = user.profile_image_url
        if "description" in fields:
            out["description"] = "A user of the ClientNest X sandbox."
        if "protected" in fields:
            out["protected"] = False
        if "verified" in fields:
            out["verified"] = False
        if "url" in fields:
            out["url"] = ""
        if "public_metrics" in fields:
            with self.store.lock:
                count = sum(1 for t in self.store.tweets.values() if t.author_id == user.id and not t.deleted)
            out["public_metrics"] = {"followers_count": user.followers, "following_count": 0, "tweet_count": count, "listed_count": 0}
        return out

    def _tweet_json(self, tweet: Tweet, fields: set[str], viewer: User, errors: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {"edit_history_tweet_ids": [tweet.id], "id": tweet.id, "text": tweet.text}
        if "author_id" in fields:
            out["author_id"] = tweet.author_id
        if "created_at" in fields:
            out["created_at"] = x_time(tweet.created_at)
        if "conversation_id" in fields:
            out["conversation_id"] = tweet.conversation_id
        if "in_reply_to_user_id" in fields and tweet.in_reply_to_user_id:
            out["in_reply_to_user_id"] = tweet.in_reply_to_user_id
        if "referenced_tweets" in fields and tweet.replied_to:
            out["referenced_tweets"] = [{"type": "replied_to", "id": tweet.replied_to}]
        if "attachments" in fields and tweet.media_keys:
            out["attachments"] = {"media_keys": list(tweet.media_keys)}
        if "entities" in fields and tweet.urls:
            out["entities"] = {"urls": [dict(u) for u in tweet.urls]}
        if "lang" in fields:
            out["lang"] = "en"
        if "possibly_sensitive" in fields:
            out["possibly_sensitive"] = False
        if "source" in fields:
            out["source"] = "ClientNest"
        if "reply_settings" in fields:
            out["reply_settings"] = "everyone"
        m = tweet.metrics
        replies = self.store.replies_to(tweet.id) + m.get("reply_extra", 0)
        if "public_metrics" in fields:
            out["public_metrics"] = {
                "retweet_count": m["retweet_count"], "reply_count": replies, "like_count": m["like_count"],
                "quote_count": m["quote_count"], "bookmark_count": m["bookmark_count"],
                "impression_count": m["impression_count"],
            }
        # X gives private metrics only to the author, for posts of the last 30 days
        private_ok = viewer.id == tweet.author_id and self.store.now() - tweet.created_at <= timedelta(days=30)
        for name in PRIVATE:
            if name not in fields:
                continue
            if not private_ok:
                errors.append(shapes.field_not_authorized(tweet.id, name))
                continue
            if name == "non_public_metrics":
                out[name] = {"impression_count": m["impression_count"], "url_link_clicks": m["url_link_clicks"],
                             "user_profile_clicks": m["user_profile_clicks"]}
            else:
                out[name] = {"impression_count": m["impression_count"], "like_count": m["like_count"],
                             "reply_count": replies, "retweet_count": m["retweet_count"],
                             "url_link_clicks": m["url_link_clicks"], "user_profile_clicks": m["user_profile_clicks"]}
        return out

    def _media_json(self, media: Media, fields: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"media_key": media.key, "type": media.type}
        if "public_metrics" in fields and media.type == "video":
            out["public_metrics"] = {"view_count": media.view_count}
        if "width" in fields:
            out["width"] = 1280
        if "height" in fields:
            out["height"] = 720
        if "url" in fields and media.type == "photo":
            out["url"] = f"https://pbs.twimg.com/media/sandbox_{media.id}.jpg"
        if "duration_ms" in fields and media.type == "video":
            out["duration_ms"] = 10000
        return out

    def _render(self, request: Request, tweets: list[Tweet], viewer: User) -> tuple[list[dict[str, Any]], dict[str, Any], list[dict[str, Any]]]:
        """tweets as X renders them under the request's fields and expansions."""
        fields = self._fields(request, "tweet.fields", TWEET_FIELDS)
        user_fields = self._fields(request, "user.fields", USER_FIELDS)
        media_fields = self._fields(request, "media.fields", MEDIA_FIELDS)
        expansions = self._fields(request, "expansions", EXPANSIONS)
        want = set(fields)
        if "attachments.media_keys" in expansions:
            want.add("attachments")
        errors: list[dict[str, Any]] = []
        data = [self._tweet_json(t, want, viewer, errors) for t in tweets]
        includes: dict[str, Any] = {}
        users: dict[str, User] = {}
        if "author_id" in expansions:
            users.update({t.author_id: self.store.users[t.author_id] for t in tweets})
        if "in_reply_to_user_id" in expansions:
            users.update({t.in_reply_to_user_id: self.store.users[t.in_reply_to_user_id]
                          for t in tweets if t.in_reply_to_user_id in self.store.users})
        if users:
            includes["users"] = [self._user_json(u, user_fields) for u in users.values()]
        if "attachments.media_keys" in expansions:
            by_key = {m.key: m for m in self.store.media.values()}
            media = [self._media_json(by_key[k], media_fields) for t in tweets for k in t.media_keys if k in by_key]
            if media:
                includes["media"] = media
        if "referenced_tweets.id" in expansions:
            refs = [self.store.live(t.replied_to) for t in tweets if t.replied_to]
            if any(refs):
                includes["tweets"] = [self._tweet_json(r, fields, viewer, []) for r in refs if r is not None]
        return data, includes, errors

    # -- pages -------------------------------------------------------------------------
    def on_index(self, request: Request) -> Response:
        return self._json(200, {
            "sandbox": "X (Twitter) API v2",
            "note": "an in-memory imitation for ClientNest: nothing here reaches X",
            "authorize": "/i/oauth2/authorize", "token": "/2/oauth2/token",
            "control": ["/_sandbox/faults", "/_sandbox/reset", "/_sandbox/comments", "/_sandbox/metrics",
                        "/_sandbox/tokens", "/_sandbox/expire_tokens"],
        })

    # -- users -------------------------------------------------------------------------
    def on_me(self, request: Request) -> Response:
        user, headers = self._auth(request, "GET /2/users/me", "users.read")
        return self._json(200, {"data": self._user_json(user, self._fields(request, "user.fields", USER_FIELDS))}, headers)

    def _one_user(self, request: Request, user: User | None, value: str, parameter: str, headers: dict[str, str]) -> Response:
        if user is None:
            return self._json(200, {"errors": [shapes.not_found_error(value, parameter, "user")]}, headers)
        return self._json(200, {"data": self._user_json(user, self._fields(request, "user.fields", USER_FIELDS))}, headers)

    def on_user(self, request: Request, uid: str) -> Response:
        _, headers = self._auth(request, "GET /2/users/:id", "users.read")
        if not ID_RE.match(uid):
            raise self._bad(f"The `id` query parameter value [{uid}] does not match ^[0-9]{{1,19}}$", {"id": [uid]}, headers)
        return self._one_user(request, self.store.users.get(uid), uid, "id", headers)

    def on_user_by_username(self, request: Request, username: str) -> Response:
        _, headers = self._auth(request, "GET /2/users/:id", "users.read")
        found = next((u for u in self.store.users.values() if u.username.lower() == username.lower()), None)
        return self._one_user(request, found, username, "username", headers)

    # -- reading posts -------------------------------------------------------------------
    def _listing(self, request: Request, key: str, items: list[Tweet], size: int, token_param: str,
                 viewer: User, headers: dict[str, str], meta_first: bool) -> Response:
        offset = 0
        token = request.args.get(token_param)
        if token:
            found = self.store.page_offset(token, key)
            if found is None:
                raise self._bad(f"The `{token_param}` query parameter value [{token}] is not valid", {token_param: [token]}, headers)
            offset = found
        page = items[offset:offset + size]
        data, includes, errors = self._render(request, page, viewer)
        body: dict[str, Any] = {}
        if data:
            body["data"] = data
        if includes:
            body["includes"] = includes
        if errors:
            body["errors"] = errors
        if page:
            more = offset + size < len(items)
            if meta_first:  # recorded key order of the users/tweets meta
                meta: dict[str, Any] = {"result_count": len(page), "newest_id": page[0].id, "oldest_id": page[-1].id}
            else:  # and of the search meta
                meta = {"newest_id": page[0].id, "oldest_id": page[-1].id, "result_count": len(page)}
            if more:
                meta["next_token"] = self.store.page_token(key, offset + size)
        else:
            meta = {"result_count": 0}
        body["meta"] = meta
        return self._json(200, body, headers)

    def _time_window(self, request: Request, headers: dict[str, str]) -> tuple[datetime | None, datetime | None]:
        bounds: dict[str, datetime | None] = {}
        for name in ("start_time", "end_time"):
            raw = request.args.get(name)
            if raw is None:
                bounds[name] = None
                continue
            try:
                bounds[name] = parse_utc(raw, name)
            except ValueError:
                raise self._bad(f"Invalid '{name}':'{raw}'. '{name}' must be a valid RFC 3339 date-time",
                                {name: [raw]}, headers) from None
        start, end = bounds["start_time"], bounds["end_time"]
        if start and end and start >= end:
            s, e = request.args["start_time"], request.args["end_time"]
            raise self._bad(f"Invalid 'start_time':'{s}'. 'start_time' must be before 'end_time':{e}",
                            {"start_time": [s], "end_time": [e]}, headers)
        return start, end

    def on_user_tweets(self, request: Request, uid: str) -> Response:
        viewer, headers = self._auth(request, "GET /2/users/:id/tweets", "tweet.read", "users.read")
        if not ID_RE.match(uid):
            raise self._bad(f"The `id` query parameter value [{uid}] does not match ^[0-9]{{1,19}}$", {"id": [uid]}, headers)
        if uid not in self.store.users:
            return self._json(200, {"errors": [shapes.not_found_error(uid, "id", "user")]}, headers)
        size = self._int_param(request, "max_results", 10, 5, 100)
        start, end = self._time_window(request, headers)
        exclude = {v.strip() for v in request.args.get("exclude", "").split(",") if v.strip()}
        if exclude - {"retweets", "replies"}:
            raise self._bad(f"The `exclude` query parameter value [{request.args['exclude']}] is not one of [replies,retweets]",
                            {"exclude": [request.args["exclude"]]}, headers)
        since_id, until_id = request.args.get("since_id"), request.args.get("until_id")
        for name, value in (("since_id", since_id), ("until_id", until_id)):
            if value is not None and not ID_RE.match(value):
                raise self._bad(f"The `{name}` query parameter value [{value}] does not match ^[0-9]{{1,19}}$",
                                {name: [value]}, headers)
        with self.store.lock:
            items = [t for t in self.store.tweets.values() if t.author_id == uid and not t.deleted]
        items = [
            t for t in items
            if (start is None or t.created_at >= start) and (end is None or t.created_at < end)
            and not ("replies" in exclude and t.replied_to)
            and (since_id is None or int(t.id) > int(since_id)) and (until_id is None or int(t.id) < int(until_id))
        ]
        items.sort(key=lambda t: int(t.id), reverse=True)
        key = f"user_tweets:{uid}:{request.args.get('start_time')}:{request.args.get('end_time')}:{sorted(exclude)}:{size}"
        return self._listing(request, key, items, size, "pagination_token", viewer, headers, meta_first=True)

    def _search(self, request: Request, endpoint: str, recent: bool) -> Response:
        viewer, headers = self._auth(request, endpoint, "tweet.read", "users.read")
        query = request.args.get("query", "").strip()
        if not query:
            raise self._bad("The `query` query parameter can not be empty", {"query": []}, headers)
        size = self._int_param(request, "max_results", 10, 10, 100 if recent else 500)
        start, end = self._time_window(request, headers)
        checks: list[Callable[[Tweet], bool]] = []
        for term in query.split():
            negate = term.startswith("-")
            op, _, value = term.lstrip("-").partition(":")
            if value and op in ("conversation_id", "in_reply_to_tweet_id") and ID_RE.match(value):
                check = (lambda v: lambda t: t.conversation_id == v)(value) if op == "conversation_id" else \
                    (lambda v: lambda t: t.replied_to == v)(value)
            elif value and op in ("from", "to"):
                user = next((u for u in self.store.users.values() if u.username.lower() == value.lower()), None)
                uid = user.id if user else "-"
                check = (lambda u: lambda t: t.author_id == u)(uid) if op == "from" else \
                    (lambda u: lambda t: t.in_reply_to_user_id == u)(uid)
            elif value and op == "is" and value in ("reply", "retweet", "quote"):
                check = (lambda t: t.replied_to is not None) if value == "reply" else (lambda t: False)
            elif not value and not any(c in term for c in "():\"") and term.upper() not in ("OR", "AND"):
                word = term.lstrip("-").lower()
                check = (lambda w: lambda t: w in t.text.lower())(word)
            else:
                raise self._bad(f"There were errors processing your request: unsupported query term `{term}` in the sandbox",
                                {"query": [query]}, headers)
            checks.append((lambda c: lambda t: not c(t))(check) if negate else check)
        floor = self.store.now() - timedelta(days=7) if recent else None
        with self.store.lock:
            items = [t for t in self.store.tweets.values() if not t.deleted]
        items = [
            t for t in items
            if (floor is None or t.created_at >= floor) and (start is None or t.created_at >= start)
            and (end is None or t.created_at < end) and all(c(t) for c in checks)
        ]
        items.sort(key=lambda t: int(t.id), reverse=True)
        key = f"search:{endpoint}:{query}:{request.args.get('start_time')}:{request.args.get('end_time')}:{size}"
        return self._listing(request, key, items, size, "next_token", viewer, headers, meta_first=False)

    def on_search_recent(self, request: Request) -> Response:
        return self._search(request, "GET /2/tweets/search/recent", recent=True)

    def on_search_all(self, request: Request) -> Response:
        return self._search(request, "GET /2/tweets/search/all", recent=False)

    def on_tweets(self, request: Request) -> Response:
        if request.method == "POST":
            return self._create(request)
        viewer, headers = self._auth(request, "GET /2/tweets", "tweet.read", "users.read")
        raw = request.args.get("ids", "")
        ids = [i for i in raw.split(",") if i] if raw else []
        if not ids:
            raise self._bad("The `ids` query parameter can not be empty", {"ids": []}, headers)
        bad = [i for i in ids if not ID_RE.match(i)]
        if bad:
            raise self._bad(f"The `ids` query parameter value [{bad[0]}] does not match ^[0-9]{{1,19}}$", {"ids": [raw]}, headers)
        if len(ids) > 100:
            raise self._bad(f"The `ids` query parameter value [{raw[:40]}...] must have at most 100 items", {"ids": [raw]}, headers)
        found = [t for t in (self.store.live(i) for i in ids) if t is not None]
        missing = [i for i in ids if self.store.live(i) is None]
        data, includes, errors = self._render(request, found, viewer)
        body: dict[str, Any] = {}
        if data:
            body["data"] = data
        if includes:
            body["includes"] = includes
        errors = errors + [shapes.not_found_error(i, "ids") for i in missing]
        if errors:
            body["errors"] = errors
        return self._json(200, body, headers)

    def on_tweet(self, request: Request, tid: str) -> Response:
        if request.method == "DELETE":
            return self._delete(request, tid)
        viewer, headers = self._auth(request, "GET /2/tweets/:id", "tweet.read", "users.read")
        if not ID_RE.match(tid):
            raise self._bad(f"The `id` query parameter value [{tid}] does not match ^[0-9]{{1,19}}$", {"id": [tid]}, headers)
        tweet = self.store.live(tid)
        if tweet is None:
            return self._json(200, {"errors": [shapes.not_found_error(tid, "id")]}, headers)
        data, includes, errors = self._render(request, [tweet], viewer)
        body: dict[str, Any] = {"data": data[0]}
        if includes:
            body["includes"] = includes
        if errors:
            body["errors"] = errors
        return self._json(200, body, headers)

    # -- writing posts -------------------------------------------------------------------
    def _create(self, request: Request) -> Response:
        author, headers = self._auth(request, "POST /2/tweets", "tweet.write")
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise self._bad("Request body must be a JSON object", {}, headers)
        text = body.get("text", "")
        if not isinstance(text, str):
            raise self._bad("`text` must be a string", {"text": [str(text)]}, headers)
        media_ids = (body.get("media") or {}).get("media_ids") or []
        reply_to_id = (body.get("reply") or {}).get("in_reply_to_tweet_id")
        if not text.strip() and not media_ids:
            raise Refuse(self._json(400, {"errors": [{"message": shapes.NO_TEXT_OR_MEDIA}], "title": "Invalid Request",
                                           "detail": shapes.INVALID_REQUEST_DETAIL, "type": shapes.INVALID_REQUEST_TYPE},
                                     headers))
        if weighted_length(text) > MAX_WEIGHTED_LENGTH:
            raise self._bad("Your Tweet text is too long.", {"text": [text[:40]]}, headers)
        media: list[Media] = []
        for mid in media_ids:
            item = self.store.media.get(str(mid))
            if item is None or item.owner_id != author.id or item.state != "succeeded":
                raise self._bad("Your media IDs are invalid.", {"media.media_ids": [str(mid)]}, headers)
            media.append(item)
        if len(media) > 4 or (len(media) > 1 and any(m.type != "photo" for m in media)):
            raise self._bad("Up to 4 photos, or one video or animated GIF, may be attached.",
                            {"media.media_ids": [str(m) for m in media_ids]}, headers)
        parent = None
        if reply_to_id is not None:
            parent = self.store.live(str(reply_to_id))
            if parent is None:
                raise self._bad("The Tweet you are replying to has been deleted or is not visible to you.",
                                {"reply.in_reply_to_tweet_id": [str(reply_to_id)]}, headers)
        if self.daily_post_limit is not None:
            posts = self.store.daily_posts(author.id)
            first = posts[0] if posts else self.store.now()
            reset = int((first + timedelta(hours=24)).timestamp())
            headers = {**headers,
                       "x-user-limit-24hour-limit": str(self.daily_post_limit),
                       "x-user-limit-24hour-remaining": str(max(0, self.daily_post_limit - len(posts) - 1)),
                       "x-user-limit-24hour-reset": str(reset)}
            if len(posts) >= self.daily_post_limit:
                headers["x-user-limit-24hour-remaining"] = "0"
                raise Refuse(self._json(429, shapes.TOO_MANY_REQUESTS, headers))
        with self.store.lock:
            if self.store.is_duplicate(author.id, text):
                raise Refuse(self._json(403, shapes.DUPLICATE, headers))
            tweet = self.store.create_tweet(author, text, media=media, reply_to=parent)
        headers = {**headers, "location": f"{request.url_root}2/tweets/{tweet.id}"}
        return self._json(201, {"data": {"id": tweet.id, "text": tweet.text}}, headers)

    def _delete(self, request: Request, tid: str) -> Response:
        user, headers = self._auth(request, "DELETE /2/tweets/:id", "tweet.write")
        tweet = self.store.live(tid)
        if tweet is None:
            return self._json(404, {**shapes.problem(404, "Not Found Error", f"Could not find tweet with id: [{tid}]."),
                                    "type": shapes.NOT_FOUND_TYPE}, headers)
        if tweet.author_id != user.id:
            return self._json(403, shapes.problem(403, "Forbidden", "You are not allowed to delete this Tweet."), headers)
        with self.store.lock:
            tweet.deleted = True
        return self._json(200, {"data": {"deleted": True}}, headers)

    # -- control hooks ---------------------------------------------------------------------
    def add_comment(self, post_id: str, text: str, reply_to: str | None) -> str:
        """Another user replies to a post (or to a comment on it)."""
        target = self.store.live(reply_to or post_id)
        if target is None or (reply_to and self.store.live(post_id) is None):
            raise KeyError(reply_to or post_id)
        return self.store.create_tweet(self.store.commenter, text, reply_to=target).id

    def set_metrics(self, post_id: str, metrics: dict[str, int]) -> None:
        tweet = self.store.live(post_id)
        if tweet is None:
            raise KeyError(post_id)
        known = {"likes", "comments", "shares", "saves", "impressions", "clicks", "video_views", "reach"}
        unknown = sorted(set(metrics) - known)
        if unknown:
            raise ValueError(f"metrics: unknown name(s) {', '.join(unknown)}")
        with self.store.lock:
            for name, value in metrics.items():
                if name in TO_PUBLIC and name != "comments":
                    tweet.metrics[TO_PUBLIC[name]] = value
                elif name == "comments":
                    tweet.metrics["reply_extra"] = max(0, value - self.store.replies_to(tweet.id))
                elif name == "shares":
                    tweet.metrics["retweet_count"], tweet.metrics["quote_count"] = value, 0
                elif name == "clicks":
                    tweet.metrics["url_link_clicks"] = value
                elif name == "video_views":
                    for media in self.store.media.values():
                        if media.key in tweet.media_keys and media.type == "video":
                            media.view_count = value
                # reach: X has none; accepted and ignored

    def set_account_metrics(self, account_id: str, figures: dict[str, int]) -> None:
        """Set a user's account-level figures; X shows only ``followers``."""
        user = self.store.users.get(str(account_id))
        if user is None:
            raise KeyError(account_id)
        unknown = sorted(set(figures) - {"followers", "impressions", "reach", "profile_views", "engagements"})
        if unknown:
            raise ValueError(f"figures: unknown name(s) {', '.join(unknown)}")
        with self.store.lock:
            if "followers" in figures:
                user.followers = int(figures["followers"])
            # the others: X has no account-level figure for them; accepted and ignored

    def issue_token(self) -> dict[str, Any]:
        """A token of the sandbox's user, as if the OAuth flow had run."""
        scope = "tweet.read tweet.write users.read offline.access media.write"
        return self.store.issue(user_id=self.store.owner.id, client_id=self.client_id, scope=scope)
