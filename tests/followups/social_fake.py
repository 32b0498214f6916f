"""The fake platform of the engine tests, extended (by subclassing only) with
what happens after publishing: metrics, comments and replies, over real HTTP,
with the same fault injection; plus the test plugins of the follow-up tests.

* :class:`SocialFakePlatform` adds ``GET /v1/accounts/<a>/metrics``,
  ``GET /v1/accounts/<a>/posts/<p>/comments`` (paged) and
  ``POST /v1/accounts/<a>/comments/<c>/replies``; faults for the operations
  ``metrics``, ``comments`` and ``reply``;
* :class:`SocialConnector` (platform ``social``): :class:`FakeConnector` plus
  ``METRICS``, ``COMMENTS`` and ``REPLY``; errors classified by the parent's
  one ``_send``;
* :class:`AICounter`: a hook wrapper that counts the sentiment calls that
  reach a provider (a plugin, not a monkeypatch);
* :class:`PricedProvider`: the offline provider with a price, so the AI
  budget can run out.

Loaded by file path (the tests folders are not packages).
"""
from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from clientnest import ConfigField, ConfigSchema, hookimpl
from clientnest.ai import AIProvider, Usage
from clientnest.connector import Account, Capability, Comment, CommentPage, PostMetrics, SocialConnector as _Base
from clientnest.offline_ai import OfflineProvider
from clientnest.testing.fake_platform import FAULT_KINDS, FakeConnector, FakePlatform, Fault, _json

__all__ = ["SocialFakePlatform", "SocialConnector", "SocialPlugin", "AICounter", "PricedProvider", "PricedPlugin"]

SOCIAL_OPS = frozenset({"metrics", "comments", "reply"})


class SocialFakePlatform(FakePlatform):
    """:class:`FakePlatform` with metrics, comments and replies.

    :param page_size: comments per page of the comments endpoint.
    """

    def __init__(self, *, page_size: int = 2, **kw: Any) -> None:
        super().__init__(**kw)
        self.page_size = page_size
        self._cids = itertools.count(1)
        #: post id -> platform-shaped stats ({"views": .., "likes": .., ...})
        self.stats: dict[str, dict[str, Any]] = {}
        #: post id -> comments, oldest first
        self.comments: dict[str, list[dict[str, Any]]] = {}
        #: replies the accounts posted
        self.replies: list[dict[str, Any]] = []
        for op in SOCIAL_OPS:
            self._faults[op] = deque()
        self._url_map.add(Rule("/v1/accounts/<account>/metrics", endpoint="metrics", methods=["GET"]))
        self._url_map.add(Rule("/v1/accounts/<account>/posts/<post>/comments", endpoint="comments", methods=["GET"]))
        self._url_map.add(Rule("/v1/accounts/<account>/comments/<comment>/replies", endpoint="reply",
                               methods=["POST"]))

    # -- test side ------------------------------------------------------------------
    def fail(self, op: str, kind: str, times: int = 1, **params: Any) -> None:
        if op not in SOCIAL_OPS:
            super().fail(op, kind, times, **params)
            return
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        with self._lock:
            for _ in range(times):
                self._faults[op].append(Fault(kind, dict(params)))

    def set_stats(self, post_id: str, **stats: Any) -> None:
        with self._lock:
            self.stats[post_id] = dict(stats)

    def add_comment(self, post_id: str, text: str, *, author_id: str = "u_fan", author_name: str = "A Fan",
                    parent_id: str | None = None) -> str:
        with self._lock:
            cid = f"c_{next(self._cids)}"
            self.comments.setdefault(post_id, []).append({
                "id": cid, "post_id": post_id, "text": text, "parent_id": parent_id,
                "author": {"id": author_id, "name": author_name},
                "created_at": datetime.now(UTC).isoformat(),
            })
            return cid

    def replies_to(self, comment_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self.replies if r["in_reply_to"] == comment_id]

    # -- endpoints -------------------------------------------------------------------
    def _on_metrics(self, request: Request, account: str) -> Response:
        fault = self._next_fault("metrics", account)
        bad = self._check_token(request, account)
        if bad is not None:
            return bad
        if fault is not None:
            return self._fault_response(fault)
        ids = [i for i in (request.args.get("ids") or "").split(",") if i]
        with self._lock:
            mine = {p["id"] for p in self.posts if p["account"] == account}
            data = [{"id": i, "stats": dict(self.stats.get(i, {}))} for i in ids if i in mine]
        return _json({"data": data})

    def _comments_fault(self, account: str, cursor: str | None) -> Fault | None:
        """Like ``_next_fault``, and a fault with a ``cursor`` parameter hits only that page."""
        with self._lock:
            self.counts["comments"] += 1
            q = self._faults["comments"]
            for i, fault in enumerate(q):
                if fault.params.get("account") in (None, account) and fault.params.get("cursor") in (None, cursor):
                    del q[i]
                    return fault
            return None

    def _on_comments(self, request: Request, account: str, post: str) -> Response:
        fault = self._comments_fault(account, request.args.get("cursor"))
        bad = self._check_token(request, account)
        if bad is not None:
            return bad
        if fault is not None:
            return self._fault_response(fault)
        start = int(request.args.get("cursor") or 0)
        with self._lock:
            items = list(self.comments.get(post, []))
        page = items[start:start + self.page_size]
        nxt = start + self.page_size
        return _json({"data": page, "next": str(nxt) if nxt < len(items) else None})

    def _on_reply(self, request: Request, account: str, comment: str) -> Response:
        fault = self._next_fault("reply", account)
        bad = self._check_token(request, account)
        if bad is not None:
            return bad
        body = request.get_json(silent=True) or {}

        def create() -> dict[str, Any]:
            with self._lock:
                reply = {"id": f"r_{next(self._cids)}", "in_reply_to": comment, "account": account,
                         "text": str(body.get("text") or ""), "created_at": datetime.now(UTC).isoformat()}
                self.replies.append(reply)
                return reply

        if fault is not None and fault.kind == "slow":
            reply = create()
            import time

            time.sleep(float(fault.params.get("delay", 2)))
            return _json({"data": reply}, 201)
        if fault is not None:
            return self._fault_response(fault, create=create)
        return _json({"data": create()}, 201)


