"""The inbox API: comments (list with filters and cursor, one), reply and
draft, post metrics, the reply policy. Route by route: 401 without a token,
404 for a non-member (and for another workspace's objects), 403 below the
route's role, 422 naming the field, and the success path. Replies are sent
through the social fake platform over HTTP by the real job."""
from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from clientnest.connector import PostMetrics
from clientnest.db import utcnow
from clientnest.models import AuditEvent, InboxComment, Membership, Workspace
from clientnest.plugins import build_plugin_host
from clientnest.queue import InProcessJobQueue, get_queue
from clientnest.services.inbox import IncomingComment, store_comments
from clientnest.services.metrics import store_snapshot
from clientnest.testing import fake_platform
from clientnest.testing.server import serve

from clientnest.api.inbox.schemas import CommentPageSchema, CommentSchema, PostMetricsSchema, ReplyPolicySchema


def _load(name: str, path: Path) -> Any:
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[name] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    return sys.modules[name]


social = _load("clientnest_tests_social_fake", Path(__file__).parents[1] / "followups" / "social_fake.py")

ROLES = ("viewer", "editor", "admin", "owner")


@pytest.fixture
def fake() -> Iterator[Any]:
    platform = social.SocialFakePlatform()
    with serve(platform) as url:
        platform.url = url
        yield platform


@pytest.fixture
def settings_overrides(fake: Any, request: Any) -> dict[str, Any]:
    """The fake platform's address; a test adds settings with indirect parametrization."""
    return {"plugin_config": {"social": {"base_url": fake.url, "timeout": 2.0},
                              "fake": {"base_url": fake.url, "timeout": 2.0},
                              "priced": {"api_key": "k"}},
            **getattr(request, "param", {})}


@pytest.fixture
def runtime(runtime: Any) -> Any:
    """The app's runtime with the social fake connector and the priced AI provider."""
    runtime.plugins.close()
    runtime.plugins = build_plugin_host(runtime.settings, extra_plugins=[
        ("social", social.SocialPlugin()), ("fake", fake_platform.plugin), ("priced", social.PricedPlugin())])
    yield runtime
    q = runtime.extras.get("queue")
    if isinstance(q, InProcessJobQueue):
        q.drain(10)


@dataclass
class Env:
    wid: int
    by_role: dict[str, Any]
    outsider: Any
    seeded: Any
    comments: list[int]

    def h(self, role: str = "owner") -> dict[str, str]:
        return self.by_role[role].headers


def _join(runtime: Any, user_id: int, wid: int, role: str) -> None:
    with runtime.db.transaction() as s:
        s.add(Membership(workspace_id=wid, user_id=user_id, role=role))


def _arrive(runtime: Any, fake: Any, seeded: Any, texts: list[str]) -> list[int]:
    account_ext = next(p["account"] for p in fake.posts if p["id"] == seeded.external_id)
    incoming = [IncomingComment(platform="social", account_external_id=account_ext,
                                external_id=fake.add_comment(seeded.external_id, t), text=t,
                                post_external_id=seeded.external_id) for t in texts]
    with runtime.db.transaction() as s:
        return [c.id for c in store_comments(s, incoming).stored]


@pytest.fixture
def env(runtime: Any, fake: Any, register: Any) -> Env:
    owner = register(workspace_name="Inbox")
    wid = owner.workspace_id
    by_role = {"owner": owner}
    for role in ("admin", "editor", "viewer"):
        m = register(workspace_name=f"{role} home")
        _join(runtime, m.user_id, wid, role)
        by_role[role] = m
    seeded = social.seed_published(runtime, fake, wid, external_account="brand")
    ids = _arrive(runtime, fake, seeded, ["Love it!", "This broke after one day, refund please", "Saw this today."])
    return Env(wid, by_role, register(workspace_name="Outside"), seeded, ids)


def _drain(runtime: Any) -> None:
    q = get_queue(runtime)
    assert isinstance(q, InProcessJobQueue) and q.drain(30)


