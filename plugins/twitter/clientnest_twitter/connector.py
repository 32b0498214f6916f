"""The X (Twitter) connector: API v2 with OAuth 2.0 user tokens.

Endpoints used (paths relative to ``api_base``; media relative to ``upload_base``):

===========================================  ===========================================
operation                                    request
===========================================  ===========================================
connect                                      ``/i/oauth2/authorize`` (``authorize_url``),
                                             ``POST /2/oauth2/token``, ``GET /2/users/me``
refresh                                      ``POST /2/oauth2/token`` (rotating refresh token)
publish (text, link, media, thread)          ``POST /2/media/upload`` (INIT/APPEND/FINALIZE,
                                             ``GET`` STATUS), ``POST /2/tweets``
reconcile (:meth:`find_published`)           ``GET /2/users/{id}/tweets?start_time=..``
delete                                       ``DELETE /2/tweets/{id}``
metrics                                      ``GET /2/tweets?ids=..&tweet.fields=public_metrics,..``
comments                                     ``GET /2/tweets/search/recent?query=conversation_id:{id}``
reply                                        ``GET /2/tweets/{id}``, ``POST /2/tweets`` with ``reply``
===========================================  ===========================================
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from clientnest import (
    Account,
    AccountMetrics,
    AuthorizationRequest,
    Capability,
    Comment,
    CommentPage,
    ConfigField,
    ConfigSchema,
    Credentials,
    PlatformRules,
    PostContent,
    PostMetrics,
    PublishResult,
    RuleViolation,
    SocialConnector,
)
from clientnest.errors import AmbiguousError, AuthError, ConfigError, PermanentError, PlatformError

from . import oauth, textmatch
from .client import XClient
from .errors import PLATFORM, error_message, is_not_found, partial_errors
from .media import MAX_CHUNK_BYTES, upload_media
from .account_metrics import USER_FIELDS as ACCOUNT_USER_FIELDS
from .account_metrics import normalize_user
from .metrics import PRIVATE_FIELDS, PUBLIC_FIELDS, normalize
from .validation import parse, weighted_length

__all__ = ["TwitterConnector", "VERSION"]

VERSION = "0.1.0"
GIF_MAX_BYTES = 15 * 1024 * 1024
#: X keeps at most the 3,200 newest posts of a user reachable through the timeline
TIMELINE_PAGES = 32
LOOKUP_FIELDS = "created_at,entities,attachments,referenced_tweets,author_id,conversation_id"
COMMENT_FIELDS = "author_id,created_at,conversation_id,in_reply_to_user_id,referenced_tweets"


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _check_url(name: str, value: str) -> str:
    parts = urlsplit(value or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"plugin 'twitter': setting {name!r} must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


class TwitterConnector(SocialConnector):
    """Publishes to X and reads back what happened. See the README for the app to register."""

    name = "twitter"
    display_name = "X (Twitter)"
    version = VERSION
    capabilities = frozenset({
        Capability.OAUTH,
        Capability.REFRESH,
        Capability.PUBLISH_TEXT,
        Capability.PUBLISH_LINK,
        Capability.PUBLISH_IMAGE,
        Capability.PUBLISH_MULTI_IMAGE,
        Capability.PUBLISH_VIDEO,
        Capability.PUBLISH_THREAD,
        Capability.DELETE,
        Capability.METRICS,
        Capability.ACCOUNT_METRICS,
        Capability.COMMENTS,
        Capability.REPLY,
        Capability.LOOKUP,
    })
    config_schema = ConfigSchema((
        ConfigField("client_id", required=True, help="OAuth 2.0 client id of the X app (User authentication settings)"),
        ConfigField("client_secret", secret=True, help="OAuth 2.0 client secret (confidential clients only; empty for a public client)"),
        ConfigField("consumer_secret", secret=True, help="API key secret of the X app: signs webhook CRC answers and checks x-twitter-webhooks-signature"),
        ConfigField("api_base", default="https://api.x.com", help="base URL of the X API (a proxy or a sandbox)"),
        ConfigField("upload_base", default="https://api.x.com", help="base URL of the media upload endpoint (/2/media/upload)"),
        ConfigField("authorize_url", default="https://x.com/i/oauth2/authorize", help="X's OAuth 2.0 authorize page"),
        ConfigField("scopes", default=oauth.DEFAULT_SCOPES, help="space-separated OAuth scopes to request"),
        ConfigField("timeout", type=float, default=20.0, help="read/write timeout per request, seconds"),
        ConfigField("connect_timeout", type=float, default=5.0, help="connect timeout per request, seconds"),
        ConfigField("media_chunk_bytes", type=int, default=4 * 1024 * 1024, help="bytes per APPEND chunk (at most 5 MB)"),
        ConfigField("media_processing_timeout", type=float, default=300.0, help="how long to wait for X to process a video, seconds"),
        ConfigField("private_metrics", type=bool, default=True, help="ask for non_public_metrics (own posts, last 30 days)"),
        ConfigField("comments_page_size", type=int, default=100, help="replies per page when fetching comments (10-100)"),
        ConfigField("search_scope", default="recent", help="'recent' (last 7 days, every access level) or 'all' (full archive, Pro and Enterprise)"),
    ))
    rules = PlatformRules(
        max_length=280,
        max_media=4,
        max_images=4,
        max_videos=1,
        mixed_media=False,
        image_types=("image/jpeg", "image/png", "image/gif", "image/webp"),
        video_types=("video/mp4", "video/quicktime"),
        max_image_bytes=5 * 1024 * 1024,
        max_video_bytes=512 * 1024 * 1024,
        max_thread=24,
        first_comment=False,
        notes=("Weighted length 280 (URLs 23, CJK and emoji 2; twitter-text). Up to 4 images, or one "
               "animated GIF (15 MB), or one video (512 MB). A link is appended to the text."),
    )

    def __init__(self, config: Mapping[str, Any], *, transport: Any = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        # a mapping built by hand (tests, tools) gets the schema's defaults too
        defaults = {f.name: f.default for f in self.config_schema.fields}
        super().__init__({**defaults, **{k: v for k, v in config.items() if v is not None}})
        c = self.config
        for key in ("api_base", "upload_base", "authorize_url"):
            c[key] = _check_url(key, c.get(key) or "")
        if not c.get("client_id"):
            raise ConfigError("plugin 'twitter': setting 'client_id' is required")
        for key in ("timeout", "connect_timeout", "media_processing_timeout"):
            if float(c.get(key) or 0) <= 0:
                raise ConfigError(f"plugin 'twitter': setting {key!r} must be greater than 0")
        if not 1 <= int(c.get("media_chunk_bytes") or 0) <= MAX_CHUNK_BYTES:
            raise ConfigError(f"plugin 'twitter': setting 'media_chunk_bytes' must be between 1 and {MAX_CHUNK_BYTES}")
        if not 10 <= int(c.get("comments_page_size") or 0) <= 100:
            raise ConfigError("plugin 'twitter': setting 'comments_page_size' must be between 10 and 100")
        if c.get("search_scope", "recent") not in ("recent", "all"):
            raise ConfigError("plugin 'twitter': setting 'search_scope' must be 'recent' or 'all'")
        scopes = str(c.get("scopes") or oauth.DEFAULT_SCOPES).split()
        if "tweet.write" not in scopes or "users.read" not in scopes or "tweet.read" not in scopes:
            raise ConfigError("plugin 'twitter': setting 'scopes' must include tweet.read tweet.write users.read")
        c["scopes"] = " ".join(scopes)
        self._sleep = sleep
        self.client = XClient(
            api_base=c["api_base"], upload_base=c["upload_base"],
            timeout=float(c["timeout"]), connect_timeout=float(c["connect_timeout"]),
            user_agent=f"ClientNest-X/{VERSION}", transport=transport,
        )

    # -- sandbox ----------------------------------------------------------------
    @classmethod
    def sandbox(cls) -> Any:
        from .sandbox import TwitterSandbox

        return TwitterSandbox()

    @classmethod
    def sandbox_config(cls, base_url: str) -> dict[str, Any]:
        from .sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET

        base = base_url.rstrip("/")
        return {
            "client_id": SANDBOX_CLIENT_ID,
            "client_secret": SANDBOX_CLIENT_SECRET,
            "api_base": base,
            "upload_base": base,
            "authorize_url": f"{base}/i/oauth2/authorize",
        }

    # -- validation -------------------------------------------------------------
    def text_length(self, text: str) -> int:
        return weighted_length(text)

    def validate(self, content: PostContent, rules: PlatformRules | None = None) -> list[RuleViolation]:
        effective = replace(content, text=textmatch.compose_text(content.text, content.link))
        out = [
            v for v in super().validate(effective, rules)
            # the base class holds GIFs to the image size; X allows 15 MB for them
            if not (v.rule == "media_size" and any(
                m.kind == "gif" and v.message.startswith(f"media {m.id}:") for m in content.media))
        ]
        gifs = [m for m in content.media if m.kind == "gif" or m.content_type == "image/gif"]
        for m in gifs:
            if m.size > GIF_MAX_BYTES:
                out.append(RuleViolation("media_size", f"media {m.id}: {m.size} bytes; X allows {GIF_MAX_BYTES} for a GIF"))
        if gifs and len(content.media) > 1:
            out.append(RuleViolation("mixed_media", "an animated GIF must be the only media of an X post"))
        for i, text in enumerate([effective.text, *content.thread]):
            result = parse(text)
            if not result.valid and text and weighted_length(text) <= (rules or self.rules).max_length:
                where = "text" if i == 0 else f"thread[{i - 1}]"
                out.append(RuleViolation("invalid_characters", f"{where} contains characters X does not accept"))
        for i, text in enumerate(content.thread):
            if not text.strip():
                out.append(RuleViolation("empty", f"thread[{i}] is empty"))
        return out

    # -- connecting -------------------------------------------------------------
    def _client_auth(self) -> tuple[str, str] | None:
        secret = self.config.get("client_secret")
        return (self.config["client_id"], secret) if secret else None

    def authorization_url(self, redirect_uri: str, state: str) -> AuthorizationRequest:
        verifier = oauth.new_verifier()
        url = oauth.authorize_url(
            self.config["authorize_url"], client_id=self.config["client_id"], redirect_uri=redirect_uri,
            state=state, scopes=self.config["scopes"], verifier=verifier,
        )
        return AuthorizationRequest(url=url, verifier=verifier)

    def complete_authorization(self, code: str, redirect_uri: str, verifier: str | None) -> list[Account]:
        if not verifier:
            raise AuthError("X requires the PKCE verifier of this authorization; start connecting again",
                            platform=PLATFORM)
        body = self.client.request_json(
            "POST", "/2/oauth2/token", oauth=True, auth=self._client_auth(),
            data=oauth.code_exchange_form(code=code, redirect_uri=redirect_uri, verifier=verifier,
                                          client_id=self.config["client_id"]),
        )
        return [self._me(oauth.credentials_from_token(body))]

    def connect_with_token(self, credentials: Mapping[str, Any]) -> list[Account]:
        token = credentials.get("access_token")
        if not isinstance(token, str) or not token:
            raise AuthError("credentials: access_token is required", platform=PLATFORM)
        expires_at = _parse_time(credentials.get("expires_at"))
        if expires_at is None and credentials.get("expires_in") is not None:
            try:
                expires_at = datetime.now(UTC) + timedelta(seconds=int(credentials["expires_in"]))
            except (TypeError, ValueError):
                raise AuthError("credentials: expires_in must be a number of seconds", platform=PLATFORM) from None
        extra = {"scope": str(credentials["scope"])} if credentials.get("scope") else {}
        creds = Credentials(access_token=token, refresh_token=credentials.get("refresh_token") or None,
                            expires_at=expires_at, extra=extra)
        return [self._me(creds)]

    def _me(self, creds: Credentials) -> Account:
        body = self.client.request_json("GET", "/2/users/me", token=creds.access_token,
                                        params={"user.fields": "id,name,username,profile_image_url"})
        user = body.get("data") if isinstance(body, dict) else None
        if not isinstance(user, dict) or not user.get("id"):
            raise PermanentError(error_message(body) or "X did not say which user this token belongs to",
                                 platform=PLATFORM, raw=body)
        extra = {"profile_image_url": user["profile_image_url"]} if user.get("profile_image_url") else {}
        return Account(
            external_id=str(user["id"]), credentials=creds, display_name=str(user.get("name") or ""),
            username=user.get("username"), kind="user", extra=extra,
        )

    def refresh(self, account: Account) -> Credentials:
        current = account.credentials
        if not current.refresh_token:
            raise AuthError("this X account has no refresh token (offline.access not granted); reconnect it",
                            platform=PLATFORM)
        body = self.client.request_json(
            "POST", "/2/oauth2/token", oauth=True, auth=self._client_auth(),
            data=oauth.refresh_form(refresh_token=current.refresh_token, client_id=self.config["client_id"]),
        )
        return oauth.credentials_from_token(body, previous=current)

    # -- publishing -------------------------------------------------------------
    @staticmethod
    def post_url(account: Account, tweet_id: str) -> str:
        handle = account.username or "i/web"
        return f"https://x.com/{handle}/status/{tweet_id}"

    def _create(self, token: str, text: str, *, media_ids: Sequence[str] = (), reply_to: str | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {}
        if text:
            payload["text"] = text
        if media_ids:
            payload["media"] = {"media_ids": list(media_ids)}
        if reply_to:
            payload["reply"] = {"in_reply_to_tweet_id": reply_to}
        body = self.client.request_json("POST", "/2/tweets", token=token, json=payload)
        data = body.get("data") if isinstance(body, dict) else None
        if isinstance(data, dict) and data.get("id"):
            return data
        if partial_errors(body):
            raise PermanentError(error_message(body), platform=PLATFORM, raw=body)
        # a 2xx without an id: X may well have posted it
        raise AmbiguousError("X accepted the post but did not return its id", platform=PLATFORM, raw=body)

    def publish(self, account: Account, content: PostContent) -> PublishResult:
        token = account.credentials.access_token
        text = textmatch.compose_text(content.text, content.link)
        media_ids = [
            upload_media(self.client, token, item, chunk_bytes=int(self.config["media_chunk_bytes"]),
                         processing_timeout=float(self.config["media_processing_timeout"]), sleep=self._sleep)
            for item in content.media
        ]
        root = self._create(token, text, media_ids=media_ids)
        root_id = str(root["id"])
        extra: dict[str, Any] = {}
        if media_ids:
            extra["media"] = media_ids
        if content.thread:
            thread_ids: list[str] = []
            previous = root_id
            for index, reply_text in enumerate(content.thread):
                try:
                    reply = self._create(token, reply_text, reply_to=previous)
                except PlatformError as exc:
                    # The post exists: failing it now would make the engine send
                    # it again. Report the thread as cut short instead.
                    extra["thread_incomplete"] = {"index": index, "error": exc.to_dict()}
                    break
                previous = str(reply["id"])
                thread_ids.append(previous)
            extra["thread"] = thread_ids
        return PublishResult(
            external_id=root_id, url=self.post_url(account, root_id), published_at=datetime.now(UTC),
            extra_ids=extra, raw=root,
        )

    def find_published(self, account: Account, content: PostContent, since: datetime) -> PublishResult | None:
        token = account.credentials.access_token
        text = textmatch.compose_text(content.text, content.link)
        start = since.astimezone(UTC).replace(microsecond=0)
        params: dict[str, Any] = {
            "start_time": _rfc3339(start),
            "max_results": 100,
            "exclude": "retweets",
            "tweet.fields": LOOKUP_FIELDS,
        }
        exact: list[dict[str, Any]] = []
        weak: list[dict[str, Any]] = []
        for _ in range(TIMELINE_PAGES):
            body = self.client.request_json("GET", f"/2/users/{account.external_id}/tweets", token=token, params=params)
            for tweet in (body.get("data") or []) if isinstance(body, dict) else []:
                if any(r.get("type") == "replied_to" for r in tweet.get("referenced_tweets") or []):
                    continue  # our post is never a reply; a thread reply with the same text is not it
                created = _parse_time(tweet.get("created_at"))
                if created is not None and created < start:
                    continue
                verdict = textmatch.match(text, len(content.media), tweet)
                if verdict == "exact":
                    exact.append(tweet)
                elif verdict == "weak":
                    weak.append(tweet)
            token_next = (body.get("meta") or {}).get("next_token") if isinstance(body, dict) else None
            if not token_next:
                break
            params["pagination_token"] = token_next
        else:
            raise AmbiguousError(
                f"more than {TIMELINE_PAGES * 100} posts since {params['start_time']}: cannot tell whether this one is among them",
                platform=PLATFORM)
        candidates = exact or (weak if len(weak) == 1 else [])
        if not candidates:
            return None
        # the first attempt is the one we are reconciling: take the oldest match
        found = min(candidates, key=lambda t: (_parse_time(t.get("created_at")) or start, int(t["id"])))
        return PublishResult(
            external_id=str(found["id"]), url=self.post_url(account, str(found["id"])),
            published_at=_parse_time(found.get("created_at")), raw=found,
        )

    def delete(self, account: Account, external_id: str) -> None:
        try:
            body = self.client.request_json("DELETE", f"/2/tweets/{external_id}", token=account.credentials.access_token)
        except PermanentError as exc:
            if exc.status == 404:
                return  # already gone: deleting is done
            raise
        data = body.get("data") if isinstance(body, dict) else None
        if isinstance(data, dict) and data.get("deleted") is True:
            return
        errors = partial_errors(body)
        if errors and all(is_not_found(e) for e in errors):
            return
        raise PermanentError(error_message(body) or f"X did not delete post {external_id}", platform=PLATFORM, raw=body)

    # -- after publishing -------------------------------------------------------
    def fetch_metrics(self, account: Account, external_ids: Sequence[str]) -> list[PostMetrics]:
        ids = list(dict.fromkeys(str(i) for i in external_ids))
        out: list[PostMetrics] = []
        for start in range(0, len(ids), 100):
            out.extend(self._metrics_batch(account.credentials.access_token, ids[start:start + 100]))
        return out

    def fetch_account_metrics(self, account: Account) -> AccountMetrics:
        """Followers from ``GET /2/users/me`` (X gives no account-level impressions)."""
        body = self.client.request_json("GET", "/2/users/me", token=account.credentials.access_token,
                                        params={"user.fields": ACCOUNT_USER_FIELDS})
        user = body.get("data") if isinstance(body, dict) else None
        if not isinstance(user, dict):
            raise PermanentError("X returned no user for /2/users/me", platform=PLATFORM)
        return normalize_user(user)

    def _metrics_batch(self, token: str, ids: list[str]) -> list[PostMetrics]:
        fields = list(PUBLIC_FIELDS) + ["attachments", "created_at"]
        params = {
            "ids": ",".join(ids),
            "expansions": "attachments.media_keys",
            "media.fields": "public_metrics,type,media_key",
        }
        body: Any = None
        if self.config.get("private_metrics"):
            try:
                body = self.client.request_json("GET", "/2/tweets", token=token,
                                                 params={**params, "tweet.fields": ",".join(fields + list(PRIVATE_FIELDS))})
            except PermanentError:
                body = None  # private fields refused for the whole batch: ask for public ones only
        if body is None:
            body = self.client.request_json("GET", "/2/tweets", token=token, params={**params, "tweet.fields": ",".join(fields)})
        # 200 with partial errors[]: a deleted post, or private metrics refused
        # for an old one; each post X did return is still good.
        media = {m["media_key"]: m for m in (body.get("includes") or {}).get("media") or [] if m.get("media_key")}
        return [normalize(t, media) for t in body.get("data") or [] if isinstance(t, dict) and t.get("id")]

    def _search_path(self) -> str:
        return "/2/tweets/search/all" if self.config.get("search_scope") == "all" else "/2/tweets/search/recent"

    def fetch_comments(self, account: Account, external_id: str, cursor: str | None = None) -> CommentPage:
        params: dict[str, Any] = {
            "query": f"conversation_id:{external_id}",
            "tweet.fields": COMMENT_FIELDS,
            "expansions": "author_id",
            "user.fields": "name,username",
            "max_results": int(self.config["comments_page_size"]),
        }
        if cursor:
            params["next_token"] = cursor
        body = self.client.request_json("GET", self._search_path(), token=account.credentials.access_token, params=params)
        users = {u["id"]: u for u in (body.get("includes") or {}).get("users") or [] if u.get("id")}
        comments = []
        for tweet in body.get("data") or []:
            if str(tweet.get("id")) == str(external_id):
                continue
            if str(tweet.get("author_id")) == str(account.external_id):
                continue  # the account's own thread and replies are not comments
            parent = next((r.get("id") for r in tweet.get("referenced_tweets") or [] if r.get("type") == "replied_to"), None)
            author = users.get(tweet.get("author_id")) or {}
            comments.append(Comment(
                external_id=str(tweet["id"]),
                post_external_id=str(external_id),
                text=textmatch.unescape(str(tweet.get("text") or "")),
                author_id=tweet.get("author_id"),
                author_name=author.get("username") or author.get("name"),
                created_at=_parse_time(tweet.get("created_at")),
                parent_external_id=None if parent in (None, str(external_id)) else str(parent),
                raw=tweet,
            ))
        return CommentPage(comments=comments, next_cursor=(body.get("meta") or {}).get("next_token"))

    def reply(self, account: Account, comment_external_id: str, text: str) -> Comment:
        token = account.credentials.access_token
        # Read the comment first: a failure here is safe to retry, and it tells
        # us the conversation (the post) the reply belongs to.
        body = self.client.request_json("GET", f"/2/tweets/{comment_external_id}", token=token,
                                        params={"tweet.fields": "conversation_id,author_id"})
        parent = body.get("data") if isinstance(body, dict) else None
        if not isinstance(parent, dict):
            raise PermanentError(error_message(body) or f"comment {comment_external_id} not found on X",
                                 platform=PLATFORM, raw=body)
        created = self._create(token, text, reply_to=comment_external_id)
        return Comment(
            external_id=str(created["id"]),
            post_external_id=str(parent.get("conversation_id") or comment_external_id),
            text=textmatch.unescape(str(created.get("text") or text)),
            author_id=account.external_id,
            author_name=account.username or account.display_name,
            created_at=datetime.now(UTC),
            parent_external_id=str(comment_external_id),
            raw=created,
        )

    def close(self) -> None:
        self.client.close()