class SocialConnector(FakeConnector):
    """:class:`FakeConnector` that can also read metrics and comments and reply."""

    name = "social"
    display_name = "Social Fake"
    capabilities = FakeConnector.capabilities | frozenset({Capability.METRICS, Capability.COMMENTS, Capability.REPLY})

    @classmethod
    def sandbox(cls) -> Any:
        return SocialFakePlatform()

    def fetch_metrics(self, account: Account, external_ids: Sequence[str]) -> list[PostMetrics]:
        body = self._send("GET", f"/v1/accounts/{account.external_id}/metrics", token=account.credentials.access_token,
                          params={"ids": ",".join(external_ids)}).json()
        out = []
        for item in body.get("data") or []:
            stats = item.get("stats") or {}
            # figures passed through as the platform sent them: the core normalises them
            out.append(PostMetrics(
                external_id=str(item["id"]), impressions=stats.get("views"), likes=stats.get("likes"),
                comments=stats.get("replies"), shares=stats.get("reposts"), video_views=stats.get("plays"),
                raw=item,
            ))
        return out

    def fetch_comments(self, account: Account, external_id: str, cursor: str | None = None) -> CommentPage:
        params = {"cursor": cursor} if cursor else {}
        body = self._send("GET", f"/v1/accounts/{account.external_id}/posts/{external_id}/comments",
                          token=account.credentials.access_token, params=params).json()
        comments = [Comment(
            external_id=str(c["id"]), post_external_id=str(c["post_id"]), text=str(c.get("text") or ""),
            author_id=(c.get("author") or {}).get("id"), author_name=(c.get("author") or {}).get("name"),
            created_at=datetime.fromisoformat(c["created_at"]) if c.get("created_at") else None,
            parent_external_id=c.get("parent_id"), raw=c,
        ) for c in body.get("data") or []]
        return CommentPage(comments=comments, next_cursor=body.get("next"))

    def reply(self, account: Account, comment_external_id: str, text: str) -> Comment:
        data = self._send("POST", f"/v1/accounts/{account.external_id}/comments/{comment_external_id}/replies",
                          token=account.credentials.access_token, json={"text": text}).json()["data"]
        return Comment(external_id=str(data["id"]), post_external_id="", text=data["text"],
                       author_id=account.external_id, parent_external_id=comment_external_id, raw=data)