def _comments_url(env: Env, suffix: str = "") -> str:
    return f"/api/v1/workspaces/{env.wid}/comments{suffix}"


def _names(body: dict[str, Any], field: str) -> bool:
    """A 422 that names ``field`` in its message and in its errors (under the
    request location, ``json`` / ``query``, when the schema refused it)."""
    errors = body.get("errors") or {}
    located = {k for loc in errors.values() if isinstance(loc, dict) for k in loc}
    return body.get("code") == 422 and field in body["message"] and (field in errors or field in located)


def _guards(client: Any, env: Env, method: str, url: str, minimum: str, body: Any = None) -> None:
    """401 without a token, 404 for a non-member (even with a bad body), 403 below ``minimum``."""
    kw = {"json": body} if body is not None else {}
    assert client.open(url, method=method, **kw).status_code == 401
    r = client.open(url, method=method, headers=env.outsider.headers, **kw)
    assert r.status_code == 404 and r.get_json()["message"] == f"workspace {env.wid} not found"
    if body is not None:
        r = client.open(url, method=method, headers=env.outsider.headers, json={"reply_mode": 5, "text": 7})
        assert r.status_code == 404
    for role in ROLES[:ROLES.index(minimum)]:
        r = client.open(url, method=method, headers=env.h(role), **kw)
        assert r.status_code == 403 and minimum in r.get_json()["message"], (role, r.get_json())


# -- GET /comments -------------------------------------------------------------------------

def test_list_comments_guards_and_shape(client: Any, env: Env) -> None:
    _guards(client, env, "GET", _comments_url(env), "viewer")
    r = client.get(_comments_url(env), headers=env.h("viewer"))
    assert r.status_code == 200
    body = CommentPageSchema().load(r.get_json())  # exactly the documented keys
    assert [c["id"] for c in body["items"]] == sorted(env.comments, reverse=True)
    first = r.get_json()["items"][-1]
    assert first["text"] == "Love it!" and first["post_id"] == env.seeded.post_id
    assert first["target_id"] == env.seeded.target_id and first["sentiment"] is None
    assert first["reply"]["status"] is None and body["next_cursor"] is None
    assert "raw" not in first


@pytest.mark.parametrize(("query", "field"), [
    ("sentiment=happy", "sentiment"), ("limit=0", "limit"), ("limit=101", "limit"), ("cursor=abc", "cursor"),
    ("reply_status=lost", "reply_status"), ("needs_human=maybe", "needs_human"), ("post_id=x", "post_id"),
])
def test_list_comments_bad_query_is_422_naming_the_field(client: Any, env: Env, query: str, field: str) -> None:
    r = client.get(_comments_url(env, f"?{query}"), headers=env.h("viewer"))
    assert r.status_code == 422, r.get_json()
    assert _names(r.get_json(), field)


def test_list_comments_filters_and_cursor(client: Any, runtime: Any, env: Env) -> None:
    from clientnest.services.replies import process_workspace

    with runtime.db.transaction() as s:
        s.get(Workspace, env.wid).reply_mode = "off"
    process_workspace(runtime, env.wid)
    h = env.h("viewer")

    def ids(query: str) -> list[int]:
        r = client.get(_comments_url(env, f"?{query}"), headers=h)
        assert r.status_code == 200, r.get_json()
        return [c["id"] for c in r.get_json()["items"]]

    love, broke, ok = env.comments
    assert ids("sentiment=positive") == [love]
    assert ids("sentiment=negative") == [broke]
    assert ids("needs_human=true") == [broke]
    assert ids("needs_human=false") == [ok, love]
    assert ids("sentiment=unscored") == []
    assert ids(f"post_id={env.seeded.post_id}") == [ok, broke, love]
    assert ids(f"target_id={env.seeded.target_id}&account_id={env.seeded.account_id}") == [ok, broke, love]
    assert ids("post_id=987654") == [] and ids("account_id=987654") == []
    assert ids("reply_status=none") == [ok, broke, love] and ids("reply_status=sent") == []
    # cursor pagination, newest first
    page1 = client.get(_comments_url(env, "?limit=2"), headers=h).get_json()
    assert [c["id"] for c in page1["items"]] == [ok, broke] and page1["next_cursor"] == str(broke)
    page2 = client.get(_comments_url(env, f"?limit=2&cursor={page1['next_cursor']}"), headers=h).get_json()
    assert [c["id"] for c in page2["items"]] == [love] and page2["next_cursor"] is None


