"""What the Instagram sandbox remembers: a Facebook user, their Pages (one
with a linked Instagram professional account, one without), tokens, media
containers, published media and comments. Ids follow the superface
recordings (Page ``110658944785122`` linked to ``17841450841275119``)."""
from __future__ import annotations

import hashlib
import itertools
import secrets
import string
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["InstagramState", "TokenInfo", "graph_time", "SANDBOX_USER", "SANDBOX_PAGES", "SANDBOX_IG_USERS",
           "PUBLISH_QUOTA"]

SANDBOX_USER = {"id": "100089412345678", "name": "Sandbox User"}
SANDBOX_IG_USERS = (
    {"id": "17841450841275119", "username": "sftest23894729", "name": "SF Test",
     "biography": "ClientNest sandbox account", "followers_count": 1280, "follows_count": 12,
     "profile_picture_url": "https://scontent.cdninstagram.com/v/t51.2885-15/sandbox_profile.jpg"},
)
SANDBOX_PAGES = (
    {"id": "110658944785122", "name": "Sf-test", "ig": "17841450841275119"},
    {"id": "105026452268579", "name": "My page", "ig": None},
)
#: API-published posts per rolling 24 hours (content_publishing_limit)
PUBLISH_QUOTA = 50
FAN = {"id": "17841400000000001", "username": "sandbox_fan"}
FINISHED = "Finished: Media has been uploaded and it is ready to be published."
IN_PROGRESS = "In Progress: Media is still being processed."


