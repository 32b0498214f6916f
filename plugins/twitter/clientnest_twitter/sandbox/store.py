"""The X sandbox's memory: users, tokens, posts, uploads, rate-limit windows.

Everything X would decide about content lives here (t.co shortening, HTML
escaping, duplicates, conversations); the HTTP layer is :mod:`.app`.
"""
from __future__ import annotations

import hashlib
import base64
import secrets
import string
import threading
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ..validation import extract_urls

__all__ = ["Store", "User", "Tweet", "Media", "AccessToken", "RefreshToken", "AuthCode", "SnowflakeIds"]

TWEPOCH_MS = 1288834974657
TOKEN_LIFETIME = timedelta(hours=2)
CODE_LIFETIME = timedelta(seconds=30)
_SLUG = string.ascii_letters + string.digits


def _slug(n: int = 10) -> str:
    return "".join(secrets.choice(_SLUG) for _ in range(n))


def escape(text: str) -> str:
    """X returns ``&``, ``<`` and ``>`` HTML-escaped (``&gt;`` in the recordings)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def x_time(moment: datetime) -> str:
    """X's timestamp format: ``2022-01-28T15:22:07.000Z`` (recorded)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class SnowflakeIds:
    """19-digit, time-ordered ids like X's (timestamp << 22 | sequence)."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            ms = int(self._clock().timestamp() * 1000) - TWEPOCH_MS
            candidate = (ms << 22) | (1 << 12)
            value = max(candidate, self._last + 1)
            self._last = value
            return str(value)


@dataclass
class User:
    id: str
    name: str
    username: str
    created_at: datetime
    profile_image_url: str = ""
    #: followers_count in public_metrics (set with the sandbox's set_account_metrics)
    followers: int = 0


@dataclass
class Tweet:
    id: str
    author_id: str
    text: str
    source_text: str
    created_at: datetime
    conversation_id: str
    urls: list[dict[str, Any]] = field(default_factory=list)
    media_keys: list[str] = field(default_factory=list)
    replied_to: str | None = None
    in_reply_to_user_id: str | None = None
    metrics: dict[str, int] = field(default_factory=dict)
    deleted: bool = False


@dataclass
class Media:
    id: str
    key: str
    type: str  # photo | video | animated_gif
    content_type: str
    total_bytes: int
    owner_id: str
    created_at: datetime
    chunks: dict[int, int] = field(default_factory=dict)
    head: bytes = b""
    state: str = "uploading"  # uploading | pending | in_progress | succeeded | failed
    steps_left: int = 0
    view_count: int = 0

    @property
    def received(self) -> int:
        return sum(self.chunks.values())


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str
    challenge: str
    method: str
    scope: str
    user_id: str
    expires_at: datetime


@dataclass
class AccessToken:
    value: str
    user_id: str
    client_id: str
    scope: str
    expires_at: datetime
    revoked: bool = False


@dataclass
class RefreshToken:
    value: str
    user_id: str
    client_id: str
    scope: str
    used: bool = False


def pkce_ok(verifier: str, challenge: str, method: str) -> bool:
    if method == "plain":
        return secrets.compare_digest(verifier, challenge)
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return secrets.compare_digest(digest, challenge)


class Store:
    """All sandbox state behind one re-entrant lock (the server is threaded)."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.ids = SnowflakeIds(clock)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            created = datetime(2024, 1, 15, 9, 30, tzinfo=UTC)
            self.users: dict[str, User] = {}
            self.owner = self._add_user("1600000000000000001", "ClientNest Sandbox", "clientnest_sandbox", created)
            self.commenter = self._add_user("1600000000000000002", "Sandbox Commenter", "sandbox_commenter", created)
            self.tweets: dict[str, Tweet] = {}
            self.media: dict[str, Media] = {}
            self.codes: dict[str, AuthCode] = {}
            self.access: dict[str, AccessToken] = {}
            self.refresh: dict[str, RefreshToken] = {}
            self.pages: dict[str, tuple[str, int]] = {}
            self.windows: dict[tuple[str, str], list[int]] = {}
            self.daily: dict[str, list[datetime]] = {}

    def _add_user(self, uid: str, name: str, username: str, created: datetime) -> User:
        user = User(uid, name, username, created,
                    profile_image_url=f"https://pbs.twimg.com/profile_images/{uid}/sandbox_normal.png")
        self.users[uid] = user
        return user

    def now(self) -> datetime:
        return self.clock()

    # -- OAuth ------------------------------------------------------------------
    def new_code(self, *, client_id: str, redirect_uri: str, challenge: str, method: str, scope: str) -> str:
        with self.lock:
            code = secrets.token_urlsafe(48)
            self.codes[code] = AuthCode(code, client_id, redirect_uri, challenge, method, scope,
                                        self.owner.id, self.now() + CODE_LIFETIME)
            return code

    def take_code(self, code: str) -> AuthCode | None:
        with self.lock:
            grant = self.codes.pop(code, None)
            if grant is None or grant.expires_at < self.now():
                return None
            return grant

    def issue(self, *, user_id: str, client_id: str, scope: str) -> dict[str, Any]:
        """The token endpoint's answer (recorded shape and key order)."""
        with self.lock:
            access = AccessToken(secrets.token_urlsafe(64), user_id, client_id, scope, self.now() + TOKEN_LIFETIME)
            self.access[access.value] = access
            body: dict[str, Any] = {
                "token_type": "bearer",
                "expires_in": int(TOKEN_LIFETIME.total_seconds()),
                "access_token": access.value,
                "scope": scope,
            }
            if "offline.access" in scope.split():
                refresh = RefreshToken(secrets.token_urlsafe(64), user_id, client_id, scope)
                self.refresh[refresh.value] = refresh
                body["refresh_token"] = refresh.value
            return body

    def rotate(self, value: str, client_id: str) -> dict[str, Any] | None:
        """Use up a refresh token (rotation: it never works twice)."""
        with self.lock:
            old = self.refresh.get(value)
            if old is None or old.used or old.client_id != client_id:
                return None
            old.used = True
            return self.issue(user_id=old.user_id, client_id=old.client_id, scope=old.scope)

    def bearer(self, value: str) -> AccessToken | None:
        with self.lock:
            token = self.access.get(value)
            if token is None or token.revoked or token.expires_at <= self.now():
                return None
            return token

    def expire_tokens(self) -> int:
        """Make every access token issued so far expired (refresh tokens still work)."""
        with self.lock:
            past = self.now() - timedelta(seconds=1)
            for token in self.access.values():
                token.expires_at = min(token.expires_at, past)
            return len(self.access)

    # -- rate limits --------------------------------------------------------------
    def count(self, user_id: str, endpoint: str, limit: int) -> tuple[int, int, int]:
        """Use one request of a 15-minute window: ``(limit, remaining, reset)``;
        ``remaining`` is negative once the window is exhausted."""
        with self.lock:
            now = int(self.now().timestamp())
            window = self.windows.get((user_id, endpoint))
            if window is None or window[0] <= now:
                window = [now + 15 * 60, 0]
                self.windows[(user_id, endpoint)] = window
            window[1] += 1
            return limit, limit - window[1], window[0]

    def daily_posts(self, user_id: str) -> list[datetime]:
        with self.lock:
            since = self.now() - timedelta(hours=24)
            recent = [t for t in self.daily.get(user_id, []) if t > since]
            self.daily[user_id] = recent
            return recent

    # -- posts ----------------------------------------------------------------------
    @staticmethod
    def dedupe_key(text: str) -> str:
        return unicodedata.normalize("NFC", text).strip()

    def is_duplicate(self, author_id: str, text: str) -> bool:
        key = self.dedupe_key(text)
        if not key:
            return False
        with self.lock:
            return any(t.author_id == author_id and not t.deleted and t.source_text == key for t in self.tweets.values())

    def create_tweet(
        self,
        author: User,
        text: str,
        *,
        media: Iterable[Media] = (),
        reply_to: Tweet | None = None,
    ) -> Tweet:
        with self.lock:
            tid = self.ids.next()
            media = list(media)
            stored, urls = self._shorten(text.strip())
            if media:
                slug = _slug()
                link = f"https://t.co/{slug}"
                start = len(stored) + (1 if stored else 0)
                stored = f"{stored} {link}" if stored else link
                kind = "video" if media[0].type == "video" else "photo"
                urls.append({
                    "start": start, "end": start + len(link), "url": link,
                    "expanded_url": f"https://x.com/{author.username}/status/{tid}/{kind}/1",
                    "display_url": f"pic.x.com/{slug}", "media_key": media[0].key,
                })
            tweet = Tweet(
                id=tid, author_id=author.id, text=stored, source_text=self.dedupe_key(text),
                created_at=self.now(), conversation_id=reply_to.conversation_id if reply_to else tid,
                urls=urls, media_keys=[m.key for m in media],
                replied_to=reply_to.id if reply_to else None,
                in_reply_to_user_id=reply_to.author_id if reply_to else None,
                metrics={k: 0 for k in ("retweet_count", "like_count", "quote_count", "bookmark_count",
                                        "impression_count", "url_link_clicks", "user_profile_clicks", "reply_extra")},
            )
            self.tweets[tid] = tweet
            self.daily.setdefault(author.id, []).append(tweet.created_at)
            return tweet

    @staticmethod
    def _shorten(text: str) -> tuple[str, list[dict[str, Any]]]:
        """t.co every URL twitter-text finds; escape the rest; keep entity offsets
        (code points into the returned text)."""
        out: list[str] = []
        urls: list[dict[str, Any]] = []
        length = 0
        pos = 0
        for found in extract_urls(text):
            start, end = found["indices"]
            literal = escape(text[pos:start])
            out.append(literal)
            length += len(literal)
            link = f"https://t.co/{_slug()}"
            written = found["url"]
            expanded = written if "://" in written else f"http://{written}"
            display = written.split("://", 1)[-1]
            if len(display) > 26:
                display = display[:25] + "\u2026"
            urls.append({"start": length, "end": length + len(link), "url": link,
                         "expanded_url": expanded, "display_url": display})
            out.append(link)
            length += len(link)
            pos = end
        out.append(escape(text[pos:]))
        return "".join(out), urls

    def live(self, tweet_id: str) -> Tweet | None:
        with self.lock:
            tweet = self.tweets.get(tweet_id)
            return tweet if tweet is not None and not tweet.deleted else None

    def replies_to(self, tweet_id: str) -> int:
        with self.lock:
            return sum(1 for t in self.tweets.values() if t.replied_to == tweet_id and not t.deleted)

    def page_token(self, query_key: str, offset: int) -> str:
        with self.lock:
            token = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(45))
            self.pages[token] = (query_key, offset)
            return token

    def page_offset(self, token: str, query_key: str) -> int | None:
        with self.lock:
            entry = self.pages.get(token)
            if entry is None or entry[0] != query_key:
                return None
            return entry[1]

    # -- media ----------------------------------------------------------------------
    def new_media(self, owner_id: str, content_type: str, total_bytes: int) -> Media:
        with self.lock:
            mid = self.ids.next()
            if content_type.startswith("video/"):
                kind, prefix = "video", "13"
            elif content_type == "image/gif":
                kind, prefix = "animated_gif", "16"
            else:
                kind, prefix = "photo", "3"
            media = Media(mid, f"{prefix}_{mid}", kind, content_type, total_bytes, owner_id, self.now())
            self.media[mid] = media
            return media