def test_comments_of_another_workspace_are_invisible(client: Any, runtime: Any, fake: Any, env: Env) -> None:
    other = env.outsider  # has a workspace of their own, with a comment in it
    seeded = social.seed_published(runtime, fake, other.workspace_id, external_account="other-brand")
    (theirs,) = _arrive(runtime, fake, seeded, ["hello"])
    assert theirs not in [c["id"] for c in client.get(_comments_url(env), headers=env.h()).get_json()["items"]]
    for method, suffix in (("GET", f"/{theirs}"), ("POST", f"/{theirs}/reply"), ("POST", f"/{theirs}/draft")):
        r = client.open(_comments_url(env, suffix), method=method, headers=env.h(), json={"text": "hi"}
                        if suffix.endswith("reply") else {})
        assert r.status_code == 404 and r.get_json()["message"] == f"comment {theirs} not found", suffix


# -- GET /comments/{cid} ----------------------------------------------------------------------

def test_get_comment(client: Any, env: Env) -> None:
    url = _comments_url(env, f"/{env.comments[0]}")
    _guards(client, env, "GET", url, "viewer")
    r = client.get(url, headers=env.h("viewer"))
    assert r.status_code == 200
    assert CommentSchema().load(r.get_json())["text"] == "Love it!"
    assert client.get(_comments_url(env, "/987654"), headers=env.h()).status_code == 404


# -- POST /comments/{cid}/reply -------------------------------------------------------------------

def test_reply_guards_validation_and_exactly_once(client: Any, runtime: Any, fake: Any, env: Env) -> None:
    cid = env.comments[0]
    url = _comments_url(env, f"/{cid}/reply")
    _guards(client, env, "POST", url, "editor", body={"text": "Thank you!"})
    assert fake.replies == []  # nothing sent by the refused calls
    # 422s name the field
    for body, field in (({"text": ""}, "text"), ({"text": "x" * 10_001}, "text"), ({"text": 5}, "text"),
                        ({"resend": "perhaps"}, "resend"), ({}, "text")):
        r = client.post(url, json=body, headers=env.h("editor"))
        assert r.status_code == 422, (body, r.get_json())
        assert _names(r.get_json(), field), (body, r.get_json())
    r = client.post(url, json={"text": "x" * 501}, headers=env.h("editor"))  # the platform allows 500
    assert r.status_code == 422 and "500" in r.get_json()["message"] and _names(r.get_json(), "text")
    r = client.post(url, json={"text": "Thank you so much!"}, headers=env.h("editor"))
    assert r.status_code == 202, r.get_json()
    assert r.get_json()["reply"]["status"] in ("queued", "sending", "sent")
    assert r.get_json()["reply"]["requested_by"] == env.by_role["editor"].user_id
    _drain(runtime)
    done = client.get(_comments_url(env, f"/{cid}"), headers=env.h("viewer")).get_json()
    assert done["reply"]["status"] == "sent" and done["reply"]["external_id"] and done["reply"]["sent_at"]
    assert done["reply"]["automatic"] is False
    ext = done["external_id"]
    assert [x["text"] for x in fake.replies_to(ext)] == ["Thank you so much!"]
    # once sent: 409, and nothing more reaches the platform
    r = client.post(url, json={"text": "again"}, headers=env.h("editor"))
    assert r.status_code == 409 and "already replied" in r.get_json()["message"]
    _drain(runtime)
    assert len(fake.replies_to(ext)) == 1
    with runtime.db.session() as s:
        actions = [a for (a,) in s.execute(select(AuditEvent.action).where(
            AuditEvent.object_type == "inbox_comment", AuditEvent.object_id == str(cid)).order_by(AuditEvent.id))]
    assert actions == ["inbox.reply_queued", "inbox.reply_sending", "inbox.reply_sent"]


