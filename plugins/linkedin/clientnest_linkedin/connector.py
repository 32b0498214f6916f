"""The LinkedIn connector: members and the organizations they administer.

It speaks LinkedIn's versioned REST API (``/rest/...`` with ``LinkedIn-Version``
and ``X-Restli-Protocol-Version: 2.0.0``) for posts, media, comments and
statistics, ``/v2/userinfo`` (or ``/v2/me``) and ``/v2/organizationAcls`` to find
who the member may post as, and the OAuth 2 endpoints of www.linkedin.com.
Every failure is turned into a :mod:`clientnest.errors` class by
:mod:`clientnest_linkedin.errors`, nowhere else.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

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
    AuthError,
    ConfigError,
    NotSentError,
    PermanentError,
    PlatformError,
    TransientError,
)

from . import account_metrics, little, media, metrics, urns
from .client import LinkedInClient
from .errors import DEFAULT_RETRY_SECONDS, PLATFORM, classify_oauth_response
from .versions import SUPPORT_MONTHS, default_api_version, is_active, month_of

__all__ = ["LinkedInConnector", "DEFAULT_SCOPES", "TOKEN_LIFETIME"]

log = logging.getLogger(__name__)

#: what a self-serve app gets with "Sign In with LinkedIn using OpenID Connect",
#: "Share on LinkedIn" and the "Community Management API" products
DEFAULT_SCOPES = (
    "openid profile w_member_social r_organization_social w_organization_social rw_organization_admin"
)
#: LinkedIn access tokens live 60 days; used when a token answer omits expires_in
TOKEN_LIFETIME = timedelta(days=60)

_LOOKUP_PAGE = 50
_COMMENT_PAGE = 50
_STATS_CHUNK = 50


def _ms(value: Any) -> datetime | None:
    """LinkedIn's epoch milliseconds as an aware UTC datetime."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    return None


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _next_start(paging: Mapping[str, Any], start: int, got: int, asked: int) -> int | None:
    """Where the next page starts, or ``None`` at the end.

    LinkedIn's ``paging.total`` is not reliable for feeds (the recorded
    ``/rest/posts`` answer claims 288139 and then stops), so the ``next`` link
    wins; without links, a short page is the last one.
    """
    for link in paging.get("links") or []:
        if isinstance(link, Mapping) and link.get("rel") == "next":
            qs = parse_qs(urlsplit(str(link.get("href", ""))).query)
            try:
                nxt = int(qs.get("start", [""])[0])
            except ValueError:
                continue
            return nxt if nxt > start else None
    if got == 0:
        return None
    total = _int(paging.get("total"))
    if total is not None:
        return start + got if start + got < total else None
    return start + got if got >= asked else None


