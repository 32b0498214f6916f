"""What the Facebook sandbox remembers: a user, their Pages, tokens, posts,
photos, videos and comments, all in memory and readable through the Graph
read endpoints. Ids and shapes follow the recordings in
``fixtures/real-api/facebook`` (Page ``110658944785122`` "Sf-test" is the Page
of the superface recordings)."""
from __future__ import annotations

import hashlib
import itertools
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

__all__ = ["FacebookState", "TokenInfo", "graph_time", "SANDBOX_USER", "SANDBOX_PAGES"]

SANDBOX_USER = {"id": "100089412345678", "name": "Sandbox User"}
SANDBOX_PAGES = (
    {"id": "110658944785122", "name": "Sf-test", "username": "sftest7904",
     "category": "Product/service", "category_list": [{"id": "2201", "name": "Product/service"}]},
    {"id": "105026452268579", "name": "My page", "category": "Local business",
     "category_list": [{"id": "2500", "name": "Local business"}]},
)
_TASKS = ["ANALYZE", "ADVERTISE", "MESSAGING", "MODERATE", "CREATE_CONTENT", "MANAGE"]
FAN = {"id": "6367583273279158", "name": "Wea Joklena"}


def graph_time(dt: datetime) -> str:
    """``2023-02-13T08:47:26+0000``, as Graph writes times."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


@dataclass
class TokenInfo:
    kind: str  # "user" | "page"
    subject: str  # user id or page id
    expires_at: datetime | None = None
    long_lived: bool = False

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


@dataclass
class FacebookState:
    """All sandbox data; callers hold :attr:`lock` while they read or change it."""

    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self._ids = itertools.count(206586845224581, 7919)
            self.user = dict(SANDBOX_USER)
            self.pages: dict[str, dict[str, Any]] = {
                p["id"]: {**p, "link": f"https://www.facebook.com/{p['id']}", "tasks": list(_TASKS)}
                for p in SANDBOX_PAGES
            }
            self.tokens: dict[str, TokenInfo] = {}
            self._page_tokens: dict[tuple[str, int], str] = {}
            self.codes: dict[str, dict[str, Any]] = {}
            self.posts: dict[str, dict[str, Any]] = {}
            self.photos: dict[str, dict[str, Any]] = {}
            self.videos: dict[str, dict[str, Any]] = {}
            self.comments: dict[str, dict[str, Any]] = {}
            self.metrics: dict[str, dict[str, int]] = {}
            self.deleted: set[str] = set()

    # -- ids and tokens ---------------------------------------------------------
    def new_id(self) -> str:
        return str(next(self._ids))

    def issue_token(self, kind: str, subject: str, *, ttl: int | None, long_lived: bool = False) -> str:
        token = "EAAS" + secrets.token_urlsafe(48).replace("-", "A").replace("_", "B")
        expires = datetime.now(UTC) + timedelta(seconds=ttl) if ttl else None
        self.tokens[token] = TokenInfo(kind, subject, expires, long_lived)
        return token

    def page_token(self, page_id: str, user_token: TokenInfo) -> str:
        """The Page token handed out with this user token (the same one every
        time), as long-lived as the user token. A Page token yields itself."""
        if user_token.kind == "page":
            return next(t for t, i in self.tokens.items() if i is user_token)
        key = (page_id, id(user_token))
        if key in self._page_tokens:
            return self._page_tokens[key]
        ttl = None
        if not user_token.long_lived and user_token.expires_at is not None:
            ttl = max(1, int((user_token.expires_at - datetime.now(UTC)).total_seconds()))
        token = self.issue_token("page", page_id, ttl=ttl, long_lived=user_token.long_lived)
        self._page_tokens[key] = token
        return token

    # -- objects -----------------------------------------------------------------
    def object_kind(self, oid: str) -> str | None:
        if oid in self.pages:
            return "page"
        if oid == self.user["id"]:
            return "user"
        for kind, table in (("post", self.posts), ("photo", self.photos), ("video", self.videos),
                            ("comment", self.comments)):
            if oid in table:
                return kind
        return None

    def page_of(self, oid: str) -> str | None:
        """The Page that owns an object (post, photo, video, comment)."""
        kind = self.object_kind(oid)
        if kind == "page":
            return oid
        if kind in ("post", "photo", "video"):
            table = {"post": self.posts, "photo": self.photos, "video": self.videos}[kind]
            return table[oid]["page_id"]
        if kind == "comment":
            return self.page_of(self.comments[oid]["object_id"])
        return None

    def add_post(self, page_id: str, *, message: str | None, link: str | None = None, kind: str = "status",
                 photo_ids: list[str] | None = None, video_id: str | None = None) -> dict[str, Any]:
        now = datetime.now(UTC)
        # a video's feed story is {page}_{video id}, so a comment event on the
        # story names the video the connector reported
        local = video_id or self.new_id()
        post = {
            "id": f"{page_id}_{local}", "page_id": page_id, "message": message, "link": link,
            "kind": kind, "photo_ids": photo_ids or [], "video_id": video_id,
            "created_time": now, "updated_time": now,
        }
        self.posts[post["id"]] = post
        return post

    def last_status(self, page_id: str) -> dict[str, Any] | None:
        own = [p for p in self.posts.values() if p["page_id"] == page_id]
        return max(own, key=lambda p: p["created_time"]) if own else None

    def add_comment(self, object_id: str, message: str, author: dict[str, str],
                    parent_id: str | None = None) -> dict[str, Any]:
        obj = object_id.rsplit("_", 1)[-1]
        now = datetime.now(UTC)
        comment = {
            "id": f"{obj}_{self.new_id()}", "object_id": object_id, "parent_id": parent_id,
            "message": message, "from": dict(author), "created_time": now,
        }
        self.comments[comment["id"]] = comment
        return comment

    def comments_of(self, object_id: str, *, toplevel: bool) -> list[dict[str, Any]]:
        rows = [c for c in self.comments.values() if c["object_id"] == object_id]
        if toplevel:
            rows = [c for c in rows if c["parent_id"] is None]
        return sorted(rows, key=lambda c: (c["created_time"], c["id"]))

    def replies_of(self, comment_id: str) -> list[dict[str, Any]]:
        rows = [c for c in self.comments.values() if c["parent_id"] == comment_id]
        return sorted(rows, key=lambda c: (c["created_time"], c["id"]))

    def delete(self, oid: str) -> bool:
        for table in (self.posts, self.photos, self.videos, self.comments):
            if oid in table:
                row = table.pop(oid)
                self.deleted.add(oid)
                if table is self.videos:  # the video's feed story goes with it
                    for pid in [p["id"] for p in self.posts.values() if p.get("video_id") == oid]:
                        self.posts.pop(pid, None)
                if table is self.posts and row.get("video_id"):
                    self.videos.pop(row["video_id"], None)
                return True
        return False

    # -- metrics -----------------------------------------------------------------
    def metric(self, oid: str, name: str) -> int:
        """A set value (``/_sandbox/metrics``), else a small stable number, so a
        fresh post has believable insights."""
        given = self.metrics.get(oid, {})
        if name in given:
            return int(given[name])
        seed = int(hashlib.sha256(f"{oid}:{name}".encode()).hexdigest()[:8], 16)
        base = {"impressions": 40 + seed % 400, "clicks": seed % 25, "video_views": 10 + seed % 200,
                "likes": seed % 12, "shares": seed % 4}.get(name, 0)
        if name == "reach":
            return max(0, self.metric(oid, "impressions") - seed % 30)
        if name == "comments":
            return len(self.comments_of(oid, toplevel=False))
        return base

    # -- rendering ---------------------------------------------------------------
    def permalink(self, post: dict[str, Any]) -> str:
        page, _, local = post["id"].partition("_")
        return f"https://www.facebook.com/{page}/posts/{local}/"

    def render_attachments(self, post: dict[str, Any]) -> list[dict[str, Any]]:
        if post["kind"] == "link" and post.get("link"):
            link = post["link"]
            return [{"type": "share", "media_type": "link", "url": link, "unshimmed_url": link,
                     "title": urlparse(link).netloc or link, "target": {"url": link}}]
        if post["kind"] in ("photo", "album"):
            photos = [self._photo_attachment(pid) for pid in post["photo_ids"] if pid in self.photos]
            if post["kind"] == "photo" and photos:
                return photos[:1]
            return [{"type": "album", "media_type": "album", "subattachments": {"data": photos},
                     "target": {"id": post["id"].partition("_")[2],
                                "url": f"https://www.facebook.com/media/set/?set=pcb.{post['id'].partition('_')[2]}"},
                     "url": self.permalink(post)}]
        if post["kind"] == "video" and post.get("video_id"):
            vid = post["video_id"]
            url = f"https://www.facebook.com/{post['page_id']}/videos/{vid}/"
            return [{"type": "video_inline", "media_type": "video", "url": url, "target": {"id": vid, "url": url}}]
        return []

    def _photo_attachment(self, pid: str) -> dict[str, Any]:
        url = f"https://www.facebook.com/photo.php?fbid={pid}&set=a.{pid}&type=3"
        return {"type": "photo", "media_type": "photo", "url": url, "target": {"id": pid, "url": url},
                "media": {"image": {"height": 720, "width": 720,
                                    "src": f"https://scontent.xx.fbcdn.net/v/t39.30808-6/{pid}_n.jpg"}}}

    def render_comment(self, c: dict[str, Any]) -> dict[str, Any]:
        obj = c["object_id"]
        page = self.page_of(obj) or ""
        local = obj.rsplit("_", 1)[-1]
        cid = c["id"].rsplit("_", 1)[-1]
        if c["parent_id"]:
            parent_local = c["parent_id"].rsplit("_", 1)[-1]
            permalink = f"https://www.facebook.com/{page}/posts/{local}/?comment_id={parent_local}&reply_comment_id={cid}"
        else:
            permalink = f"https://www.facebook.com/{page}/posts/{local}/?comment_id={cid}"
        out = {
            "id": c["id"], "message": c["message"], "created_time": graph_time(c["created_time"]),
            "from": dict(c["from"]), "permalink_url": permalink, "like_count": 0,
            "comment_count": len(self.replies_of(c["id"])), "can_comment": True,
        }
        if c["parent_id"]:
            out["parent"] = {"id": c["parent_id"]}
        return out