def test_reply_without_text_sends_the_draft(client: Any, runtime: Any, fake: Any, env: Env) -> None:
    cid = env.comments[0]
    r = client.post(_comments_url(env, f"/{cid}/draft"), json={}, headers=env.h("editor"))
    assert r.status_code == 200, r.get_json()
    draft = r.get_json()["reply"]["text"]
    assert r.get_json()["reply"]["status"] == "drafted" and draft
    r = client.post(_comments_url(env, f"/{cid}/reply"), json={}, headers=env.h("editor"))
    assert r.status_code == 202, r.get_json()
    _drain(runtime)
    ext = client.get(_comments_url(env, f"/{cid}"), headers=env.h()).get_json()["external_id"]
    assert [x["text"] for x in fake.replies_to(ext)] == [draft]


def test_reply_while_queued_is_409(client: Any, runtime: Any, env: Env) -> None:
    cid = env.comments[1]
    with runtime.db.transaction() as s:
        s.execute(update(InboxComment).where(InboxComment.id == cid).values(reply_status="sending",
                                                                            reply_text="On it"))
    r = client.post(_comments_url(env, f"/{cid}/reply"), json={"text": "Hello"}, headers=env.h("editor"))
    assert r.status_code == 409 and "sending" in r.get_json()["message"]


def test_reply_when_the_account_needs_reconnecting_is_409(client: Any, runtime: Any, env: Env) -> None:
    from clientnest.models import SocialAccount

    with runtime.db.transaction() as s:
        s.get(SocialAccount, env.seeded.account_id).status = "needs_reconnect"
    r = client.post(_comments_url(env, f"/{env.comments[0]}/reply"), json={"text": "Hi"}, headers=env.h("editor"))
    assert r.status_code == 409 and "reconnect" in r.get_json()["message"]


# -- POST /comments/{cid}/draft ----------------------------------------------------------------------

def test_draft_guards_and_brand_rules(client: Any, runtime: Any, env: Env) -> None:
    url = _comments_url(env, f"/{env.comments[1]}/draft")
    _guards(client, env, "POST", url, "editor", body={})
    r = client.post(url, json={"tone": "angry"}, headers=env.h("editor"))
    assert r.status_code == 422 and _names(r.get_json(), "tone")
    r = client.patch(f"/api/v1/workspaces/{env.wid}", json={"reply_rules": ["Sign off as Dana"],
                                                              "brand_voice": "Formal"}, headers=env.h("admin"))
    assert r.status_code == 200
    r = client.post(url, json={}, headers=env.h("editor"))
    assert r.status_code == 200, r.get_json()
    reply = CommentSchema().load(r.get_json())["reply"]
    assert reply["status"] == "drafted" and reply["text"].endswith("– Dana") and reply["violations"] == []
    with runtime.db.session() as s:
        assert s.scalar(select(AuditEvent.action).where(AuditEvent.action == "inbox.reply_drafted")) is not None


@pytest.mark.parametrize("settings_overrides", [{"ai_provider": "priced"}], indirect=True)
def test_draft_over_the_budget_is_402(client: Any, runtime: Any, fake: Any, register: Any) -> None:
    owner = register(workspace_name="Broke")
    seeded = social.seed_published(runtime, fake, owner.workspace_id, external_account="broke")
    (cid,) = _arrive(runtime, fake, seeded, ["Love it"])
    with runtime.db.transaction() as s:
        s.get(Workspace, owner.workspace_id).ai_budget_usd = Decimal("0")
    r = client.post(f"/api/v1/workspaces/{owner.workspace_id}/comments/{cid}/draft", json={}, headers=owner.headers)
    assert r.status_code == 402, r.get_json()
    assert "budget" in r.get_json()["message"] and r.get_json()["errors"]["budget"]["budget_usd"] == 0.0
    with runtime.db.session() as s:
        assert s.get(InboxComment, cid).reply_status is None