class LinkedInConnector(SocialConnector):
    """Publishes as a LinkedIn member (``urn:li:person``) or organization
    (``urn:li:organization``); one :class:`~clientnest.Account` per author."""

    name = "linkedin"
    display_name = "LinkedIn"
    version = "0.1.0"
    capabilities = frozenset({
        Capability.OAUTH,
        Capability.REFRESH,
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
    })
    config_schema = ConfigSchema((
        ConfigField("client_id", needed_for="connecting accounts", help="Client ID of the app registered at developer.linkedin.com"),
        ConfigField("client_secret", needed_for="connecting accounts", secret=True, help="Primary Client Secret of that app"),
        ConfigField("api_base", default="https://api.linkedin.com",
                    help="base URL of the LinkedIn API (a proxy or the sandbox)"),
        ConfigField("oauth_base", default="https://www.linkedin.com",
                    help="base URL of LinkedIn's OAuth pages and post permalinks"),
        ConfigField("api_version",
                    help="LinkedIn-Version header, YYYYMM; unset: the month two months back, moving "
                    "with the calendar (LinkedIn retires a version about a year after its release)"),
        ConfigField("scopes", default=DEFAULT_SCOPES, help="space-separated OAuth scopes to request"),
        ConfigField("timeout", float, default=30.0, help="seconds to wait for an API answer"),
        ConfigField("upload_timeout", float, default=300.0, help="seconds to wait for a media upload"),
        ConfigField("rate_limit_retry_seconds", int, default=DEFAULT_RETRY_SECONDS,
                    help="retry delay after a 429 that carries no Retry-After"),
        ConfigField("video_wait_seconds", float, default=600.0,
                    help="how long to wait for an uploaded video to become AVAILABLE"),
        ConfigField("video_poll_seconds", float, default=5.0, help="interval between video status checks"),
        ConfigField("lookup_max_pages", int, default=20,
                    help="pages of 50 posts the reconciliation lookup may read"),
        ConfigField("clock_skew_seconds", int, default=30,
                    help="tolerance between this host's clock and LinkedIn's in the lookup"),
    ))
    rules = PlatformRules(
        max_length=3000,
        max_media=20,
        max_images=20,
        max_videos=1,
        mixed_media=False,
        image_types=("image/jpeg", "image/png", "image/gif"),
        video_types=("video/mp4",),
        max_image_bytes=36 * 1024 * 1024,
        max_video_bytes=500 * 1024 * 1024,
        first_comment=True,
        notes="3,000 characters; 1 image or video, or 2 to 20 images; a link becomes an article card "
        "when there is no media; #hashtags stay clickable; tokens last 60 days.",
    )

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        c = self.config
        self.api_base = str(c.get("api_base") or "https://api.linkedin.com").rstrip("/")
        self.oauth_base = str(c.get("oauth_base") or "https://www.linkedin.com").rstrip("/")
        pinned = str(c.get("api_version") or "").strip() or None
        if pinned is not None:
            if month_of(pinned) is None:
                raise ConfigError(f"plugin 'linkedin': api_version must look like YYYYMM (e.g. "
                                  f"{default_api_version()}), got {pinned!r}")
            if not is_active(pinned):
                log.warning("LinkedIn-Version %s is outside the %d months LinkedIn serves a version: "
                            "LinkedIn will refuse every call (426); unset CLIENTNEST_LINKEDIN_API_VERSION "
                            "to follow the calendar", pinned, SUPPORT_MONTHS)
        self.scopes = " ".join(str(c.get("scopes") or DEFAULT_SCOPES).replace(",", " ").split())
        timeout = float(c.get("timeout") or 30.0)
        self.upload_timeout = float(c.get("upload_timeout") or 300.0)
        self.video_wait = float(c.get("video_wait_seconds") if c.get("video_wait_seconds") is not None else 600.0)
        self.video_poll = float(c.get("video_poll_seconds") if c.get("video_poll_seconds") is not None else 5.0)
        self.lookup_max_pages = int(c.get("lookup_max_pages") or 20)
        self.clock_skew = timedelta(seconds=int(c.get("clock_skew_seconds") or 0))
        self.client = LinkedInClient(
            self.api_base, pinned, timeout,
            int(c.get("rate_limit_retry_seconds") or DEFAULT_RETRY_SECONDS))

    def permalink(self, urn: str) -> str:
        """The post's page (it works for ``share`` and ``ugcPost`` URNs alike)."""
        return f"{self.oauth_base}/feed/update/{urn}/"

    # -- connecting ---------------------------------------------------------------
    def _client(self) -> tuple[str, str]:
        cid, secret = self.config.get("client_id"), self.config.get("client_secret")
        if not cid or not secret:
            raise ConfigError("plugin 'linkedin': client_id and client_secret must be set to connect accounts")
        return str(cid), str(secret)

    def authorization_url(self, redirect_uri: str, state: str) -> AuthorizationRequest:
        cid, _ = self._client()
        query = "&".join(
            f"{k}={quote(v, safe='')}"
            for k, v in (
                ("response_type", "code"),
                ("client_id", cid),
                ("redirect_uri", redirect_uri),
                ("state", state),
                ("scope", self.scopes),
            )
        )
        return AuthorizationRequest(url=f"{self.oauth_base}/oauth/v2/authorization?{query}")

    def _token_request(self, form: Mapping[str, str]) -> Credentials:
        cid, secret = self._client()
        response = self.client.post_form(f"{self.oauth_base}/oauth/v2/accessToken",
                                         {**form, "client_id": cid, "client_secret": secret})
        if not response.is_success:
            raise classify_oauth_response(response)
        data = self.client.json(response)
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise AuthError("LinkedIn's token answer holds no access_token", platform=PLATFORM,
                            status=response.status_code)
        now = datetime.now(UTC)
        lifetime = _int(data.get("expires_in"))
        extra: dict[str, Any] = {"scope": " ".join(str(data.get("scope") or "").replace(",", " ").split())}
        rt_life = _int(data.get("refresh_token_expires_in"))
        if rt_life is not None:
            extra["refresh_token_expires_at"] = (now + timedelta(seconds=rt_life)).isoformat()
        return Credentials(
            access_token=token,
            refresh_token=data.get("refresh_token") or None,
            expires_at=now + (timedelta(seconds=lifetime) if lifetime is not None else TOKEN_LIFETIME),
            extra=extra,
        )

    def complete_authorization(self, code: str, redirect_uri: str, verifier: str | None) -> list[Account]:
        creds = self._token_request({"grant_type": "authorization_code", "code": code,
                                     "redirect_uri": redirect_uri})
        return self._accounts(creds)

    def connect_with_token(self, credentials: Mapping[str, Any]) -> list[Account]:
        token = credentials.get("access_token")
        if not isinstance(token, str) or not token.strip():
            raise AuthError("an access_token is required", platform=PLATFORM)
        expires_at = credentials.get("expires_at")
        if expires_at and not isinstance(expires_at, datetime):
            try:
                expires_at = datetime.fromisoformat(str(expires_at))
            except ValueError:
                raise PermanentError(f"expires_at must be an ISO 8601 time, got {expires_at!r}",
                                     platform=PLATFORM) from None
        creds = Credentials(
            access_token=token.strip(),
            refresh_token=credentials.get("refresh_token") or None,
            expires_at=_utc(expires_at) if expires_at else None,
            extra={"scope": " ".join(str(credentials.get("scope") or "").replace(",", " ").split())},
        )
        self._introspect(creds)
        return self._accounts(creds)

    def _introspect(self, creds: Credentials) -> None:
        """Learn a pasted token's expiry and scopes, when the app's credentials
        allow it. A refusal of the introspection itself is not the token's
        fault; the profile call that follows still checks the token."""
        cid, secret = self.config.get("client_id"), self.config.get("client_secret")
        if not cid or not secret:
            return
        try:
            response = self.client.post_form(f"{self.oauth_base}/oauth/v2/introspectToken",
                                             {"client_id": str(cid), "client_secret": str(secret),
                                              "token": creds.access_token})
        except TransientError as exc:
            log.warning("LinkedIn token introspection failed: %s", exc.message)
            return
        if not response.is_success:
            log.warning("LinkedIn token introspection answered HTTP %s", response.status_code)
            return
        data = self.client.json(response)
        if data.get("active") is False:
            raise AuthError(f"LinkedIn says this token is not active ({data.get('status', 'inactive')})",
                            platform=PLATFORM, status=response.status_code)
        exp = _int(data.get("expires_at"))
        if exp is not None and creds.expires_at is None:
            creds.expires_at = datetime.fromtimestamp(exp, UTC)
        if data.get("scope") and not creds.extra.get("scope"):
            creds.extra["scope"] = " ".join(str(data["scope"]).replace(",", " ").split())

    def refresh(self, account: Account) -> Credentials:
        old = account.credentials
        if not old.refresh_token:
            raise AuthError(
                "LinkedIn gave this app no refresh token (programmatic refresh needs LinkedIn's approval); "
                "the member must connect again before the token expires",
                platform=PLATFORM,
            )
        creds = self._token_request({"grant_type": "refresh_token", "refresh_token": old.refresh_token})
        if not creds.refresh_token:  # LinkedIn keeps the same refresh token until it expires
            creds.refresh_token = old.refresh_token
            if "refresh_token_expires_at" in old.extra:
                creds.extra.setdefault("refresh_token_expires_at", old.extra["refresh_token_expires_at"])
        for key, value in old.extra.items():
            creds.extra.setdefault(key, value)
        return creds

    def _member(self, token: str) -> tuple[str, str, dict[str, Any]]:
        """The member's URN, name and profile extras: OpenID ``userinfo``
        first, ``/v2/me`` for apps without the OpenID product."""
        try:
            data = self.client.json(self.client.send("GET", self.client.api("/v2/userinfo"), token))
            sub = data.get("sub")
            if not isinstance(sub, str) or not sub:
                raise PermanentError("LinkedIn's userinfo holds no sub", platform=PLATFORM)
            name = data.get("name") or " ".join(
                p for p in (data.get("given_name"), data.get("family_name")) if p)
            extra = {k: data[k] for k in ("picture", "locale") if data.get(k)}
            return f"urn:li:person:{sub}", str(name or sub), extra
        except PermanentError as exc:
            if exc.status not in (403, 404):
                raise
            log.info("LinkedIn userinfo refused (%s); trying /v2/me", exc.status)
        data = self.client.json(self.client.send("GET", self.client.api("/v2/me"), token))
        mid = data.get("id")
        if not isinstance(mid, str) or not mid:
            raise PermanentError("LinkedIn's /v2/me holds no id", platform=PLATFORM)
        name = " ".join(p for p in (data.get("localizedFirstName"), data.get("localizedLastName")) if p)
        return f"urn:li:person:{mid}", name or mid, {}

    def administered_organizations(self, token: str) -> list[dict[str, Any]]:
        """Organizations the member is an approved ADMINISTRATOR of, as
        ``{"urn", "id", "name", "vanity_name"}``; empty when the token lacks the
        organization scopes (LinkedIn answers 403 then)."""
        projection = quote("(paging,elements(*(role,state,organization,"
                           "organization~(id,localizedName,vanityName))))", safe="")
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        start = 0
        while True:
            url = self.client.api("/v2/organizationAcls", (
                ("q", "roleAssignee"), ("role", "ADMINISTRATOR"), ("state", "APPROVED"),
                ("projection", projection), ("start", str(start)), ("count", "100"),
            ))
            try:
                data = self.client.json(self.client.send("GET", url, token))
            except PermanentError as exc:
                log.info("LinkedIn organizationAcls refused (%s): member account only", exc.status)
                return out
            elements = [e for e in data.get("elements") or [] if isinstance(e, Mapping)]
            for el in elements:
                urn = el.get("organization")
                if not isinstance(urn, str) or urn in seen:
                    continue
                if el.get("role", "ADMINISTRATOR") != "ADMINISTRATOR" or el.get("state", "APPROVED") != "APPROVED":
                    continue
                seen.add(urn)
                org = el.get("organization~") or {}
                out.append({
                    "urn": urn,
                    "id": urn.rsplit(":", 1)[-1],
                    "name": org.get("localizedName") or urn,
                    "vanity_name": org.get("vanityName"),
                })
            nxt = _next_start(data.get("paging") or {}, start, len(elements), 100)
            if nxt is None:
                return out
            start = nxt

    def _accounts(self, creds: Credentials) -> list[Account]:
        member_urn, name, extra = self._member(creds.access_token)
        creds.extra["member_urn"] = member_urn
        accounts = [Account(
            external_id=member_urn,
            credentials=creds,
            display_name=name,
            username=None,
            kind="person",
            extra={"member_urn": member_urn, **extra},
        )]
        for org in self.administered_organizations(creds.access_token):
            accounts.append(Account(
                external_id=org["urn"],
                credentials=replace(creds, extra=dict(creds.extra)),
                display_name=org["name"],
                username=org["vanity_name"],
                kind="organization",
                extra={"member_urn": member_urn, "role": "ADMINISTRATOR"},
            ))
        return accounts

    # -- publishing ---------------------------------------------------------------
    def commentary(self, content: PostContent) -> str:
        """The ``commentary`` sent for ``content`` (little text). A link that
        cannot be an article card (the post has media) is added to the text."""
        text = content.text
        if content.link and content.media and content.link not in text:
            text = f"{text.rstrip()}\n\n{content.link}" if text.strip() else content.link
        return little.escape(text)

    @staticmethod
    def _article_title(link: str) -> str:
        host = urlsplit(link).hostname or link
        return host.removeprefix("www.")

    def _bytes(self, item: MediaItem) -> bytes:
        if item.read is None:
            raise PermanentError(f"media {item.id} has no content to upload", platform=PLATFORM)
        return item.read()

    def _media_content(
        self, token: str, author: str, content: PostContent
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """Upload the media; the post's ``content`` and the ids for ``extra_ids``."""
        images = [m for m in content.media if m.kind in ("image", "gif")]
        videos = [m for m in content.media if m.kind == "video"]
        if videos and (images or len(videos) > 1):
            raise PermanentError("LinkedIn takes one video, alone, per post", platform=PLATFORM)
        if len(images) > self.rules.max_images:
            raise PermanentError(f"LinkedIn takes at most {self.rules.max_images} images per post",
                                 platform=PLATFORM)
        if videos:
            video = media.upload_video(self.client, token, author, self._bytes(videos[0]),
                                       timeout=self.upload_timeout, wait_seconds=self.video_wait,
                                       poll_seconds=self.video_poll)
            return {"media": {"id": video}}, {"video": video}
        if len(images) == 1:
            image = media.upload_image(self.client, token, author, self._bytes(images[0]),
                                       timeout=self.upload_timeout)
            return {"media": {"id": image}}, {"images": [image]}
        if images:
            ids = [media.upload_image(self.client, token, author, self._bytes(m), timeout=self.upload_timeout)
                   for m in images]
            return {"multiImage": {"images": [{"id": i} for i in ids]}}, {"images": ids}
        if content.link:
            return {"article": {"source": content.link, "title": self._article_title(content.link)}}, {}
        return None, {}

    def publish(self, account: Account, content: PostContent) -> PublishResult:
        token = account.credentials.access_token
        author = account.external_id
        commentary = self.commentary(content)
        try:
            attached, extra_ids = self._media_content(token, author, content)
        except AmbiguousError as exc:
            # Only media was in flight: the post itself was never sent.
            raise NotSentError(f"media upload failed before the post was sent: {exc.message}",
                               platform=PLATFORM, status=exc.status, code=exc.code,
                               retry_at=exc.retry_at) from exc
        body: dict[str, Any] = {
            "author": author,
            "commentary": commentary,
            "visibility": "PUBLIC",
            "lifecycleState": "PUBLISHED",
            "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [],
                             "thirdPartyDistributionChannels": []},
        }
        if attached:
            body["content"] = attached
        response = self.client.send("POST", self.client.api("/rest/posts"), token, json=body)
        urn = response.headers.get("x-restli-id") or ""
        if not urn:
            location = response.headers.get("location") or ""
            urn = unquote(location.rstrip("/").rsplit("/", 1)[-1]) if location else ""
        if not urn.startswith("urn:li:"):
            raise AmbiguousError("LinkedIn accepted the post but gave no x-restli-id",
                                 platform=PLATFORM, status=response.status_code)
        result = PublishResult(
            external_id=urn,
            url=self.permalink(urn),
            published_at=datetime.now(UTC),
            extra_ids=dict(extra_ids),
            raw={"status": response.status_code, "x-restli-id": urn,
                 "location": response.headers.get("location")},
        )
        if content.first_comment:
            # The post exists whatever happens now: a failed comment is noted,
            # never raised (raising would make the engine publish again).
            try:
                comment = self._create_comment(token, author, urn, urn, content.first_comment, None)
                result.extra_ids["first_comment"] = comment.external_id
            except PlatformError as exc:
                log.warning("LinkedIn first comment on %s failed: %s", urn, exc.message)
                result.extra_ids["first_comment_error"] = exc.to_dict()
        return result

    # -- reconciliation -------------------------------------------------------------
    def _shape_of_content(self, content: PostContent) -> tuple[Any, ...]:
        images = sum(1 for m in content.media if m.kind in ("image", "gif"))
        if any(m.kind == "video" for m in content.media):
            return ("video",)
        if images:
            return ("image", images)
        if content.link:
            return ("article", content.link.rstrip("/"))
        return ("text",)

    @staticmethod
    def _shape_of_post(post: Mapping[str, Any]) -> tuple[Any, ...]:
        c = post.get("content") or {}
        if "multiImage" in c:
            return ("image", len((c["multiImage"] or {}).get("images") or []))
        if "media" in c:
            mid = str((c["media"] or {}).get("id", ""))
            return ("video",) if urns.kind_of(mid) == "video" else ("image", 1)
        if "article" in c:
            return ("article", str((c["article"] or {}).get("source", "")).rstrip("/"))
        if c:
            return ("other", tuple(sorted(c)))
        return ("text",)

    def can_look_up(self, account: Account) -> bool:
        """Organizations: yes. Members: only with ``r_member_social``, which
        LinkedIn grants to few apps; without it LinkedIn refuses to list a
        member's posts. A token whose scopes we never learnt is tried (a
        refusal then ends the same way)."""
        if not urns.is_person(account.external_id):
            return True
        granted = str(account.credentials.extra.get("scope") or "").split()
        return not granted or "r_member_social" in granted

    def profile_url(self, account: Account) -> str | None:
        """The organization's posts page; for a member, LinkedIn's ``/in/me``
        address of the signed-in member's own activity (LinkedIn gives apps
        no member's public profile name), which is what the member who
        connected the account sees as theirs."""
        if urns.is_person(account.external_id):
            return f"{self.oauth_base}/in/me/recent-activity/all/"
        org = account.username or account.external_id.rsplit(":", 1)[-1]
        return f"{self.oauth_base}/company/{quote(org, safe='')}/posts/"

    def find_published(self, account: Account, content: PostContent, since: datetime) -> PublishResult | None:
        """The earliest post of this author created at or after ``since`` with
        this exact commentary (compared as sent, or as plain text when LinkedIn
        rewrote hashtags into templates) and the same kind of content.

        Pages are read newest first (``sortBy=CREATED``); reading stops at the
        first post whose ``createdAt`` and ``lastModifiedAt`` are both older
        than ``since``, which is a safe place to stop whichever order LinkedIn
        actually used (its default order is by last modification).
        """
        token = account.credentials.access_token
        author = account.external_id
        want = self.commentary(content)
        want_plain = little.to_plain(want)
        shape = self._shape_of_content(content)
        floor = int((_utc(since) - self.clock_skew).timestamp() * 1000)
        best: Mapping[str, Any] | None = None
        start = 0
        for _ in range(self.lookup_max_pages):
            url = self.client.api("/rest/posts", (
                ("q", "author"), ("author", urns.encode(author)), ("sortBy", "CREATED"),
                ("count", str(_LOOKUP_PAGE)), ("start", str(start)),
            ))
            try:
                data = self.client.json(self.client.send("GET", url, token))
            except PermanentError as exc:
                if exc.status == 400 and urns.is_person(author):
                    raise PermanentError(
                        f"LinkedIn will not list this member's posts, so the lookup cannot tell whether "
                        f"the post went out (the app needs the r_member_social permission): {exc.message}",
                        platform=PLATFORM, status=exc.status, code=exc.code, raw=exc.raw) from exc
                raise
            elements = [e for e in data.get("elements") or [] if isinstance(e, Mapping)]
            reached_floor = False
            for post in elements:
                created = _int(post.get("createdAt")) or _int(post.get("publishedAt")) or 0
                modified = _int(post.get("lastModifiedAt")) or created
                if max(created, modified) < floor:
                    reached_floor = True
                    break
                if created < floor or post.get("lifecycleState") == "DELETED":
                    continue
                got = post.get("commentary") or ""
                if got != want and little.to_plain(got) != want_plain:
                    continue
                if self._shape_of_post(post) != shape:
                    continue
                if best is None or created < (_int(best.get("createdAt")) or 0):
                    best = post
            if reached_floor:
                break
            nxt = _next_start(data.get("paging") or {}, start, len(elements), _LOOKUP_PAGE)
            if nxt is None:
                break
            start = nxt
        else:
            if best is None:
                raise AmbiguousError(
                    f"the lookup read {self.lookup_max_pages} pages of posts without reaching {since.isoformat()}",
                    platform=PLATFORM)
        if best is None:
            return None
        urn = str(best["id"])
        return PublishResult(external_id=urn, url=self.permalink(urn),
                             published_at=_ms(best.get("publishedAt") or best.get("createdAt")), raw=dict(best))

    def delete(self, account: Account, external_id: str) -> None:
        try:
            self.client.send("DELETE", self.client.api(f"/rest/posts/{urns.encode(external_id)}"),
                       account.credentials.access_token, headers={"X-RestLi-Method": "DELETE"})
        except PermanentError as exc:
            if exc.status == 404:  # already gone: deleting is done
                return
            raise

    # -- metrics ------------------------------------------------------------------------
    def fetch_account_metrics(self, account: Account) -> AccountMetrics:
        if urns.is_organization(account.external_id):
            return account_metrics.organization_figures(self.client, account.credentials.access_token,
                                                        account.external_id)
        return account_metrics.member_figures(account.external_id)

    def fetch_metrics(self, account: Account, external_ids: Sequence[str]) -> list[PostMetrics]:
        token = account.credentials.access_token
        ids = list(dict.fromkeys(external_ids))
        found: dict[str, PostMetrics] = {}
        for i in range(0, len(ids), _STATS_CHUNK):
            chunk = ids[i:i + _STATS_CHUNK]
            if urns.is_organization(account.external_id):
                found.update(metrics.organization_metrics(self.client, token, account.external_id, chunk))
            else:
                found.update(metrics.member_metrics(self.client, token, chunk))
        return [found[i] for i in ids if i in found]

    # -- comments ---------------------------------------------------------------------------
    @staticmethod
    def _comment_urn(el: Mapping[str, Any], target: str) -> str:
        urn = el.get("commentUrn") or el.get("$URN")
        if isinstance(urn, str) and urn:
            return urn
        return f"urn:li:comment:({el.get('object') or target},{el.get('id')})"

    def _to_comment(self, el: Mapping[str, Any], post_urn: str) -> Comment:
        message = el.get("message") or {}
        return Comment(
            external_id=self._comment_urn(el, post_urn),
            post_external_id=post_urn,
            text=str(message.get("text") or ""),
            author_id=el.get("actor"),
            author_name=None,
            created_at=_ms((el.get("created") or {}).get("time")),
            parent_external_id=el.get("parentComment"),
            raw=dict(el),
        )

    def _comments(self, token: str, target: str, start: int, count: int) -> tuple[list[Mapping[str, Any]], int | None]:
        url = self.client.api(f"/rest/socialActions/{urns.encode(target)}/comments",
                        (("start", str(start)), ("count", str(count))))
        data = self.client.json(self.client.send("GET", url, token))
        elements = [e for e in data.get("elements") or [] if isinstance(e, Mapping)]
        return elements, _next_start(data.get("paging") or {}, start, len(elements), count)

    def fetch_comments(self, account: Account, external_id: str, cursor: str | None = None) -> CommentPage:
        """One page of top-level comments, each followed by its replies (the
        first 100 of them)."""
        token = account.credentials.access_token
        try:
            start = int(cursor) if cursor else 0
        except ValueError:
            raise PermanentError(f"bad comments cursor {cursor!r}", platform=PLATFORM) from None
        elements, nxt = self._comments(token, external_id, start, _COMMENT_PAGE)
        out: list[Comment] = []
        for el in elements:
            comment = self._to_comment(el, external_id)
            out.append(comment)
            summary = el.get("commentsSummary") or {}
            replies = _int(summary.get("totalFirstLevelComments")) or _int(summary.get("aggregatedTotalComments"))
            if replies:
                nested, _ = self._comments(token, comment.external_id, 0, 100)
                for r in nested:
                    reply = self._to_comment(r, external_id)
                    reply.parent_external_id = reply.parent_external_id or comment.external_id
                    out.append(reply)
        return CommentPage(comments=out, next_cursor=str(nxt) if nxt is not None else None)

    def _create_comment(self, token: str, actor: str, target: str, obj: str, text: str,
                        parent: str | None) -> Comment:
        body: dict[str, Any] = {"actor": actor, "object": obj, "message": {"text": text}}
        if parent:
            body["parentComment"] = parent
        response = self.client.send("POST", self.client.api(f"/rest/socialActions/{urns.encode(target)}/comments"),
                              token, json=body)
        el = self.client.json(response)
        if not el:
            rid = unquote(response.headers.get("x-restli-id") or "")
            if not rid:
                raise AmbiguousError("LinkedIn accepted the comment but gave no id",
                                     platform=PLATFORM, status=response.status_code)
            el = {**body, "commentUrn": rid if rid.startswith("urn:") else f"urn:li:comment:({obj},{rid})"}
        comment = self._to_comment(el, obj)
        comment.parent_external_id = comment.parent_external_id or parent
        return comment

    def reply(self, account: Account, comment_external_id: str, text: str) -> Comment:
        parts = urns.comment_parts(comment_external_id)
        if parts is None:
            raise PermanentError(f"{comment_external_id!r} is not a LinkedIn comment URN", platform=PLATFORM)
        return self._create_comment(account.credentials.access_token, account.external_id,
                                    comment_external_id, parts[0], text, comment_external_id)

    # -- sandbox ------------------------------------------------------------------------
    @classmethod
    def sandbox(cls) -> Any:
        from .sandbox import LinkedInSandbox

        return LinkedInSandbox()

    @classmethod
    def sandbox_config(cls, base_url: str) -> dict[str, Any]:
        from .sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET

        base = base_url.rstrip("/")
        return {
            "api_base": base,
            "oauth_base": base,
            "client_id": SANDBOX_CLIENT_ID,
            "client_secret": SANDBOX_CLIENT_SECRET,
            # the sandbox app "has" the restricted member-posts permission, so
            # the reconciliation lookup works for members there too
            "scopes": DEFAULT_SCOPES + " r_member_social",
            "video_poll_seconds": 0.2,
        }

    def close(self) -> None:
        self.client.close()
