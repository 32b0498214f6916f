"""The Instagram connector (Instagram Graph API, business and creator accounts).

Connecting goes through Facebook Login: the Instagram professional accounts
are the ``instagram_business_account`` of the Pages the user manages, and the
connector acts with each Page's token (which does not expire when it comes
from a long-lived user token).

Publishing is two steps: a media container (``POST /{ig-user}/media``), then
``POST /{ig-user}/media_publish``. Video containers (reels, carousel videos)
are polled until ``status_code`` is ``FINISHED``. After a successful
``media_publish`` the post exists: reading its permalink back may fail, and
that never fails the publish (the result comes back with ``url=None``).

The Instagram API cannot delete published media, so ``DELETE`` is not a
declared capability.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
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
    MediaItem,
    PlatformRules,
    PostContent,
    PostMetrics,
    PublishResult,
    SocialConnector,
)
from clientnest.errors import (
    AmbiguousError,
    ConfigError,
    NotSentError,
    PermanentError,
    PlatformError,
)

from . import account_metrics
from .graph import GraphClient

__all__ = ["InstagramConnector", "DEFAULT_SCOPES"]

DEFAULT_SCOPES = (
    "instagram_basic,instagram_content_publish,instagram_manage_comments,instagram_manage_insights,"
    "pages_show_list,pages_read_engagement,business_management"
)
_IG_FIELDS = "id,username,name,profile_picture_url"
_ACCOUNTS_FIELDS = f"id,name,access_token,instagram_business_account{{{_IG_FIELDS}}}"
_MEDIA_FIELDS = "id,caption,timestamp,permalink,media_type,media_product_type,children{id,media_type}"
_COMMENT_FIELDS = "id,text,timestamp,username,from{id,username},like_count"
_REPLY_FIELDS = "id,text,timestamp,username,from{id,username},parent_id"
#: current media insights (Graph v22+), and the set older media / versions answer to
_INSIGHTS = ("reach", "saved", "shares", "views")
_LEGACY_INSIGHTS = ("impressions", "reach", "saved")
#: Graph truncates times to the second and clocks differ a little; kept small,
#: so an identical post made before ``since`` is never taken for this one.
LOOKUP_SKEW = timedelta(seconds=5)
LOOKUP_MAX_PAGES = 10
MAX_CAROUSEL = 10
MAX_CAPTION = 2200


def _parse_time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    text = str(value)
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = text[:-2] + ":" + text[-2:]
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _normalise(text: str | None) -> str:
    return (text or "").replace("\r\n", "\n").strip()


class InstagramConnector(SocialConnector):
    """Publishes to Instagram professional accounts linked to Facebook Pages."""

    name = "instagram"
    display_name = "Instagram"
    version = "0.1.0"
    capabilities = frozenset({
        Capability.OAUTH,
        Capability.PUBLISH_IMAGE,
        Capability.PUBLISH_MULTI_IMAGE,
        Capability.PUBLISH_VIDEO,
        Capability.FIRST_COMMENT,
        Capability.METRICS,
        Capability.ACCOUNT_METRICS,
        Capability.COMMENTS,
        Capability.REPLY,
        Capability.LOOKUP,
        Capability.WEBHOOKS,
    })
    config_schema = ConfigSchema((
        ConfigField("app_id", needed_for="connecting accounts", help="App ID of the Meta app (developers.facebook.com)"),
        ConfigField("app_secret", needed_for="connecting accounts", secret=True, help="App secret: code exchange, appsecret_proof, webhook signatures"),
        ConfigField("verify_token", secret=True, help="Webhook verify token set in the App Dashboard"),
        ConfigField("api_base", default="https://graph.facebook.com", help="Graph API base URL (a proxy or a sandbox)"),
        ConfigField("oauth_base", default="https://www.facebook.com", help="base URL of the Facebook Login dialog"),
        ConfigField("graph_version", default="v23.0", help="Graph API version, e.g. v23.0"),
        ConfigField("scopes", default=DEFAULT_SCOPES, help="comma-separated Facebook Login permissions"),
        ConfigField("timeout", type=float, default=30.0, help="seconds to wait for the Graph API"),
        ConfigField("poll_interval", type=float, default=3.0, help="seconds between video container status checks"),
        ConfigField("poll_timeout", type=float, default=90.0,
                    help="give up waiting for a video container after this many seconds (retried later)"),
    ))
    rules = PlatformRules(
        max_length=MAX_CAPTION,
        requires_media=True,
        max_media=MAX_CAROUSEL,
        max_images=MAX_CAROUSEL,
        max_videos=MAX_CAROUSEL,
        mixed_media=True,
        image_types=("image/jpeg",),
        max_image_bytes=8 * 1024 * 1024,
        max_video_bytes=1024 * 1024 * 1024,
        max_hashtags=30,
        first_comment=True,
        notes="Media must be reachable by Instagram at a public URL; one video is published as a reel; "
              "2 to 10 items make a carousel. Published media cannot be deleted through the API.",
    )

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(self.config_schema.validate(self.name, config))
        self.graph = GraphClient(
            self.config["api_base"],
            self.config["graph_version"],
            timeout=self.config["timeout"],
            app_secret=self.config.get("app_secret"),
            platform=self.name,
            transport=transport,
        )
        self._sleep = sleep

    # -- sandbox -------------------------------------------------------------------
    @classmethod
    def sandbox(cls) -> Any:
        from .sandbox import InstagramSandbox

        return InstagramSandbox()

    @classmethod
    def sandbox_config(cls, base_url: str) -> dict[str, Any]:
        from .sandbox import SANDBOX_APP_ID, SANDBOX_APP_SECRET, SANDBOX_VERIFY_TOKEN

        return {
            "api_base": base_url,
            "oauth_base": base_url,
            "app_id": SANDBOX_APP_ID,
            "app_secret": SANDBOX_APP_SECRET,
            "verify_token": SANDBOX_VERIFY_TOKEN,
            "poll_interval": 0.05,
            "poll_timeout": 10.0,
        }

    # -- connecting ------------------------------------------------------------------
    def _app(self) -> tuple[str, str]:
        app_id, secret = self.config.get("app_id"), self.config.get("app_secret")
        if not app_id or not secret:
            raise ConfigError(
                "instagram: set CLIENTNEST_INSTAGRAM_APP_ID and CLIENTNEST_INSTAGRAM_APP_SECRET "
                "(the Meta app) to connect with Facebook Login"
            )
        return app_id, secret

    def authorization_url(self, redirect_uri: str, state: str) -> AuthorizationRequest:
        app_id, _ = self._app()
        query = urlencode({
            "client_id": app_id, "redirect_uri": redirect_uri, "state": state,
            "response_type": "code", "scope": self.config["scopes"],
        })
        base = self.config["oauth_base"].rstrip("/")
        return AuthorizationRequest(url=f"{base}/{self.config['graph_version']}/dialog/oauth?{query}")

    def complete_authorization(self, code: str, redirect_uri: str, verifier: str | None) -> list[Account]:
        app_id, secret = self._app()
        short = self.graph.get("oauth/access_token", params={
            "client_id": app_id, "client_secret": secret, "redirect_uri": redirect_uri, "code": code,
        })
        long = self.graph.get("oauth/access_token", params={
            "grant_type": "fb_exchange_token", "client_id": app_id, "client_secret": secret,
            "fb_exchange_token": short["access_token"],
        })
        accounts = self._accounts(long["access_token"])
        if not accounts:
            raise PermanentError(
                "none of this user's Facebook Pages has an Instagram professional account linked",
                platform=self.name,
            )
        return accounts

    def connect_with_token(self, credentials: Mapping[str, Any]) -> list[Account]:
        """``{"access_token": ..., "ig_user_id": optional}`` with a system-user,
        user or Page token."""
        token = str(credentials.get("access_token") or "").strip()
        if not token:
            raise PermanentError("access_token is required", platform=self.name)
        try:
            accounts = self._accounts(token)
        except PermanentError as exc:
            if exc.code != 100:  # a Page token has no /me/accounts
                raise
            page = self.graph.get("me", token=token, params={"fields": f"id,name,instagram_business_account{{{_IG_FIELDS}}}"})
            accounts = [a for a in [self._account(page, token)] if a is not None]
        wanted = credentials.get("ig_user_id")
        if wanted:
            accounts = [a for a in accounts if a.external_id == str(wanted)]
            if not accounts:
                raise PermanentError(f"Instagram account {wanted} is not linked to a Page this token manages",
                                     platform=self.name)
        if not accounts:
            raise PermanentError("no Instagram professional account is linked to the Pages of this token",
                                 platform=self.name)
        return accounts

    def _accounts(self, user_token: str) -> list[Account]:
        out = []
        for page in self._paged("me/accounts", user_token, {"fields": _ACCOUNTS_FIELDS, "limit": 100}):
            account = self._account(page, page.get("access_token") or user_token)
            if account is not None:
                out.append(account)
        return out

    def _account(self, page: Mapping[str, Any], token: str) -> Account | None:
        ig = page.get("instagram_business_account")
        if not isinstance(ig, dict) or not ig.get("id"):
            return None
        if not ig.get("username"):
            # /me/accounts answered with the id only (as recorded): ask the Page for the expansion
            page_body = self.graph.get(str(page["id"]), token=token,
                                       params={"fields": f"instagram_business_account{{{_IG_FIELDS}}}"})
            ig = {**ig, **(page_body.get("instagram_business_account") or {})}
        return Account(
            external_id=str(ig["id"]),
            credentials=Credentials(access_token=token, extra={"token_type": "page", "page_id": str(page["id"])}),
            display_name=str(ig.get("name") or ig.get("username") or ig["id"]),
            username=ig.get("username"),
            kind="business",
            extra={k: v for k, v in {
                "page_id": str(page["id"]), "page_name": page.get("name"),
                "profile_picture_url": ig.get("profile_picture_url"),
            }.items() if v},
        )

    def _paged(self, path: str, token: str, params: Mapping[str, Any], max_pages: int = 50) -> Iterator[dict[str, Any]]:
        query = dict(params)
        for _ in range(max_pages):
            body = self.graph.get(path, token=token, params=query)
            yield from body.get("data") or []
            paging = body.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                return
            query["after"] = after

    # -- publishing ------------------------------------------------------------------
    def publish(self, account: Account, content: PostContent) -> PublishResult:
        token, ig = account.credentials.access_token, account.external_id
        media = list(content.media)
        if not media:
            raise PermanentError("Instagram posts need an image or a video", platform=self.name)
        if len(media) > MAX_CAROUSEL:
            raise PermanentError(f"an Instagram carousel takes at most {MAX_CAROUSEL} items", platform=self.name)
        for m in media:
            if not m.url:
                raise PermanentError(f"Instagram fetches media from a public URL; media {m.id} has none",
                                     platform=self.name)
        try:
            container, children = self._container(token, ig, content, media)
        except AmbiguousError as exc:
            # Containers are invisible until published: nothing can be on the account yet.
            raise NotSentError(exc.message, platform=self.name, code=exc.code, status=exc.status,
                               retry_at=exc.retry_at) from None
        body = self._media_publish(token, ig, container)
        result = PublishResult(
            external_id=str(body["id"]),
            extra_ids={"container": container, **({"children": children} if children else {})},
            raw=body,
        )
        # From here on the post exists: nothing below may fail the publish.
        try:
            info = self.graph.get(result.external_id, token=token, params={"fields": "permalink,timestamp"})
            result.url = info.get("permalink") or None
            result.published_at = _parse_time(info.get("timestamp"))
        except PlatformError as exc:
            result.extra_ids["permalink_error"] = exc.message
        if content.first_comment:
            try:
                reply = self.graph.post(f"{result.external_id}/comments", token=token,
                                        data={"message": content.first_comment})
                result.extra_ids["first_comment"] = str(reply["id"])
            except PlatformError as exc:
                result.extra_ids["first_comment_error"] = exc.message
        return result

    def _container(self, token: str, ig: str, content: PostContent,
                   media: Sequence[MediaItem]) -> tuple[str, list[str]]:
        caption = content.text or None
        if len(media) == 1:
            m = media[0]
            if m.kind == "video":
                body = self.graph.post(f"{ig}/media", token=token, data={
                    "media_type": "REELS", "video_url": m.url, "caption": caption})
                self._wait(token, str(body["id"]))
            else:
                body = self.graph.post(f"{ig}/media", token=token, data={"image_url": m.url, "caption": caption})
            return str(body["id"]), []
        children: list[str] = []
        for m in media:
            if m.kind == "video":
                body = self.graph.post(f"{ig}/media", token=token, data={
                    "media_type": "VIDEO", "video_url": m.url, "is_carousel_item": True})
                self._wait(token, str(body["id"]))
            else:
                body = self.graph.post(f"{ig}/media", token=token, data={"image_url": m.url, "is_carousel_item": True})
            children.append(str(body["id"]))
        body = self.graph.post(f"{ig}/media", token=token, data={
            "media_type": "CAROUSEL", "children": ",".join(children), "caption": caption})
        self._wait(token, str(body["id"]))
        return str(body["id"]), children

    def _wait(self, token: str, container: str) -> None:
        """Poll a container until ``FINISHED``; ``ERROR`` is permanent (with
        Instagram's reason), ``EXPIRED`` or a timeout is retried later."""
        deadline = time.monotonic() + self.config["poll_timeout"]
        while True:
            body = self.graph.get(container, token=token, params={"fields": "status_code,status"})
            code = str(body.get("status_code") or "")
            if code in ("FINISHED", "PUBLISHED"):
                return
            if code == "ERROR":
                raise PermanentError(str(body.get("status") or "Instagram could not process the media"),
                                     platform=self.name, raw=body)
            if code == "EXPIRED":
                raise NotSentError("the media container expired before it was published", platform=self.name)
            if time.monotonic() >= deadline:
                raise NotSentError(
                    f"Instagram was still processing the media after {self.config['poll_timeout']:.0f} s",
                    platform=self.name, retry_at=datetime.now(UTC) + timedelta(minutes=1),
                )
            self._sleep(self.config["poll_interval"])

    def _media_publish(self, token: str, ig: str, container: str) -> dict[str, Any]:
        try:
            return self.graph.post(f"{ig}/media_publish", token=token, data={"creation_id": container})
        except PermanentError as exc:
            # 9007 / 2207027 "Media ID is not available": not ready yet. It was
            # refused, so nothing was published: wait, then publish once more.
            if exc.code != 9007:
                raise
        self._wait(token, container)
        return self.graph.post(f"{ig}/media_publish", token=token, data={"creation_id": container})

    def find_published(self, account: Account, content: PostContent, since: datetime) -> PublishResult | None:
        """The account's media with exactly this caption and the same kind of
        media, posted at or after ``since`` (less :data:`LOOKUP_SKEW`)."""
        token, ig = account.credentials.access_token, account.external_id
        floor = since.astimezone(UTC).replace(microsecond=0) - LOOKUP_SKEW
        want = _normalise(content.text)
        matches: list[tuple[datetime, dict[str, Any]]] = []
        params = {"fields": _MEDIA_FIELDS, "since": int(floor.timestamp()), "limit": 50}
        for item in self._paged(f"{ig}/media", token, params, max_pages=LOOKUP_MAX_PAGES):
            created = _parse_time(item.get("timestamp"))
            if created is None:
                continue
            if created < floor:
                break  # newest first: the rest is older still
            if _normalise(item.get("caption")) == want and _same_media(item, content.media):
                matches.append((created, item))
        if not matches:
            return None
        created, item = min(matches, key=lambda m: m[0])
        return PublishResult(external_id=str(item["id"]), url=item.get("permalink") or None,
                             published_at=created, raw=item)

    def delete(self, account: Account, external_id: str) -> None:
        raise PermanentError("the Instagram API cannot delete published media; delete it in the Instagram app",
                             platform=self.name)

    # -- after publishing ------------------------------------------------------------
    def fetch_account_metrics(self, account: Account) -> AccountMetrics:
        token = account.credentials.access_token
        user = self.graph.get(account.external_id, token=token, params={"fields": "id,followers_count,media_count"})
        insights = None
        for names in (account_metrics.USER_INSIGHTS, account_metrics.FALLBACK_INSIGHTS):
            try:
                insights = self.graph.get(f"{account.external_id}/insights", token=token,
                                          params={"metric": ",".join(names), "period": "day"})
                break
            except PermanentError:
                continue  # a metric this API version no longer has: ask for fewer
        return account_metrics.normalize(account.external_id, user, insights)

    def fetch_metrics(self, account: Account, external_ids: Sequence[str]) -> list[PostMetrics]:
        token = account.credentials.access_token
        out: list[PostMetrics] = []
        for external_id in external_ids:
            try:
                media = self.graph.get(external_id, token=token, params={
                    "fields": "id,media_type,media_product_type,like_count,comments_count,timestamp"})
            except PermanentError as exc:
                if exc.code == 100:
                    continue
                raise
            raw: dict[str, Any] = {"media": media}
            values: dict[str, int] = {}
            for names in (_INSIGHTS, _LEGACY_INSIGHTS):
                try:
                    body = self.graph.get(f"{external_id}/insights", token=token, params={"metric": ",".join(names)})
                except PermanentError as exc:
                    # a metric this media (or API version) does not have: try the older set
                    raw["insights_error"] = exc.message
                    continue
                raw["insights"] = body
                raw.pop("insights_error", None)
                values = _insight_values(body)
                break
            is_video = media.get("media_type") == "VIDEO" or media.get("media_product_type") == "REELS"
            views = _first(values, "views", "impressions", "carousel_album_impressions")
            out.append(PostMetrics(
                external_id=external_id,
                impressions=views,
                reach=_first(values, "reach", "carousel_album_reach"),
                likes=_int(media.get("like_count")),
                comments=_int(media.get("comments_count")),
                shares=values.get("shares"),
                saves=_first(values, "saved", "carousel_album_saved"),
                video_views=_first(values, "views", "plays", "video_views") if is_video else None,
                raw=raw,
            ))
        return out

    def fetch_comments(self, account: Account, external_id: str, cursor: str | None = None) -> CommentPage:
        body = self.graph.get(f"{external_id}/comments", token=account.credentials.access_token, params={
            "fields": f"{_COMMENT_FIELDS},replies{{{_REPLY_FIELDS}}}", "limit": 50, "after": cursor,
        })
        comments: list[Comment] = []
        for item in body.get("data") or []:
            if not item.get("id"):
                continue
            comments.append(_comment(item, external_id, None))
            for reply in ((item.get("replies") or {}).get("data") or []):
                if reply.get("id"):
                    comments.append(_comment(reply, external_id, str(item["id"])))
        paging = body.get("paging") or {}
        after = (paging.get("cursors") or {}).get("after")
        return CommentPage(comments=comments, next_cursor=after if paging.get("next") and after else None)

    def reply(self, account: Account, comment_external_id: str, text: str) -> Comment:
        token = account.credentials.access_token
        body = self.graph.post(f"{comment_external_id}/replies", token=token, data={"message": text})
        post_id = ""
        try:
            parent = self.graph.get(comment_external_id, token=token, params={"fields": "media{id}"})
            post_id = str((parent.get("media") or {}).get("id") or "")
        except PlatformError:
            pass  # the reply exists; only the post it belongs to is unknown
        return Comment(
            external_id=str(body["id"]),
            post_external_id=post_id,
            text=text,
            author_id=account.external_id,
            author_name=account.username or account.display_name,
            created_at=datetime.now(UTC),
            parent_external_id=comment_external_id,
            raw=body,
        )

    def close(self) -> None:
        self.graph.close()


def _comment(item: Mapping[str, Any], post_external_id: str, parent: str | None) -> Comment:
    author = item.get("from") or {}
    return Comment(
        external_id=str(item["id"]),
        post_external_id=post_external_id,
        text=str(item.get("text") or ""),
        author_id=str(author["id"]) if author.get("id") else None,
        author_name=author.get("username") or item.get("username"),
        created_at=_parse_time(item.get("timestamp")),
        parent_external_id=parent or (str(item["parent_id"]) if item.get("parent_id") else None),
        raw=dict(item),
    )


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | str) and str(value).isdigit() else None


def _first(values: Mapping[str, int], *names: str) -> int | None:
    for name in names:
        if name in values:
            return values[name]
    return None


def _insight_values(body: Mapping[str, Any]) -> dict[str, int]:
    """Insights answer ``values: [{"value": n}]`` or, for newer metrics,
    ``total_value: {"value": n}`` (both recorded)."""
    out: dict[str, int] = {}
    for metric in body.get("data") or []:
        value = None
        values = metric.get("values") or []
        if values:
            value = values[-1].get("value")
        if value is None:
            value = (metric.get("total_value") or {}).get("value")
        if isinstance(value, int | float):
            out[str(metric.get("name"))] = int(value)
    return out


def _same_media(item: Mapping[str, Any], media: Sequence[MediaItem]) -> bool:
    kind = str(item.get("media_type") or "")
    if len(media) > 1:
        children = ((item.get("children") or {}).get("data"))
        return kind == "CAROUSEL_ALBUM" and (children is None or len(children) == len(media))
    if media and media[0].kind == "video":
        return kind == "VIDEO" or item.get("media_product_type") == "REELS"
    return kind == "IMAGE"
