"""The Facebook Pages connector (Graph API).

Connecting: Facebook Login (authorize dialog with ``state``), code exchange,
long-lived user token (``fb_exchange_token``), then every Page of
``/me/accounts`` with its own Page token; the user picks which Pages become
accounts. Page tokens obtained from a long-lived user token do not expire, so
the connector declares no refresh. A system-user, user or Page token can be
connected directly too.

Ids: a feed post is ``{page-id}_{post-id}``; a video is published as a video
object, whose id (no underscore) is the external id of that post.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

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

__all__ = ["FacebookConnector", "DEFAULT_SCOPES"]

#: what the Page connection needs: list Pages, post, read and answer comments, insights
DEFAULT_SCOPES = (
    "pages_show_list,pages_read_engagement,pages_manage_posts,pages_manage_engagement,"
    "pages_read_user_content,read_insights,business_management"
)
_PAGE_FIELDS = "id,name,username,link,category,tasks,access_token"
_FEED_FIELDS = "id,message,created_time,permalink_url,from{id,name},attachments{media_type,type,target,subattachments}"
_COMMENT_FIELDS = "id,message,created_time,from{id,name},parent{id},permalink_url"
_POST_INSIGHTS = ("post_impressions", "post_impressions_unique", "post_clicks")
_VIDEO_INSIGHTS = ("total_video_views", "total_video_impressions", "total_video_impressions_unique")
#: how much earlier than the first attempt a post may carry as its time: Graph
#: truncates times to the second and clocks differ a little. Kept small: an
#: identical post made before ``since`` must not be taken for this one.
LOOKUP_SKEW = timedelta(seconds=5)
#: how many feed pages the reconciliation lookup reads at most
LOOKUP_MAX_PAGES = 10


def _parse_time(value: Any) -> datetime | None:
    """Graph times look like ``2023-02-13T08:47:26+0000``; webhooks send epoch seconds."""
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


def _absolute(permalink: str | None) -> str | None:
    """Video permalinks come back relative (``/175657278317538/videos/1042961149725000``)."""
    if not permalink:
        return None
    return permalink if permalink.startswith("http") else f"https://www.facebook.com{permalink}"


def _comment_id_from_permalink(post_external_id: str, permalink: str | None) -> tuple[str | None, str | None]:
    """Some answers omit ``id``: rebuild ``{object}_{comment}`` (and the parent of a
    reply) from ``...?comment_id=X&reply_comment_id=Y``."""
    if not permalink:
        return None, None
    query = parse_qs(urlparse(permalink).query)
    comment = (query.get("comment_id") or [None])[0]
    reply = (query.get("reply_comment_id") or [None])[0]
    obj = post_external_id.rsplit("_", 1)[-1]
    if reply and comment:
        return f"{obj}_{reply}", f"{obj}_{comment}"
    if comment:
        return f"{obj}_{comment}", None
    return None, None


class FacebookConnector(SocialConnector):
    """Publishes to Facebook Pages and reads their comments and insights."""

    name = "facebook"
    display_name = "Facebook Pages"
    version = "0.1.0"
    capabilities = frozenset({
        Capability.OAUTH,
        Capability.PUBLISH_TEXT,
        Capability.PUBLISH_LINK,
        Capability.PUBLISH_IMAGE,
        Capability.PUBLISH_MULTI_IMAGE,
        Capability.PUBLISH_VIDEO,
        Capability.FIRST_COMMENT,
        Capability.DELETE,
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
        ConfigField("video_base", default="https://graph-video.facebook.com", help="base URL for video uploads"),
        ConfigField("oauth_base", default="https://www.facebook.com", help="base URL of the Facebook Login dialog"),
        ConfigField("graph_version", default="v23.0", help="Graph API version, e.g. v23.0"),
        ConfigField("scopes", default=DEFAULT_SCOPES, help="comma-separated Facebook Login permissions"),
        ConfigField("timeout", type=float, default=30.0, help="seconds to wait for the Graph API"),
    ))
    rules = PlatformRules(
        max_length=63206,
        max_media=10,
        max_images=10,
        max_videos=1,
        image_types=("image/jpeg", "image/png", "image/gif"),
        max_image_bytes=10 * 1024 * 1024,
        max_video_bytes=1024 * 1024 * 1024,
        first_comment=True,
        notes="Images and a video cannot be mixed; several images become one multi-photo post.",
    )

    def __init__(self, config: Mapping[str, Any], *, transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(self.config_schema.validate(self.name, config))
        self.graph = GraphClient(
            self.config["api_base"],
            self.config["graph_version"],
            timeout=self.config["timeout"],
            app_secret=self.config.get("app_secret"),
            platform=self.name,
            transport=transport,
        )

    # -- sandbox ----------------------------------------------------------------
    @classmethod
    def sandbox(cls) -> Any:
        from .sandbox import FacebookSandbox

        return FacebookSandbox()

    @classmethod
    def sandbox_config(cls, base_url: str) -> dict[str, Any]:
        from .sandbox import SANDBOX_APP_ID, SANDBOX_APP_SECRET, SANDBOX_VERIFY_TOKEN

        return {
            "api_base": base_url,
            "video_base": base_url,
            "oauth_base": base_url,
            "app_id": SANDBOX_APP_ID,
            "app_secret": SANDBOX_APP_SECRET,
            "verify_token": SANDBOX_VERIFY_TOKEN,
        }

    # -- connecting ---------------------------------------------------------------
    def _app(self) -> tuple[str, str]:
        app_id, secret = self.config.get("app_id"), self.config.get("app_secret")
        if not app_id or not secret:
            raise ConfigError(
                "facebook: set CLIENTNEST_FACEBOOK_APP_ID and CLIENTNEST_FACEBOOK_APP_SECRET to connect with Facebook Login"
            )
        return app_id, secret

    def authorization_url(self, redirect_uri: str, state: str) -> AuthorizationRequest:
        app_id, _ = self._app()
        query = urlencode({
            "client_id": app_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "response_type": "code",
            "scope": self.config["scopes"],
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
        expires_in = long.get("expires_in")
        user_expires = datetime.now(UTC) + timedelta(seconds=int(expires_in)) if expires_in else None
        accounts = self._pages(long["access_token"], user_expires)
        if not accounts:
            raise PermanentError("this Facebook user manages no Pages (or did not grant access to any)",
                                 platform=self.name)
        return accounts

    def connect_with_token(self, credentials: Mapping[str, Any]) -> list[Account]:
        """``{"access_token": ..., "page_id": optional}``: a system-user or user
        token lists its Pages; a Page token is the Page itself."""
        token = str(credentials.get("access_token") or "").strip()
        if not token:
            raise PermanentError("access_token is required", platform=self.name)
        page_id = credentials.get("page_id")
        try:
            accounts = self._pages(token, None)
        except PermanentError as exc:
            # "(#100) Tried accessing nonexisting field (accounts) on node type (Page)"
            if exc.code != 100:
                raise
            me = self.graph.get("me", token=token, params={"fields": "id,name,username,link,category"})
            accounts = [self._page_account(me, token, None)]
        if page_id:
            accounts = [a for a in accounts if a.external_id == str(page_id)]
            if not accounts:
                raise PermanentError(f"Page {page_id} is not among the Pages this token manages", platform=self.name)
        if not accounts:
            raise PermanentError("this token manages no Facebook Pages", platform=self.name)
        return accounts

    def _pages(self, user_token: str, user_expires: datetime | None) -> list[Account]:
        accounts = []
        for page in self._paged("me/accounts", user_token, {"fields": _PAGE_FIELDS, "limit": 100}):
            if page.get("access_token"):
                accounts.append(self._page_account(page, page["access_token"], user_expires))
        return accounts

    def _page_account(self, page: Mapping[str, Any], token: str, user_expires: datetime | None) -> Account:
        extra = {k: page[k] for k in ("category", "tasks", "link") if page.get(k)}
        return Account(
            external_id=str(page["id"]),
            # Page tokens from a long-lived user token (or a system user) do not expire.
            credentials=Credentials(access_token=token, extra={
                "token_type": "page",
                "user_token_expires_at": user_expires.isoformat() if user_expires else None,
            }),
            display_name=str(page.get("name") or page["id"]),
            username=page.get("username"),
            kind="page",
            extra=extra,
        )

    def _paged(self, path: str, token: str, params: Mapping[str, Any], max_pages: int = 50) -> Iterator[dict[str, Any]]:
        """Items of a Graph edge, following ``paging.cursors.after`` (never the
        ``next`` URL, which names the real host and carries the token)."""
        query = dict(params)
        for _ in range(max_pages):
            body = self.graph.get(path, token=token, params=query)
            yield from body.get("data") or []
            paging = body.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                return
            query["after"] = after

    # -- publishing -----------------------------------------------------------------
    def publish(self, account: Account, content: PostContent) -> PublishResult:
        token, page = account.credentials.access_token, account.external_id
        images = [m for m in content.media if m.kind in ("image", "gif")]
        videos = [m for m in content.media if m.kind == "video"]
        if videos and images:
            raise PermanentError("Facebook cannot mix images and a video in one post", platform=self.name)
        if len(videos) > 1:
            raise PermanentError("Facebook takes one video per post", platform=self.name)
        if videos:
            result = self._publish_video(token, page, content, videos[0])
        elif len(images) == 1:
            result = self._publish_photo(token, page, content, images[0])
        elif images:
            result = self._publish_photos(token, page, content, images)
        else:
            if not content.text.strip() and not content.link:
                raise PermanentError("a Facebook post needs a message, a link or media", platform=self.name)
            body = self.graph.post(f"{page}/feed", token=token, data={"message": content.text or None,
                                                                      "link": content.link})
            result = PublishResult(external_id=str(body["id"]), raw=body)
        self._read_back(token, result)
        if content.first_comment:
            self._first_comment(token, result, content.first_comment)
        return result

    def _read_back(self, token: str, result: PublishResult) -> None:
        """Permalink and time of a new post. A failure here never fails the
        publish: the post exists, only its URL is unknown."""
        try:
            body = self.graph.get(result.external_id, token=token, params={"fields": "permalink_url,created_time"})
        except PlatformError:
            return
        result.url = _absolute(body.get("permalink_url"))
        result.published_at = _parse_time(body.get("created_time"))

    def _first_comment(self, token: str, result: PublishResult, text: str) -> None:
        # The post is out: a failed first comment is reported, not raised.
        try:
            body = self.graph.post(f"{result.external_id}/comments", token=token, data={"message": text})
            result.extra_ids["first_comment"] = str(body["id"])
        except PlatformError as exc:
            result.extra_ids["first_comment_error"] = exc.message

    def _media_source(self, m: MediaItem, url_key: str) -> tuple[dict[str, Any], Any]:
        """(form fields, files) for one media item: the URL if the platform can
        fetch it, else the bytes as a multipart upload."""
        if m.url:
            return {url_key: m.url}, None
        if m.read is not None:
            ext = (m.content_type.split("/")[-1] or "bin").replace("jpeg", "jpg")
            return {}, {"source": (f"{m.id}.{ext}", m.read(), m.content_type)}
        raise PermanentError(f"media {m.id} has neither a URL nor readable bytes", platform=self.name)

    def _publish_photo(self, token: str, page: str, content: PostContent, image: MediaItem) -> PublishResult:
        fields, files = self._media_source(image, "url")
        body = self.graph.post(f"{page}/photos", token=token, files=files, data={
            **fields, "message": content.text or None, "published": True,
        })
        post_id = str(body.get("post_id") or f"{page}_{body['id']}")
        return PublishResult(external_id=post_id, extra_ids={"photos": [str(body["id"])]}, raw=body)

    def _publish_photos(self, token: str, page: str, content: PostContent, images: Sequence[MediaItem]) -> PublishResult:
        photo_ids: list[str] = []
        for image in images:
            fields, files = self._media_source(image, "url")
            try:
                body = self.graph.post(f"{page}/photos", token=token, files=files,
                                       data={**fields, "published": False})
            except AmbiguousError as exc:
                # An unpublished photo is invisible: no post can exist yet.
                raise NotSentError(exc.message, platform=self.name, code=exc.code, status=exc.status,
                                   retry_at=exc.retry_at) from None
            photo_ids.append(str(body["id"]))
        data: dict[str, Any] = {"message": content.text or None}
        for i, pid in enumerate(photo_ids):
            data[f"attached_media[{i}]"] = json.dumps({"media_fbid": pid})
        body = self.graph.post(f"{page}/feed", token=token, data=data)
        return PublishResult(external_id=str(body["id"]), extra_ids={"photos": photo_ids}, raw=body)

    def _publish_video(self, token: str, page: str, content: PostContent, video: MediaItem) -> PublishResult:
        fields, files = self._media_source(video, "file_url")
        body = self.graph.post(f"{page}/videos", token=token, files=files,
                               base=self.config["video_base"],
                               data={**fields, "description": content.text or None})
        return PublishResult(external_id=str(body["id"]), extra_ids={"video": str(body["id"])}, raw=body)

    def find_published(self, account: Account, content: PostContent, since: datetime) -> PublishResult | None:
        """The Page's own post with exactly this message (and the same kind of
        media) created at or after ``since`` (less :data:`LOOKUP_SKEW`)."""
        token, page = account.credentials.access_token, account.external_id
        floor = since.astimezone(UTC).replace(microsecond=0) - LOOKUP_SKEW
        want = _normalise(content.text)
        params = {"fields": _FEED_FIELDS, "since": int(floor.timestamp()), "limit": 100}
        matches: list[tuple[datetime, dict[str, Any]]] = []
        for post in self._paged(f"{page}/feed", token, params, max_pages=LOOKUP_MAX_PAGES):
            created = _parse_time(post.get("created_time"))
            if created is None or created < floor:
                continue
            author = (post.get("from") or {}).get("id")
            if author is not None and str(author) != page:
                continue
            if _normalise(post.get("message")) != want or not _same_media(post, content):
                continue
            matches.append((created, post))
        if not matches:
            return None
        created, post = min(matches, key=lambda m: m[0])
        external = str(post["id"])
        if any(m.kind == "video" for m in content.media):
            external = _video_target(post) or external
        return PublishResult(external_id=external, url=_absolute(post.get("permalink_url")),
                             published_at=created, raw=post)

    def delete(self, account: Account, external_id: str) -> None:
        self.graph.delete(external_id, token=account.credentials.access_token)

    # -- after publishing -----------------------------------------------------------------
    def fetch_account_metrics(self, account: Account) -> AccountMetrics:
        token = account.credentials.access_token
        page = self.graph.get(account.external_id, token=token, params={"fields": "id,followers_count,fan_count"})
        insights = None
        for names in (account_metrics.PAGE_INSIGHTS, account_metrics.FALLBACK_INSIGHTS):
            try:
                insights = self.graph.get(f"{account.external_id}/insights", token=token,
                                          params={"metric": ",".join(names), "period": "day"})
                break
            except PermanentError:
                continue  # a retired metric: ask for fewer
        return account_metrics.normalize(account.external_id, page, insights)

    def fetch_metrics(self, account: Account, external_ids: Sequence[str]) -> list[PostMetrics]:
        token = account.credentials.access_token
        out: list[PostMetrics] = []
        for external_id in external_ids:
            is_video = "_" not in external_id
            try:
                counts = self.graph.get(external_id, token=token, params={
                    "fields": "id,shares,comments.limit(0).summary(true),reactions.limit(0).summary(true)",
                })
            except PermanentError as exc:
                if exc.code == 100:  # deleted or no longer visible: nothing to measure
                    continue
                raise
            edge, names = ("video_insights", _VIDEO_INSIGHTS) if is_video else ("insights", _POST_INSIGHTS)
            insights: dict[str, Any] = {}
            raw: dict[str, Any] = {"object": counts}
            try:
                body = self.graph.get(f"{external_id}/{edge}", token=token, params={"metric": ",".join(names)})
                raw["insights"] = body
                insights = _insight_values(body)
            except PermanentError as exc:
                # Insights are missing for some posts (too new, too few fans): keep the counts.
                raw["insights_error"] = exc.message
            out.append(PostMetrics(
                external_id=external_id,
                impressions=insights.get("total_video_impressions" if is_video else "post_impressions"),
                reach=insights.get("total_video_impressions_unique" if is_video else "post_impressions_unique"),
                likes=_summary_count(counts.get("reactions")),
                comments=_summary_count(counts.get("comments")),
                shares=int((counts.get("shares") or {}).get("count", 0)),
                clicks=insights.get("post_clicks"),
                video_views=insights.get("total_video_views") if is_video else None,
                raw=raw,
            ))
        return out

    def fetch_comments(self, account: Account, external_id: str, cursor: str | None = None) -> CommentPage:
        body = self.graph.get(f"{external_id}/comments", token=account.credentials.access_token, params={
            "fields": _COMMENT_FIELDS, "filter": "stream", "order": "chronological", "limit": 50, "after": cursor,
        })
        comments = []
        for item in body.get("data") or []:
            comment = self._comment(item, external_id)
            if comment is not None:
                comments.append(comment)
        paging = body.get("paging") or {}
        after = (paging.get("cursors") or {}).get("after")
        return CommentPage(comments=comments, next_cursor=after if paging.get("next") and after else None)

    def _comment(self, item: Mapping[str, Any], post_external_id: str) -> Comment | None:
        cid, parent = item.get("id"), (item.get("parent") or {}).get("id")
        if not cid:
            cid, derived_parent = _comment_id_from_permalink(post_external_id, item.get("permalink_url"))
            parent = parent or derived_parent
        if not cid:
            return None
        author = item.get("from") or {}
        return Comment(
            external_id=str(cid),
            post_external_id=post_external_id,
            text=str(item.get("message") or ""),
            author_id=str(author["id"]) if author.get("id") else None,
            author_name=author.get("name"),
            created_at=_parse_time(item.get("created_time")),
            parent_external_id=str(parent) if parent else None,
            raw=dict(item),
        )

    def reply(self, account: Account, comment_external_id: str, text: str) -> Comment:
        body = self.graph.post(f"{comment_external_id}/comments", token=account.credentials.access_token,
                               data={"message": text})
        obj = comment_external_id.split("_", 1)[0] if "_" in comment_external_id else ""
        return Comment(
            external_id=str(body["id"]),
            post_external_id=f"{account.external_id}_{obj}" if obj else "",
            text=text,
            author_id=account.external_id,
            author_name=account.display_name,
            created_at=_parse_time(body.get("created_time")) or datetime.now(UTC),
            parent_external_id=comment_external_id,
            raw=body,
        )

    def close(self) -> None:
        self.graph.close()


def _summary_count(edge: Any) -> int | None:
    if not isinstance(edge, dict):
        return None
    total = (edge.get("summary") or {}).get("total_count")
    return int(total) if isinstance(total, int | str) and str(total).isdigit() else None


def _insight_values(body: Mapping[str, Any]) -> dict[str, int]:
    """``{"data": [{"name", "period", "values": [{"value": n}]}]}`` -> ``{name: n}``
    (the lifetime value; dict values such as reactions by type are summed)."""
    out: dict[str, int] = {}
    for metric in body.get("data") or []:
        values = metric.get("values") or []
        if not values:
            continue
        value = values[-1].get("value")
        if isinstance(value, dict):
            value = sum(v for v in value.values() if isinstance(v, int | float))
        if isinstance(value, int | float):
            out[str(metric.get("name"))] = int(value)
    return out


def _attachments(post: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list((post.get("attachments") or {}).get("data") or [])


def _video_target(post: Mapping[str, Any]) -> str | None:
    for att in _attachments(post):
        if "video" in str(att.get("media_type") or att.get("type") or ""):
            target = (att.get("target") or {}).get("id")
            if target:
                return str(target)
    return None


def _same_media(post: Mapping[str, Any], content: PostContent) -> bool:
    """Does the feed entry carry the kind (and number) of media we sent?"""
    atts = _attachments(post)
    kinds = {str(a.get("media_type") or a.get("type") or "") for a in atts}
    images = [m for m in content.media if m.kind in ("image", "gif")]
    if any(m.kind == "video" for m in content.media):
        return any("video" in k for k in kinds)
    if len(images) == 1:
        return "photo" in kinds
    if images:
        for att in atts:
            subs = (att.get("subattachments") or {}).get("data")
            if subs is not None:
                return len(subs) == len(images)
        return "album" in kinds or "photo" in kinds
    # text or link: no photo, album or video attached
    return not any(k in ("photo", "album") or "video" in k for k in kinds)