def test_draft_of_a_sent_reply_is_409(client: Any, runtime: Any, env: Env) -> None:
    cid = env.comments[0]
    with runtime.db.transaction() as s:
        s.execute(update(InboxComment).where(InboxComment.id == cid).values(reply_status="sent", reply_text="Hi"))
    r = client.post(_comments_url(env, f"/{cid}/draft"), json={}, headers=env.h("editor"))
    assert r.status_code == 409


# -- GET /posts/{pid}/metrics ---------------------------------------------------------------------------

def test_post_metrics(client: Any, runtime: Any, env: Env) -> None:
    url = f"/api/v1/workspaces/{env.wid}/posts/{env.seeded.post_id}/metrics"
    _guards(client, env, "GET", url, "viewer")
    r = client.get(url, headers=env.h("viewer"))
    assert r.status_code == 200
    assert r.get_json()["targets"][0]["latest"] is None and r.get_json()["totals"]["likes"] is None
    t0 = utcnow() - timedelta(hours=5)
    with runtime.db.transaction() as s:
        for i, likes in enumerate((3, 11)):
            store_snapshot(s, workspace_id=env.wid, target_id=env.seeded.target_id, fetched_at=t0 + timedelta(hours=i),
                           metrics=PostMetrics(external_id=env.seeded.external_id, likes=likes, impressions=100 * (i + 1)))
    r = client.get(url, headers=env.h("viewer"))
    body = PostMetricsSchema().load(r.get_json())
    target = body["targets"][0]
    assert target["latest"]["metrics"]["likes"] == 11 and target["latest"]["metrics"]["reach"] is None
    assert [h["metrics"]["impressions"] for h in target["history"]] == [100, 200]
    assert body["totals"]["likes"] == 11 and body["post_id"] == env.seeded.post_id
    assert r.get_json()["targets"][0]["latest"]["fetched_at"].endswith("+00:00")
    r = client.get(f"/api/v1/workspaces/{env.wid}/posts/987654/metrics", headers=env.h())
    assert r.status_code == 404 and "post 987654" in r.get_json()["message"]


def test_metrics_of_another_workspaces_post_are_404(client: Any, runtime: Any, fake: Any, env: Env) -> None:
    theirs = social.seed_published(runtime, fake, env.outsider.workspace_id, external_account="elsewhere")
    r = client.get(f"/api/v1/workspaces/{env.wid}/posts/{theirs.post_id}/metrics", headers=env.h())
    assert r.status_code == 404
    r = client.get(f"/api/v1/workspaces/{env.outsider.workspace_id}/posts/{theirs.post_id}/metrics",
                   headers=env.outsider.headers)
    assert r.status_code == 200 and r.get_json()["targets"][0]["target_id"] == theirs.target_id


# -- reply policy ------------------------------------------------------------------------------------------

def test_reply_policy_get_and_put(client: Any, runtime: Any, env: Env) -> None:
    url = f"/api/v1/workspaces/{env.wid}/reply-policy"
    _guards(client, env, "GET", url, "viewer")
    r = client.get(url, headers=env.h("viewer"))
    assert r.status_code == 200 and ReplyPolicySchema().load(r.get_json())["reply_mode"] == "draft"
    _guards(client, env, "PUT", url, "admin", body={"reply_mode": "off"})
    for body in ({"reply_mode": "always"}, {}, {"reply_mode": None}):
        r = client.put(url, json=body, headers=env.h("admin"))
        assert r.status_code == 422 and _names(r.get_json(), "reply_mode"), r.get_json()
    r = client.put(url, json={"reply_mode": "auto_positive"}, headers=env.h("admin"))
    assert r.status_code == 200 and r.get_json()["reply_mode"] == "auto_positive"
    assert client.get(url, headers=env.h("viewer")).get_json()["reply_mode"] == "auto_positive"
    with runtime.db.session() as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "workspace.reply_mode_changed")).one()
        assert ev.data == {"from": "draft", "to": "auto_positive"}
        assert ev.actor_user_id == env.by_role["admin"].user_id