class SocialPlugin:
    __version__ = SocialConnector.version

    @hookimpl
    def clientnest_register_connectors(self) -> list[type[_Base]]:
        return [SocialConnector]


class AICounter:
    """Counts what reaches the sentiment operation (every provider, one call per batch)."""

    __version__ = "1"

    def __init__(self) -> None:
        self.sentiment_batches: list[list[str]] = []
        self._lock = threading.Lock()

    @hookimpl(hookwrapper=True)
    def clientnest_score_sentiment(self, provider: AIProvider, texts: Sequence[str]) -> Any:
        with self._lock:
            self.sentiment_batches.append(list(texts))
        yield

    def reset(self) -> None:
        with self._lock:
            self.sentiment_batches.clear()


class PricedProvider(OfflineProvider):
    """The offline provider's answers at a price (a stand-in for a paid model,
    so budgets can run out without a network)."""

    name = "priced"
    display_name = "Priced (tests)"
    offline = False
    config_schema = ConfigSchema((ConfigField("api_key", str, secret=True, default=""),))

    def is_configured(self) -> bool:
        # like a paid provider: only with a key (so it is never chosen by accident)
        return bool(self.config.get("api_key"))

    @property
    def model(self) -> str:
        return "priced-1"

    def price(self, usage: Usage) -> float:
        return 0.000001 * (usage.prompt_tokens + usage.completion_tokens)


class PricedPlugin:
    __version__ = "1"

    @hookimpl
    def clientnest_register_ai_providers(self) -> list[type[AIProvider]]:
        return [PricedProvider]


@dataclass
class Seeded:
    account_id: int
    post_id: int
    target_id: int
    external_id: str


def seed_published(rt: Any, fake: SocialFakePlatform, workspace_id: int, *, external_account: str,
                   text: str = "Our new summer menu is out", platform: str = "social",
                   published_at: datetime | None = None, account_id: int | None = None) -> Seeded:
    """An account on the fake platform and a post published on it (the post
    exists on the platform, as the publish job would have left it)."""
    from clientnest.models import Post, PostStatus, PostTarget, SocialAccount, TargetStatus

    published_at = published_at or datetime.now(UTC)
    with rt.db.transaction() as s:
        if account_id is None:
            creds = fake.add_account(external_account)
            acct = SocialAccount(workspace_id=workspace_id, platform=platform, external_id=external_account,
                                 display_name=f"@{external_account}",
                                 credentials_encrypted=rt.vault.encrypt(creds.to_json()),
                                 token_expires_at=creds.expires_at)
            s.add(acct)
            s.flush()
            account_id = acct.id
        with fake._lock:
            ext = f"fp_{next(fake._ids)}"
            fake.posts.append({"id": ext, "account": external_account, "text": text, "link": None, "key": "",
                               "created_at": published_at.isoformat(), "url": None})
        post = Post(workspace_id=workspace_id, text=text, status=PostStatus.PUBLISHED, scheduled_at=published_at)
        s.add(post)
        s.flush()
        target = PostTarget(post_id=post.id, workspace_id=workspace_id, account_id=account_id, platform=platform,
                            status=TargetStatus.PUBLISHED, scheduled_at=published_at, external_id=ext,
                            published_at=published_at)
        s.add(target)
        s.flush()
        return Seeded(account_id, post.id, target.id, ext)


def later(dt: datetime, **kw: float) -> datetime:
    return dt + timedelta(**kw)