def graph_time(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


@dataclass
class TokenInfo:
    kind: str  # "user" | "page"
    subject: str
    expires_at: datetime | None = None
    long_lived: bool = False

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


@dataclass
class InstagramState:
    """All sandbox data; callers hold :attr:`lock`."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    #: status polls a video container answers IN_PROGRESS before FINISHED
    processing_polls: int = 2

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self._ids = itertools.count(17918417666257115, 104729)
            self.user = dict(SANDBOX_USER)
            self.pages = {p["id"]: dict(p) for p in SANDBOX_PAGES}
            self.ig_users = {u["id"]: dict(u) for u in SANDBOX_IG_USERS}
            self.tokens: dict[str, TokenInfo] = {}
            self._page_tokens: dict[tuple[str, int], str] = {}
            self.codes: dict[str, dict[str, Any]] = {}
            self.containers: dict[str, dict[str, Any]] = {}
            self.media: dict[str, dict[str, Any]] = {}
            self.comments: dict[str, dict[str, Any]] = {}
            self.metrics: dict[str, dict[str, int]] = {}

    def new_id(self) -> str:
        return str(next(self._ids))

    def issue_token(self, kind: str, subject: str, *, ttl: int | None, long_lived: bool = False) -> str:
        token = "EAAS" + secrets.token_urlsafe(48).replace("-", "A").replace("_", "B")
        expires = datetime.now(UTC) + timedelta(seconds=ttl) if ttl else None
        self.tokens[token] = TokenInfo(kind, subject, expires, long_lived)
        return token

    def page_token(self, page_id: str, user_token: TokenInfo) -> str:
        if user_token.kind == "page":
            return next(t for t, i in self.tokens.items() if i is user_token)
        key = (page_id, id(user_token))
        if key not in self._page_tokens:
            ttl = None
            if not user_token.long_lived and user_token.expires_at is not None:
                ttl = max(1, int((user_token.expires_at - datetime.now(UTC)).total_seconds()))
            self._page_tokens[key] = self.issue_token("page", page_id, ttl=ttl, long_lived=user_token.long_lived)
        return self._page_tokens[key]

    def can_act_for(self, info: TokenInfo, ig_id: str) -> bool:
        """A user token manages every Page's account; a Page token only its own."""
        if info.kind == "user":
            return True
        return self.pages.get(info.subject, {}).get("ig") == ig_id

    def object_kind(self, oid: str) -> str | None:
        if oid in self.pages:
            return "page"
        if oid == self.user["id"]:
            return "user"
        for kind, table in (("ig_user", self.ig_users), ("container", self.containers),
                            ("media", self.media), ("comment", self.comments)):
            if oid in table:
                return kind
        return None

    def owner_of(self, oid: str) -> str | None:
        """The Instagram account an object belongs to."""
        kind = self.object_kind(oid)
        if kind == "ig_user":
            return oid
        if kind in ("container", "media"):
            return {"container": self.containers, "media": self.media}[kind][oid]["ig"]
        if kind == "comment":
            return self.owner_of(self.comments[oid]["media_id"])
        if kind == "page":
            return self.pages[oid].get("ig")
        return None

    # -- containers and media ---------------------------------------------------------
    def published_last_day(self, ig_id: str) -> int:
        day_ago = datetime.now(UTC) - timedelta(days=1)
        return sum(1 for m in self.media.values() if m["ig"] == ig_id and m["timestamp"] >= day_ago
                   and not m.get("is_child"))

    def poll_container(self, cid: str) -> dict[str, Any]:
        """Status of a container; video containers finish after a few polls."""
        c = self.containers[cid]
        if c["status_code"] == "IN_PROGRESS":
            if c["polls_left"] <= 0:
                c["status_code"], c["status"] = "FINISHED", FINISHED
            else:
                c["polls_left"] -= 1
        return c

    def publish(self, cid: str) -> dict[str, Any]:
        c = self.containers[cid]
        now = datetime.now(UTC)
        children = []
        for child_id in c.get("children") or []:
            child = self._media_from(self.containers[child_id], now, is_child=True)
            children.append(child["id"])
        media = self._media_from(c, now, children=children)
        c["status_code"], c["status"] = "PUBLISHED", "Published: Media has been published."
        c["media_id"] = media["id"]
        return media

    def _media_from(self, c: dict[str, Any], now: datetime, *, is_child: bool = False,
                    children: list[str] | None = None) -> dict[str, Any]:
        mid = self.new_id()
        shortcode = "".join(secrets.choice(string.ascii_letters + string.digits + "_-") for _ in range(11))
        kind = c["kind"]
        media_type = {"IMAGE": "IMAGE", "VIDEO": "VIDEO", "REELS": "VIDEO", "CAROUSEL": "CAROUSEL_ALBUM"}[kind]
        path = "reel" if kind == "REELS" else "p"
        media = {
            "id": mid, "ig": c["ig"], "caption": c.get("caption"), "media_type": media_type,
            "media_product_type": "REELS" if kind == "REELS" else "FEED",
            "media_url": c.get("image_url") or c.get("video_url"), "timestamp": now,
            "permalink": f"https://www.instagram.com/{path}/{shortcode}/", "shortcode": shortcode,
            "children": children or [], "is_child": is_child,
            # what the sandbox downloaded from the URL (size, sha256), for tests
            "fetched": c.get("fetched"),
        }
        self.media[mid] = media
        return media

    # -- comments ----------------------------------------------------------------------
    def add_comment(self, media_id: str, text: str, author: dict[str, str],
                    parent_id: str | None = None) -> dict[str, Any]:
        row = {"id": self.new_id(), "media_id": media_id, "parent_id": parent_id, "text": text,
               "from": dict(author), "timestamp": datetime.now(UTC)}
        self.comments[row["id"]] = row
        return row

    def comments_of(self, media_id: str) -> list[dict[str, Any]]:
        rows = [c for c in self.comments.values() if c["media_id"] == media_id and c["parent_id"] is None]
        return sorted(rows, key=lambda c: (c["timestamp"], c["id"]))

    def replies_of(self, comment_id: str) -> list[dict[str, Any]]:
        rows = [c for c in self.comments.values() if c["parent_id"] == comment_id]
        return sorted(rows, key=lambda c: (c["timestamp"], c["id"]))

    def render_comment(self, c: dict[str, Any], *, with_replies: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": c["id"], "text": c["text"], "timestamp": graph_time(c["timestamp"]),
            "username": c["from"]["username"], "from": dict(c["from"]), "like_count": 0,
            "media": {"id": c["media_id"]}, "hidden": False,
        }
        if c["parent_id"]:
            out["parent_id"] = c["parent_id"]
        elif with_replies:
            out["replies"] = {"data": [self.render_comment(r, with_replies=False) for r in self.replies_of(c["id"])]}
        return out

    # -- metrics -----------------------------------------------------------------------
    def metric(self, mid: str, name: str) -> int:
        given = self.metrics.get(mid, {})
        if name in given:
            return int(given[name])
        seed = int(hashlib.sha256(f"{mid}:{name}".encode()).hexdigest()[:8], 16)
        if name == "reach":
            return max(0, self.metric(mid, "impressions") - seed % 40)
        if name == "comments":
            return sum(1 for c in self.comments.values() if c["media_id"] == mid)
        return {"impressions": 60 + seed % 600, "likes": seed % 40, "saves": seed % 9, "shares": seed % 6,
                "video_views": 30 + seed % 300, "clicks": 0}.get(name, 0)
