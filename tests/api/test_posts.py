"""/api/v1/workspaces/{wid}/posts: create, validate, schedule, list, change,
publish, cancel, delete; idempotency; roles; tenant isolation."""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, func, select, update

from clientnest.api.posts.list_cache import RedisListCache, list_cache
from clientnest.api.posts.schemas import CancelResultSchema, PostDetailSchema, PostPageSchema
from clientnest.connector import Credentials
from clientnest.crypto import hash_token, new_api_token
from clientnest.models import (
    ApiToken,
    AuditEvent,
    IdempotencyRecord,
    Media,
    Membership,
    Post,
    PostTarget,
    PublishAttempt,
    SocialAccount,
    User,
    Workspace,
    WorkspacePlatform,
)
from clientnest.services.accounts import store_credentials

# -- fixtures and helpers ---------------------------------------------------------------


def now() -> datetime:
    return datetime.now(UTC)


def at(dt: str | None) -> datetime | None:
    return None if dt is None else datetime.fromisoformat(dt)


def make_account(runtime: Any, wid: int, platform: str, status: str = "connected") -> int:
    """An account stored as the accounts service stores one: encrypted credentials."""
    with runtime.db.transaction() as s:
        acc = SocialAccount(workspace_id=wid, platform=platform, external_id=uuid.uuid4().hex,
                            display_name=f"{platform} account", status=status)
        store_credentials(s, runtime.vault, acc, Credentials(access_token="secret-" + uuid.uuid4().hex))
        s.flush()
        return acc.id


def make_media(runtime: Any, wid: int, kind: str = "image", content_type: str = "image/jpeg",
               size: int = 50_000) -> int:
    with runtime.db.transaction() as s:
        m = Media(workspace_id=wid, storage_key=uuid.uuid4().hex, kind=kind, content_type=content_type,
                  size=size, width=1080, height=1080, sha256="0" * 64, original_name="x")
        s.add(m)
        s.flush()
        return m.id


def add_member(runtime: Any, wid: int, role: str) -> dict[str, str]:
    token = new_api_token()
    with runtime.db.transaction() as s:
        u = User(email=f"{role}-{uuid.uuid4().hex[:8]}@example.com", password_hash="!")
        s.add(u)
        s.flush()
        s.add(Membership(workspace_id=wid, user_id=u.id, role=role))
        s.add(ApiToken(user_id=u.id, token_hash=hash_token(token), prefix=token[:8]))
    return {"Authorization": f"Bearer {token}"}


def set_targets(runtime: Any, pid: int, **values: Any) -> None:
    """Move a post's targets as the engine would (and keep the post's status in step)."""
    from clientnest.services.post_status import refresh_post_status

    account_id = values.pop("account_id", None)
    with runtime.db.transaction() as s:
        q = update(PostTarget).where(PostTarget.post_id == pid)
        if account_id is not None:
            q = q.where(PostTarget.account_id == account_id)
        s.execute(q.values(**values))
        refresh_post_status(s, s.get(Post, pid), actor="worker")


class Env:
    """One workspace with an owner, accounts on each platform and media."""

    def __init__(self, runtime: Any, register: Callable[..., Any]) -> None:
        self.owner = register(workspace_name="Acme")
        self.wid = self.owner.workspace_id
        self.h = self.owner.headers
        self.fb = make_account(runtime, self.wid, "facebook")
        self.ig = make_account(runtime, self.wid, "instagram")
        self.li = make_account(runtime, self.wid, "linkedin")
        self.stale = make_account(runtime, self.wid, "facebook", status="needs_reconnect")
        self.off = make_account(runtime, self.wid, "linkedin", status="disabled")
        self.jpeg = make_media(runtime, self.wid)
        self.png = make_media(runtime, self.wid, content_type="image/png")
        self.url = f"/api/v1/workspaces/{self.wid}/posts"

    def post_url(self, pid: int, tail: str = "") -> str:
        return f"{self.url}/{pid}{tail}"


@pytest.fixture
def env(runtime: Any, register: Callable[..., Any]) -> Env:
    return Env(runtime, register)


@pytest.fixture
def other(runtime: Any, register: Callable[..., Any]) -> Any:
    """A second workspace, with its own account, media and post."""
    m = register(workspace_name="Other")
    m.account = make_account(runtime, m.workspace_id, "facebook")
    m.media = make_media(runtime, m.workspace_id)
    return m


def create(client: Any, env: Env, headers: dict[str, str] | None = None, **body: Any) -> Any:
    body.setdefault("text", "Hello world")
    body.setdefault("account_ids", [env.fb])
    return client.post(env.url, json=body, headers={**env.h, **(headers or {})})


def ok(r: Any, code: int = 200) -> dict[str, Any]:
    assert r.status_code == code, r.get_json()
    return r.get_json()


def audit_actions(runtime: Any, pid: int) -> list[str]:
    with runtime.db.session() as s:
        return list(s.scalars(
            select(AuditEvent.action).where(AuditEvent.object_type == "post", AuditEvent.object_id == str(pid))
            .order_by(AuditEvent.id)
        ))


def count_posts(runtime: Any) -> int:
    with runtime.db.session() as s:
        return s.scalar(select(func.count()).select_from(Post))


# -- create: success paths ----------------------------------------------------------------

def test_create_draft(client: Any, runtime: Any, env: Env) -> None:
    r = create(client, env, account_ids=[env.fb, env.li], media_ids=[env.jpeg],
               overrides={str(env.li): {"text": "Hello LinkedIn"}}, link="https://example.com/a",
               first_comment="first!")
    body = ok(r, 201)
    assert r.headers["Location"] == f"{env.url}/{body['id']}"
    assert PostDetailSchema().validate(body) == {}
    assert body["status"] == "draft" and body["scheduled_at"] is None
    assert body["text"] == "Hello world" and body["media_ids"] == [env.jpeg]
    assert body["link"] == "https://example.com/a" and body["first_comment"] == "first!"
    assert body["created_by"] == env.owner.user_id
    assert at(body["created_at"]).utcoffset() == timedelta(0)
    by_acc = {t["account_id"]: t for t in body["targets"]}
    assert set(by_acc) == {env.fb, env.li}
    assert by_acc[env.fb]["platform"] == "facebook" and by_acc[env.fb]["text"] == "Hello world"
    assert by_acc[env.li]["text"] == "Hello LinkedIn" and by_acc[env.li]["text_override"] == "Hello LinkedIn"
    for t in body["targets"]:
        assert t["status"] == "draft" and t["next_attempt_at"] is None and t["scheduled_at"] is None
        assert t["attempts"] == 0 and t["attempt_log"] == []
    assert audit_actions(runtime, body["id"]) == ["post.created"]
    # nothing secret in the response
    assert "secret-" not in r.get_data(as_text=True)


def test_create_scheduled_with_offset(client: Any, env: Env) -> None:
    when = (now() + timedelta(days=2)).astimezone(ZoneInfo("Asia/Kolkata")).replace(microsecond=0)
    body = ok(create(client, env, account_ids=[env.fb, env.li], scheduled_at=when.isoformat()), 201)
    assert body["status"] == "scheduled"
    assert at(body["scheduled_at"]) == when and body["scheduled_at"].endswith("+00:00")
    for t in body["targets"]:
        assert t["status"] == "scheduled"
        assert at(t["scheduled_at"]) == when and at(t["next_attempt_at"]) == when


def test_create_publish_now(client: Any, env: Env) -> None:
    before = now()
    body = ok(create(client, env, publish_now=True), 201)
    assert body["status"] == "scheduled"
    t = body["targets"][0]
    assert t["status"] == "scheduled"
    assert before <= at(t["next_attempt_at"]) <= now()
    assert at(t["scheduled_at"]) == at(t["next_attempt_at"]) == at(body["scheduled_at"])


def test_scheduled_at_within_sixty_seconds_in_the_past_counts_as_now(client: Any, env: Env) -> None:
    sent = now() - timedelta(seconds=30)
    body = ok(create(client, env, scheduled_at=sent.isoformat()), 201)
    t = body["targets"][0]
    assert t["status"] == "scheduled"
    assert sent + timedelta(seconds=29) <= at(t["next_attempt_at"]) <= now()


def test_queue_takes_each_accounts_next_free_slot(client: Any, runtime: Any, env: Env) -> None:
    with runtime.db.transaction() as s:
        s.get(Workspace, env.wid).timezone = "America/New_York"
    tz = ZoneInfo("America/New_York")
    slots = {"slots": [{"weekday": d, "time": "09:00"} for d in range(7)]}
    ok(client.put(f"/api/v1/workspaces/{env.wid}/accounts/{env.fb}/slots", json=slots, headers=env.h))
    ok(client.put(f"/api/v1/workspaces/{env.wid}/accounts/{env.li}/slots",
                  json={"slots": [{"weekday": d, "time": "18:45"} for d in range(7)]}, headers=env.h))

    def expected(hhmm: str, skip: int = 0) -> datetime:
        h, m = map(int, hhmm.split(":"))
        local = now().astimezone(tz)
        cand = local.replace(hour=h, minute=m, second=0, microsecond=0)
        if cand <= local:
            cand = (cand + timedelta(days=1)).replace(hour=h, minute=m)
        for _ in range(skip):
            cand = (cand + timedelta(days=1)).replace(hour=h, minute=m)
        return cand.replace(tzinfo=None).replace(tzinfo=tz).astimezone(UTC)

    body = ok(create(client, env, account_ids=[env.fb, env.li], queue=True), 201)
    by_acc = {t["account_id"]: t for t in body["targets"]}
    assert at(by_acc[env.fb]["next_attempt_at"]) == expected("09:00")
    assert at(by_acc[env.li]["scheduled_at"]) == expected("18:45")
    assert at(body["scheduled_at"]) == min(expected("09:00"), expected("18:45"))
    assert all(t["status"] == "scheduled" for t in body["targets"])
    # the next queued post takes the following free slot of each account
    body2 = ok(create(client, env, account_ids=[env.fb], queue=True), 201)
    assert at(body2["targets"][0]["next_attempt_at"]) == expected("09:00", skip=1)
    # a canceled post frees its slot again
    ok(client.post(env.post_url(body["id"], "/cancel"), headers=env.h))
    body3 = ok(create(client, env, account_ids=[env.fb], queue=True), 201)
    assert at(body3["targets"][0]["next_attempt_at"]) == expected("09:00")


def test_concurrent_queued_posts_take_distinct_slots(app: Any, client: Any, runtime: Any, env: Env) -> None:
    ok(client.put(f"/api/v1/workspaces/{env.wid}/accounts/{env.fb}/slots",
                  json={"slots": [{"weekday": d, "time": t} for d in range(7) for t in ("08:00", "20:00")]},
                  headers=env.h))
    n = 5
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def worker(i: int) -> None:
        c = app.test_client()
        barrier.wait()
        results[i] = c.post(env.url, json={"text": f"q{i}", "account_ids": [env.fb], "queue": True}, headers=env.h)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    times = [ok(r, 201)["targets"][0]["next_attempt_at"] for r in results]
    assert len(set(times)) == n, times
    # and they are the first n slots: none skipped
    later = ok(create(client, env, queue=True), 201)["targets"][0]["next_attempt_at"]
    assert at(later) > max(at(t) for t in times)
    assert (at(later) - min(at(t) for t in times)) <= timedelta(hours=12 * n + 1)


def test_queue_without_slots_is_422_naming_the_account(client: Any, runtime: Any, env: Env) -> None:
    ok(client.put(f"/api/v1/workspaces/{env.wid}/accounts/{env.fb}/slots",
                  json={"slots": [{"weekday": 0, "time": "09:00"}]}, headers=env.h))
    r = create(client, env, account_ids=[env.fb, env.li], queue=True)
    assert r.status_code == 422
    assert r.get_json()["message"].startswith("queue:") and f"account {env.li}" in r.get_json()["message"]
    assert f"/accounts/{env.li}/slots" in r.get_json()["errors"]["queue"][0]
    assert count_posts(runtime) == 0


def test_empty_text_is_fine_with_media(client: Any, env: Env) -> None:
    body = ok(create(client, env, text="", media_ids=[env.jpeg], account_ids=[env.fb, env.ig]), 201)
    assert body["text"] == "" and body["media_ids"] == [env.jpeg]


def test_overrides_may_fill_an_empty_text(client: Any, env: Env) -> None:
    body = ok(create(client, env, text="", account_ids=[env.fb], overrides={str(env.fb): {"text": "just FB"}}), 201)
    assert body["targets"][0]["text"] == "just FB"


# -- create: 422s -----------------------------------------------------------------------

@pytest.mark.parametrize("extra, field", [
    ({"account_ids": []}, "account_ids"),
    ({"account_ids": "1"}, "account_ids"),
    ({"account_ids": None}, "account_ids"),
    ({"text": 5}, "text"),
    ({"media_ids": ["a"]}, "media_ids"),
    ({"link": "ftp://example.com"}, "link"),
    ({"link": "not a url"}, "link"),
    ({"thread": [""]}, "thread"),
    ({"scheduled_at": "2030-01-01T09:00:00"}, "scheduled_at"),  # no offset
    ({"scheduled_at": "tomorrow"}, "scheduled_at"),
    ({"scheduled_at": "2030-01-01T09:00:00+00:00", "publish_now": True}, "publish_now"),
    ({"scheduled_at": "2030-01-01T09:00:00+00:00", "queue": True}, "queue"),
    ({"publish_now": True, "queue": True}, "queue"),
    ({"overrides": {"abc": {"text": "x"}}}, "overrides"),
    ({"overrides": {"1": {"txt": "x"}}}, "overrides"),
    ({"unexpected": 1}, "unexpected"),
])
def test_create_rejects_bad_fields(client: Any, runtime: Any, env: Env, extra: dict[str, Any], field: str) -> None:
    r = create(client, env, **extra)
    assert r.status_code == 422, r.get_json()
    body = r.get_json()
    assert field in body["message"], body
    assert body["code"] == 422 and "errors" in body
    assert count_posts(runtime) == 0


def test_missing_account_ids_is_named(client: Any, env: Env) -> None:
    r = client.post(env.url, json={"text": "hi"}, headers=env.h)
    assert r.status_code == 422 and "account_ids" in r.get_json()["message"]


def test_scheduled_at_in_the_past_is_refused(client: Any, runtime: Any, env: Env) -> None:
    r = create(client, env, scheduled_at=(now() - timedelta(minutes=5)).isoformat())
    assert r.status_code == 422
    assert r.get_json()["message"].startswith("scheduled_at:") and "past" in r.get_json()["message"]
    assert "scheduled_at" in r.get_json()["errors"]
    assert count_posts(runtime) == 0


def test_text_may_be_empty_only_with_media(client: Any, env: Env) -> None:
    r = create(client, env, text="   ")
    assert r.status_code == 422 and r.get_json()["message"].startswith("text:")
    assert r.get_json()["errors"] == {"text": ["may be empty only when media is attached"]}


def test_unknown_and_foreign_accounts_look_the_same(client: Any, runtime: Any, env: Env, other: Any) -> None:
    for aid in (other.account, 999_999):
        r = create(client, env, account_ids=[env.fb, aid])
        assert r.status_code == 422
        assert r.get_json()["message"] == f"account_ids: account {aid} not found in this workspace"
        assert r.get_json()["errors"] == {"account_ids": [f"account {aid} not found in this workspace"]}
    r = create(client, env, account_ids=[env.fb, env.fb])
    assert r.status_code == 422 and "listed twice" in r.get_json()["message"]
    assert count_posts(runtime) == 0


@pytest.mark.parametrize("which, status", [("stale", "needs_reconnect"), ("off", "disabled")])
def test_account_must_be_connected(client: Any, env: Env, which: str, status: str) -> None:
    aid = getattr(env, which)
    r = create(client, env, account_ids=[env.fb, aid])
    assert r.status_code == 422
    msg = r.get_json()["message"]
    assert f"account {aid}" in msg and status in msg
    assert "account_ids" in r.get_json()["errors"]


def test_platform_disabled_for_the_workspace(client: Any, runtime: Any, env: Env) -> None:
    with runtime.db.transaction() as s:
        s.add(WorkspacePlatform(workspace_id=env.wid, platform="linkedin", enabled=False))
    r = create(client, env, account_ids=[env.li])
    assert r.status_code == 422
    assert f"account {env.li}" in r.get_json()["message"] and "linkedin is not enabled" in r.get_json()["message"]
    assert ok(create(client, env, account_ids=[env.fb]), 201)


def test_media_must_belong_to_the_workspace(client: Any, runtime: Any, env: Env, other: Any) -> None:
    for mid in (other.media, 888_888):
        r = create(client, env, media_ids=[env.jpeg, mid])
        assert r.status_code == 422
        assert r.get_json()["message"] == f"media_ids: media {mid} not found in this workspace"
    assert count_posts(runtime) == 0


def test_override_for_an_account_not_in_account_ids(client: Any, env: Env) -> None:
    r = create(client, env, account_ids=[env.fb], overrides={str(env.li): {"text": "x"}})
    assert r.status_code == 422
    assert r.get_json()["message"].startswith(f"overrides.{env.li}:")
    assert r.get_json()["errors"] == {"overrides": {str(env.li): [f"account {env.li} is not one of account_ids"]}}


def test_platform_rules_are_checked_per_target(client: Any, runtime: Any, env: Env) -> None:
    # Facebook allows 63,206 characters
    r = create(client, env, text="a" * 63_207)
    assert r.status_code == 422
    body = r.get_json()
    assert body["errors"]["targets"][str(env.fb)][0]["rule"] == "max_length"
    assert f"account {env.fb}" in body["message"] and "max_length" in body["message"]
    assert ok(create(client, env, text="a" * 63_206), 201)

    # LinkedIn 3,000 (the override is what LinkedIn gets); Instagram needs media
    r = create(client, env, account_ids=[env.fb, env.li, env.ig],
               overrides={str(env.li): {"text": "b" * 3001}})
    assert r.status_code == 422
    targets = r.get_json()["errors"]["targets"]
    assert set(targets) == {str(env.li), str(env.ig)}
    assert [v["rule"] for v in targets[str(env.li)]] == ["max_length"]
    assert "3001" in targets[str(env.li)][0]["message"] and "3000" in targets[str(env.li)][0]["message"]
    assert [v["rule"] for v in targets[str(env.ig)]] == ["requires_media"]
    assert "1 more problem" in r.get_json()["message"]

    # Instagram: at most 30 hashtags, JPEG only
    tags = " ".join(f"#t{i}" for i in range(31))
    r = create(client, env, account_ids=[env.ig], text=tags, media_ids=[env.png])
    rules = sorted(v["rule"] for v in r.get_json()["errors"]["targets"][str(env.ig)])
    assert r.status_code == 422 and rules == ["max_hashtags", "media_type"]
    body = ok(create(client, env, account_ids=[env.ig], text=" ".join(f"#t{i}" for i in range(30)),
                     media_ids=[env.jpeg]), 201)
    assert body["targets"][0]["platform"] == "instagram"

    # a thread on a platform without threads
    r = create(client, env, thread=["and more"])
    assert r.status_code == 422 and r.get_json()["errors"]["targets"][str(env.fb)][0]["rule"] == "max_thread"


def test_rules_come_through_the_platform_rules_hook(client: Any, runtime: Any, env: Env) -> None:
    """A plugin answering clientnest_platform_rules tightens the rules."""
    from clientnest import PlatformRules, hookimpl

    class Tighter:
        @hookimpl(tryfirst=True)
        def clientnest_platform_rules(self, connector: Any) -> Any:
            if connector.name == "facebook":
                return PlatformRules(max_length=10, max_media=10, max_images=10)
            return None

    runtime.plugins.pm.register(Tighter(), name="tighter")
    try:
        r = create(client, env, text="more than ten characters")
        assert r.status_code == 422
        assert "allows 10" in r.get_json()["errors"]["targets"][str(env.fb)][0]["message"]
        assert ok(create(client, env, text="short"), 201)
    finally:
        runtime.plugins.pm.unregister(name="tighter")


# -- idempotency ------------------------------------------------------------------------

def test_idempotency_same_body_replays_the_first_response(client: Any, runtime: Any, env: Env) -> None:
    key = {"Idempotency-Key": "abc-123"}
    body = {"text": "Once", "account_ids": [env.fb], "publish_now": True}
    r1 = client.post(env.url, json=body, headers={**env.h, **key})
    first = ok(r1, 201)
    # same body, keys in another order: same response, nothing new stored
    r2 = client.post(env.url, json={"publish_now": True, "account_ids": [env.fb], "text": "Once"},
                     headers={**env.h, **key})
    assert r2.status_code == 201 and r2.get_json() == first
    assert r2.headers.get("Idempotent-Replayed") == "true"
    assert count_posts(runtime) == 1
    # same key, other body: 409
    r3 = client.post(env.url, json={**body, "text": "Twice"}, headers={**env.h, **key})
    assert r3.status_code == 409 and "Idempotency-Key" in r3.get_json()["message"]
    assert count_posts(runtime) == 1
    # another key: another post
    ok(client.post(env.url, json=body, headers={**env.h, "Idempotency-Key": "other"}), 201)
    assert count_posts(runtime) == 2


def test_idempotency_keys_are_per_user_and_workspace(client: Any, runtime: Any, env: Env) -> None:
    key = {"Idempotency-Key": "shared"}
    body = {"text": "Mine", "account_ids": [env.fb]}
    ok(client.post(env.url, json=body, headers={**env.h, **key}), 201)
    editor = add_member(runtime, env.wid, "editor")
    second = ok(client.post(env.url, json=body, headers={**editor, **key}), 201)
    assert count_posts(runtime) == 2 and second["created_by"] != env.owner.user_id


def test_idempotency_ignores_expired_records_and_failed_requests(
    client: Any, runtime: Any, env: Env
) -> None:
    key = {"Idempotency-Key": "k1"}
    # a refused request does not use up the key
    r = client.post(env.url, json={"text": "", "account_ids": [env.fb]}, headers={**env.h, **key})
    assert r.status_code == 422
    first = ok(client.post(env.url, json={"text": "ok", "account_ids": [env.fb]}, headers={**env.h, **key}), 201)
    # once expired, the key starts afresh (even with another body)
    ttl = runtime.settings.idempotency_ttl_seconds
    with runtime.db.transaction() as s:
        s.execute(update(IdempotencyRecord).values(created_at=now() - timedelta(seconds=ttl + 1)))
    again = ok(client.post(env.url, json={"text": "new", "account_ids": [env.fb]}, headers={**env.h, **key}), 201)
    assert again["id"] != first["id"]
    with runtime.db.session() as s:
        assert s.scalar(select(func.count()).select_from(IdempotencyRecord)) == 1


def test_idempotency_key_must_be_sane(client: Any, env: Env) -> None:
    for bad in ("", "x" * 256):
        r = create(client, env, headers={"Idempotency-Key": bad})
        assert r.status_code == 422 and "Idempotency-Key" in r.get_json()["message"]


def test_concurrent_duplicates_create_one_post(app: Any, runtime: Any, env: Env) -> None:
    n = 6
    body = {"text": "Race", "account_ids": [env.fb, env.li], "publish_now": True}
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def worker(i: int) -> None:
        c = app.test_client()
        barrier.wait()
        r = c.post(env.url, json=body, headers={**env.h, "Idempotency-Key": "race"})
        results[i] = (r.status_code, r.get_json())

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(r is not None for r in results)
    assert {code for code, _ in results} == {201}, results
    assert len({b["id"] for _, b in results}) == 1
    assert all(b == results[0][1] for _, b in results)
    assert count_posts(runtime) == 1
    with runtime.db.session() as s:
        assert s.scalar(select(func.count()).select_from(PostTarget)) == 2


# -- list -------------------------------------------------------------------------------

def test_list_paginates_newest_first(client: Any, env: Env) -> None:
    ids = [ok(create(client, env, text=f"post {i}"), 201)["id"] for i in range(25)]
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        q = f"{env.url}?limit=10" + (f"&cursor={cursor}" if cursor else "")
        page = ok(client.get(q, headers=env.h))
        assert PostPageSchema().validate(page) == {}
        seen += [p["id"] for p in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and seen == sorted(ids, reverse=True)
    default = ok(client.get(env.url, headers=env.h))
    assert len(default["items"]) == 20 and default["next_cursor"] == str(default["items"][-1]["id"])
    # list items carry targets but not attempt logs
    assert "attempt_log" not in default["items"][0]["targets"][0]


@pytest.mark.parametrize("query, field", [
    ("limit=0", "limit"), ("limit=101", "limit"), ("limit=x", "limit"),
    ("cursor=abc", "cursor"), ("status=bogus", "status"), ("account_id=x", "account_id"),
    ("from=2030-01-01T00:00:00", "from"), ("to=yesterday", "to"),
    ("from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z", "to"),
])
def test_list_rejects_bad_query(client: Any, env: Env, query: str, field: str) -> None:
    r = client.get(f"{env.url}?{query}", headers=env.h)
    assert r.status_code == 422, r.get_json()
    assert field in r.get_json()["message"]


def test_list_filters(client: Any, runtime: Any, env: Env) -> None:
    t1 = (now() + timedelta(days=1)).replace(microsecond=0)
    t2 = (now() + timedelta(days=3)).replace(microsecond=0)
    draft = ok(create(client, env, account_ids=[env.li]), 201)["id"]
    p1 = ok(create(client, env, account_ids=[env.fb], scheduled_at=t1.isoformat()), 201)["id"]
    p2 = ok(create(client, env, account_ids=[env.fb, env.li], scheduled_at=t2.isoformat()), 201)["id"]
    set_targets(runtime, p2, status="published", account_id=env.fb)

    def ids(q: str) -> list[int]:
        return [p["id"] for p in ok(client.get(f"{env.url}?{q}", headers=env.h))["items"]]

    assert ids("status=draft") == [draft]
    assert ids("status=scheduled") == [p1]
    assert ids("status=publishing") == [p2]
    assert ids("status=draft&status=scheduled") == [p1, draft]
    assert ids(f"account_id={env.fb}") == [p2, p1]
    assert ids(f"account_id={env.li}") == [p2, draft]
    assert ids("account_id=424242") == []
    enc = lambda d: d.isoformat().replace("+", "%2B")  # noqa: E731
    assert ids(f"from={enc(t1)}") == [p2, p1]
    assert ids(f"from={enc(t1 + timedelta(seconds=1))}") == [p2]
    assert ids(f"to={enc(t2)}") == [p1]
    assert ids(f"from={enc(t1)}&to={enc(t2 + timedelta(seconds=1))}&account_id={env.li}") == [p2]


def test_list_items_are_the_detail_without_attempt_logs(client: Any, runtime: Any, env: Env) -> None:
    full = ok(create(
        client, env, account_ids=[env.fb, env.li], media_ids=[env.png, env.jpeg], text="Hé 🚀",
        overrides={str(env.li): {"text": "on LinkedIn"}}, link="https://example.com/a",
        scheduled_at=(now() + timedelta(days=2)).isoformat(),
    ), 201)["id"]
    with runtime.db.transaction() as s:  # no platform here takes threads; the list shows them all the same
        s.execute(update(Post).where(Post.id == full).values(thread=["two", "three"], first_comment="first!"))
    bare = ok(create(client, env), 201)["id"]
    set_targets(runtime, full, account_id=env.fb, status="failed", attempts=3,
                last_error={"class": "PermanentError", "message": "nope"})
    items = {p["id"]: p for p in ok(client.get(env.url, headers=env.h))["items"]}
    for pid in (full, bare):
        detail = ok(client.get(env.post_url(pid), headers=env.h))
        for t in detail["targets"]:
            del t["attempt_log"]
        assert items[pid] == detail
    assert items[full]["media_ids"] == [env.png, env.jpeg]
    assert [t["text"] for t in items[full]["targets"]] == ["Hé 🚀", "on LinkedIn"]


def test_list_pages_through_a_filtered_list(client: Any, env: Env) -> None:
    later = (now() + timedelta(days=1)).isoformat()
    scheduled = [ok(create(client, env, scheduled_at=later, text=f"s{i}"), 201)["id"] for i in range(5)]
    for i in range(3):
        ok(create(client, env, text=f"d{i}"), 201)
    seen: list[int] = []
    cursor = None
    while True:
        q = f"{env.url}?limit=2&status=scheduled&account_id={env.fb}" + (f"&cursor={cursor}" if cursor else "")
        page = ok(client.get(q, headers=env.h))
        assert all(len(p["targets"]) == 1 for p in page["items"])
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(scheduled, reverse=True)


def test_list_runs_a_fixed_number_of_queries(client: Any, runtime: Any, env: Env) -> None:
    statements: list[str] = []

    def count(_conn: Any, _cur: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    def measure() -> int:
        statements.clear()
        event.listen(runtime.db.engine, "before_cursor_execute", count)
        try:
            ok(client.get(f"{env.url}?limit=50", headers=env.h))
        finally:
            event.remove(runtime.db.engine, "before_cursor_execute", count)
        return len(statements)

    for i in range(3):
        ok(create(client, env, account_ids=[env.fb, env.li], media_ids=[env.jpeg], text=f"{i}"), 201)
    few = measure()
    for i in range(20):
        ok(create(client, env, account_ids=[env.fb, env.li], media_ids=[env.jpeg], text=f"{i}"), 201)
    many = measure()
    assert few == many <= 6, statements


# -- detail -----------------------------------------------------------------------------

def test_detail_shows_attempts_and_outcome(client: Any, runtime: Any, env: Env) -> None:
    pid = ok(create(client, env, account_ids=[env.fb, env.li], publish_now=True), 201)["id"]
    t0 = now().replace(microsecond=0)
    retry = t0 + timedelta(minutes=2)
    with runtime.db.transaction() as s:
        fb = s.scalars(select(PostTarget).where(PostTarget.post_id == pid, PostTarget.account_id == env.fb)).one()
        li = s.scalars(select(PostTarget).where(PostTarget.post_id == pid, PostTarget.account_id == env.li)).one()
        s.add_all([
            PublishAttempt(target_id=fb.id, number=1, kind="publish", outcome="published",
                           started_at=t0, finished_at=t0 + timedelta(seconds=1)),
            PublishAttempt(target_id=li.id, number=1, kind="publish", outcome="not_sent",
                           started_at=t0, finished_at=t0 + timedelta(seconds=2),
                           error={"class": "not_sent", "message": "HTTP 503"}),
        ])
        fb.status, fb.attempts, fb.external_id = "published", 1, "123_456"
        fb.external_url, fb.published_at = "https://facebook.com/123_456", t0 + timedelta(seconds=1)
        li.attempts, li.next_attempt_at = 1, retry
        li.last_error = {"class": "not_sent", "message": "HTTP 503"}
    set_targets(runtime, pid, account_id=env.li, status="scheduled")
    body = ok(client.get(env.post_url(pid), headers=env.h))
    assert PostDetailSchema().validate(body) == {}
    assert body["status"] == "publishing"
    by_acc = {t["account_id"]: t for t in body["targets"]}
    fbj, lij = by_acc[env.fb], by_acc[env.li]
    assert fbj["status"] == "published" and fbj["external_id"] == "123_456"
    assert fbj["external_url"] == "https://facebook.com/123_456"
    assert at(fbj["published_at"]) == t0 + timedelta(seconds=1)
    assert fbj["attempt_log"] == [{
        "number": 1, "kind": "publish", "outcome": "published", "started_at": t0.isoformat(),
        "finished_at": (t0 + timedelta(seconds=1)).isoformat(), "error": None,
    }]
    assert lij["attempts"] == 1 and at(lij["next_attempt_at"]) == retry
    assert lij["last_error"] == {"class": "not_sent", "message": "HTTP 503"}
    assert lij["attempt_log"][0]["error"] == {"class": "not_sent", "message": "HTTP 503"}


def test_unknown_post_is_404(client: Any, env: Env) -> None:
    r = client.get(env.post_url(999_999), headers=env.h)
    assert r.status_code == 404 and r.get_json()["message"] == "post 999999 not found"


# -- patch ------------------------------------------------------------------------------

def test_patch_content_and_schedule(client: Any, runtime: Any, env: Env) -> None:
    pid = ok(create(client, env, account_ids=[env.fb, env.li]), 201)["id"]
    when = (now() + timedelta(hours=5)).replace(microsecond=0)
    body = ok(client.patch(env.post_url(pid), json={
        "text": "Changed", "media_ids": [env.jpeg], "scheduled_at": when.isoformat(),
        "overrides": {str(env.li): {"text": "LI only"}}, "first_comment": "c1",
    }, headers=env.h))
    assert PostDetailSchema().validate(body) == {}
    assert body["text"] == "Changed" and body["media_ids"] == [env.jpeg] and body["first_comment"] == "c1"
    assert body["status"] == "scheduled" and at(body["scheduled_at"]) == when
    by_acc = {t["account_id"]: t for t in body["targets"]}
    assert by_acc[env.li]["text"] == "LI only" and by_acc[env.fb]["text"] == "Changed"
    assert all(t["status"] == "scheduled" and at(t["next_attempt_at"]) == when for t in body["targets"])
    # partial: only the text changes; overrides, media and schedule stay
    body = ok(client.patch(env.post_url(pid), json={"text": "Again"}, headers=env.h))
    assert body["text"] == "Again" and body["media_ids"] == [env.jpeg]
    assert {t["account_id"]: t["text"] for t in body["targets"]} == {env.fb: "Again", env.li: "LI only"}
    assert at(body["scheduled_at"]) == when
    # an empty change changes nothing and records nothing
    assert ok(client.patch(env.post_url(pid), json={}, headers=env.h)) == body
    # back to draft
    body = ok(client.patch(env.post_url(pid), json={"scheduled_at": None}, headers=env.h))
    assert body["status"] == "draft" and all(t["next_attempt_at"] is None for t in body["targets"])
    actions = audit_actions(runtime, pid)
    assert actions.count("post.updated") == 3 and "post.status_changed" in actions


def test_patch_accounts(client: Any, runtime: Any, env: Env) -> None:
    when = (now() + timedelta(hours=5)).replace(microsecond=0)
    created = ok(create(client, env, account_ids=[env.fb, env.li], scheduled_at=when.isoformat(),
                        overrides={str(env.li): {"text": "LI"}}), 201)
    body = ok(client.patch(env.post_url(created["id"]), json={"account_ids": [env.li, env.ig],
                                                                 "media_ids": [env.jpeg]}, headers=env.h))
    by_acc = {t["account_id"]: t for t in body["targets"]}
    assert set(by_acc) == {env.li, env.ig}
    assert by_acc[env.li]["text"] == "LI"  # override kept for a remaining account
    assert by_acc[env.li]["id"] in {t["id"] for t in created["targets"]}  # same target
    assert by_acc[env.ig]["status"] == "scheduled" and at(by_acc[env.ig]["next_attempt_at"]) == when
    with runtime.db.session() as s:
        assert s.scalar(select(func.count()).select_from(PostTarget).where(PostTarget.account_id == env.fb)) == 0
    # re-validated: Instagram without the media is refused, nothing changes
    r = client.patch(env.post_url(created["id"]), json={"media_ids": []}, headers=env.h)
    assert r.status_code == 422 and r.get_json()["errors"]["targets"][str(env.ig)][0]["rule"] == "requires_media"
    assert ok(client.get(env.post_url(created["id"]), headers=env.h))["media_ids"] == [env.jpeg]
    # new accounts must be connected and ours
    r = client.patch(env.post_url(created["id"]), json={"account_ids": [env.li, env.stale]}, headers=env.h)
    assert r.status_code == 422 and "needs_reconnect" in r.get_json()["message"]
    r = client.patch(env.post_url(created["id"]), json={"account_ids": []}, headers=env.h)
    assert r.status_code == 422 and "account_ids" in r.get_json()["message"]
    r = client.patch(env.post_url(created["id"]), json={"overrides": {str(env.fb): {"text": "x"}}}, headers=env.h)
    assert r.status_code == 422 and r.get_json()["message"].startswith(f"overrides.{env.fb}")


def test_patch_validation(client: Any, env: Env) -> None:
    pid = ok(create(client, env, account_ids=[env.li]), 201)["id"]
    r = client.patch(env.post_url(pid), json={"text": "x" * 3001}, headers=env.h)
    assert r.status_code == 422 and "max_length" in r.get_json()["message"]
    r = client.patch(env.post_url(pid), json={"scheduled_at": (now() - timedelta(hours=1)).isoformat()}, headers=env.h)
    assert r.status_code == 422 and r.get_json()["message"].startswith("scheduled_at:")
    r = client.patch(env.post_url(pid), json={"scheduled_at": None, "publish_now": True}, headers=env.h)
    assert r.status_code == 422 and "publish_now" in r.get_json()["message"]
    r = client.patch(env.post_url(pid), json={"bogus": 1}, headers=env.h)
    assert r.status_code == 422 and "bogus" in r.get_json()["message"]


@pytest.mark.parametrize("state", ["queued", "publishing", "unknown", "published", "failed", "canceled"])
def test_patch_refused_once_a_target_has_started(client: Any, runtime: Any, env: Env, state: str) -> None:
    pid = ok(create(client, env, account_ids=[env.fb, env.li], publish_now=True), 201)["id"]
    set_targets(runtime, pid, account_id=env.li, status=state)
    r = client.patch(env.post_url(pid), json={"text": "late change"}, headers=env.h)
    assert r.status_code == 409
    assert f"is {state}" in r.get_json()["message"] and f"account {env.li}" in r.get_json()["message"]
    assert ok(client.get(env.post_url(pid), headers=env.h))["text"] == "Hello world"


def test_patch_racing_a_dispatcher_claim_waits_then_refuses(app: Any, runtime: Any, env: Env) -> None:
    """The dispatcher claims a due target (locks it, marks it queued, then
    updates the post): a PATCH arriving meanwhile waits for it, then sees the
    target queued and refuses; neither side deadlocks."""
    client = app.test_client()
    pid = ok(create(client, env, account_ids=[env.fb], publish_now=True), 201)["id"]
    claim = runtime.db.Session()
    try:
        claim.execute(update(PostTarget).where(PostTarget.post_id == pid).values(status="queued"))
        result: list[Any] = []
        th = threading.Thread(target=lambda: result.append(
            app.test_client().patch(env.post_url(pid), json={"text": "racing"}, headers=env.h)))
        th.start()
        th.join(0.7)
        assert th.is_alive() and not result  # waiting for the claim
        claim.execute(update(Post).where(Post.id == pid).values(status="publishing"))
        claim.commit()
    finally:
        claim.close()
    th.join(30)
    r = result[0]
    assert r.status_code == 409 and "is queued" in r.get_json()["message"]
    assert ok(client.get(env.post_url(pid), headers=env.h))["text"] == "Hello world"


def test_patch_allowed_while_held(client: Any, runtime: Any, env: Env) -> None:
    pid = ok(create(client, env, account_ids=[env.fb, env.li], publish_now=True), 201)["id"]
    set_targets(runtime, pid, account_id=env.li, status="held")
    when = (now() + timedelta(hours=1)).replace(microsecond=0)
    body = ok(client.patch(env.post_url(pid), json={"text": "fixed", "scheduled_at": when.isoformat()}, headers=env.h))
    by_acc = {t["account_id"]: t for t in body["targets"]}
    assert by_acc[env.li]["status"] == "held" and at(by_acc[env.li]["scheduled_at"]) == when
    assert by_acc[env.fb]["status"] == "scheduled" and body["status"] == "scheduled"


def test_queue_by_patch_does_not_compete_with_itself(client: Any, runtime: Any, env: Env) -> None:
    ok(client.put(f"/api/v1/workspaces/{env.wid}/accounts/{env.fb}/slots",
                  json={"slots": [{"weekday": d, "time": "12:00"} for d in range(7)]}, headers=env.h))
    first = ok(create(client, env, queue=True), 201)
    again = ok(client.patch(env.post_url(first["id"]), json={"queue": True}, headers=env.h))
    assert again["targets"][0]["next_attempt_at"] == first["targets"][0]["next_attempt_at"]


# -- delete -----------------------------------------------------------------------------

def test_delete(client: Any, runtime: Any, env: Env) -> None:
    pid = ok(create(client, env, media_ids=[env.jpeg]), 201)["id"]
    r = client.delete(env.post_url(pid), headers=env.h)
    assert r.status_code == 204 and r.data == b""
    assert client.get(env.post_url(pid), headers=env.h).status_code == 404
    assert count_posts(runtime) == 0
    assert audit_actions(runtime, pid) == ["post.created", "post.deleted"]
    assert client.delete(env.post_url(pid), headers=env.h).status_code == 404


@pytest.mark.parametrize("state, allowed", [
    ("queued", False), ("publishing", False), ("unknown", False), ("published", False),
    ("held", True), ("failed", True), ("canceled", True),
])
def test_delete_by_target_state(client: Any, runtime: Any, env: Env, state: str, allowed: bool) -> None:
    pid = ok(create(client, env, account_ids=[env.fb, env.li], publish_now=True), 201)["id"]
    set_targets(runtime, pid, account_id=env.li, status=state)
    r = client.delete(env.post_url(pid), headers=env.h)
    if allowed:
        assert r.status_code == 204
    else:
        assert r.status_code == 409
        msg = r.get_json()["message"]
        assert f"is {state}" in msg
        assert ("delete it on the platform" in msg) == (state == "published")
        assert count_posts(runtime) == 1


# -- publish and cancel -------------------------------------------------------------------

def test_publish_now_schedules_drafts_and_scheduled_targets(client: Any, runtime: Any, env: Env) -> None:
    pid = ok(create(client, env, account_ids=[env.fb, env.li]), 201)["id"]
    before = now()
    body = ok(client.post(env.post_url(pid, "/publish"), headers=env.h))
    assert body["status"] == "scheduled"
    for t in body["targets"]:
        assert t["status"] == "scheduled" and before <= at(t["next_attempt_at"]) <= now()
    assert audit_actions(runtime, pid)[-2:] == ["post.publish_requested", "post.status_changed"]
    # a scheduled post moves up to now; a held target keeps waiting
    later = (now() + timedelta(days=1)).isoformat()
    pid2 = ok(create(client, env, account_ids=[env.fb, env.li], scheduled_at=later), 201)["id"]
    set_targets(runtime, pid2, account_id=env.li, status="held")
    body = ok(client.post(env.post_url(pid2, "/publish"), headers=env.h))
    by_acc = {t["account_id"]: t for t in body["targets"]}
    assert at(by_acc[env.fb]["next_attempt_at"]) <= now() and by_acc[env.li]["status"] == "held"


def test_publish_conflicts_and_account_checks(client: Any, runtime: Any, env: Env) -> None:
    pid = ok(create(client, env, account_ids=[env.fb]), 201)["id"]
    set_targets(runtime, pid, status="published")
    r = client.post(env.post_url(pid, "/publish"), headers=env.h)
    assert r.status_code == 409 and "published" in r.get_json()["message"]
    # an account that lost its connection since the draft was written
    pid = ok(create(client, env, account_ids=[env.fb]), 201)["id"]
    with runtime.db.transaction() as s:
        s.get(SocialAccount, env.fb).status = "needs_reconnect"
    r = client.post(env.post_url(pid, "/publish"), headers=env.h)
    assert r.status_code == 422 and f"account {env.fb} is needs_reconnect" in r.get_json()["message"]


def test_cancel_stops_targets_not_started_and_reports_the_rest(client: Any, runtime: Any, env: Env) -> None:
    pid = ok(create(client, env, account_ids=[env.fb, env.li, env.ig], media_ids=[env.jpeg],
                    publish_now=True), 201)["id"]
    set_targets(runtime, pid, account_id=env.li, status="publishing")
    set_targets(runtime, pid, account_id=env.ig, status="queued")
    body = ok(client.post(env.post_url(pid, "/cancel"), headers=env.h))
    assert CancelResultSchema().validate(body) == {}
    by_acc = {t["account_id"]: t for t in body["targets"]}
    assert by_acc[env.fb]["status"] == "canceled" and by_acc[env.fb]["next_attempt_at"] is None
    assert by_acc[env.ig]["status"] == "canceled"
    assert by_acc[env.li]["status"] == "publishing"
    assert body["skipped"] == [{"target_id": by_acc[env.li]["id"], "account_id": env.li, "status": "publishing",
                                "reason": "in flight; its outcome will be recorded"}]
    assert body["status"] == "publishing"
    # the in-flight one finishes: the post is partially published
    set_targets(runtime, pid, account_id=env.li, status="published")
    body = ok(client.get(env.post_url(pid), headers=env.h))
    assert body["status"] == "partially_published"
    # nothing left to cancel
    r = client.post(env.post_url(pid, "/cancel"), headers=env.h)
    assert r.status_code == 409 and "nothing to cancel" in r.get_json()["message"]
    assert "post.canceled" in audit_actions(runtime, pid)


def test_cancel_everything_then_again(client: Any, env: Env) -> None:
    pid = ok(create(client, env, account_ids=[env.fb, env.li]), 201)["id"]
    body = ok(client.post(env.post_url(pid, "/cancel"), headers=env.h))
    assert body["status"] == "canceled" and body["skipped"] == []
    body = ok(client.post(env.post_url(pid, "/cancel"), headers=env.h))  # idempotent
    assert body["status"] == "canceled"
    r = client.post(env.post_url(pid, "/publish"), headers=env.h)
    assert r.status_code == 409


# -- auth, roles, tenant isolation, route by route ------------------------------------------

def _routes(env: Env, pid: int) -> list[tuple[str, str, Any, bool]]:
    """(method, url, json body, writes?) for every posts route."""
    return [
        ("post", env.url, {"text": "x", "account_ids": [env.fb]}, True),
        ("get", env.url, None, False),
        ("get", env.post_url(pid), None, False),
        ("patch", env.post_url(pid), {"text": "y"}, True),
        ("delete", env.post_url(pid), None, True),
        ("post", env.post_url(pid, "/publish"), None, True),
        ("post", env.post_url(pid, "/cancel"), None, True),
    ]


def test_every_route_needs_a_token(client: Any, env: Env) -> None:
    pid = ok(create(client, env), 201)["id"]
    for method, url, body, _ in _routes(env, pid):
        r = getattr(client, method)(url, json=body)
        assert r.status_code == 401, (method, url)
        r = getattr(client, method)(url, json=body, headers={"Authorization": "Bearer cn_wrong"})
        assert r.status_code == 401, (method, url)


def test_viewer_reads_but_cannot_write(client: Any, runtime: Any, env: Env) -> None:
    pid = ok(create(client, env), 201)["id"]
    viewer = add_member(runtime, env.wid, "viewer")
    for method, url, body, writes in _routes(env, pid):
        r = getattr(client, method)(url, json=body, headers=viewer)
        if writes:
            assert r.status_code == 403, (method, url, r.get_json())
            assert "editor" in r.get_json()["message"]
        else:
            assert r.status_code == 200, (method, url)
    assert count_posts(runtime) == 1 and ok(client.get(env.post_url(pid), headers=env.h))["text"] == "Hello world"


def test_editor_can_write(client: Any, runtime: Any, env: Env) -> None:
    editor = add_member(runtime, env.wid, "editor")
    pid = ok(client.post(env.url, json={"text": "e", "account_ids": [env.fb]}, headers=editor), 201)["id"]
    assert ok(client.patch(env.post_url(pid), json={"text": "e2"}, headers=editor))["text"] == "e2"
    ok(client.post(env.post_url(pid, "/publish"), headers=editor))
    ok(client.post(env.post_url(pid, "/cancel"), headers=editor))
    assert client.delete(env.post_url(pid), headers=editor).status_code == 204


def test_non_members_get_404_on_every_route(client: Any, runtime: Any, env: Env, other: Any) -> None:
    pid = ok(create(client, env), 201)["id"]
    for method, url, body, _ in _routes(env, pid):
        r = getattr(client, method)(url, json=body, headers=other.headers)
        assert r.status_code == 404, (method, url)
        assert r.get_json()["message"] == f"workspace {env.wid} not found"
    assert count_posts(runtime) == 1


def test_another_workspaces_post_is_404_through_ones_own(client: Any, runtime: Any, env: Env, other: Any) -> None:
    pid = ok(create(client, env), 201)["id"]
    base = f"/api/v1/workspaces/{other.workspace_id}/posts/{pid}"
    for method, url, body in [
        ("get", base, None), ("patch", base, {"text": "stolen"}), ("delete", base, None),
        ("post", base + "/publish", None), ("post", base + "/cancel", None),
    ]:
        r = getattr(client, method)(url, json=body, headers=other.headers)
        assert r.status_code == 404, (method, url, r.get_json())
        assert r.get_json()["message"] == f"post {pid} not found"
    listed = ok(client.get(f"/api/v1/workspaces/{other.workspace_id}/posts", headers=other.headers))
    assert listed["items"] == []
    # filtering by our account from the other workspace shows nothing either
    listed = ok(client.get(f"/api/v1/workspaces/{other.workspace_id}/posts?account_id={env.fb}",
                           headers=other.headers))
    assert listed["items"] == []
    body = ok(client.get(env.post_url(pid), headers=env.h))
    assert body["text"] == "Hello world" and body["targets"][0]["status"] == "draft"


def test_openapi_documents_the_routes(client: Any) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/workspaces/{wid}/posts"])
    assert {"get", "patch", "delete"} <= set(paths["/api/v1/workspaces/{wid}/posts/{pid}"])
    assert "post" in paths["/api/v1/workspaces/{wid}/posts/{pid}/cancel"]
    assert {"get", "put"} <= set(paths["/api/v1/workspaces/{wid}/accounts/{aid}/slots"])
    create_op = paths["/api/v1/workspaces/{wid}/posts"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in create_op["parameters"])
    assert {"201", "409", "422"} <= set(create_op["responses"])


# -- the list's page cache (api/posts/list_cache.py): API writes show at once, the
# engine's within the TTL, access checked on every request, bad queries never cached;
# on Redis when CLIENTNEST_TEST_REDIS_URL is set, in this process otherwise

@pytest.fixture
def queries(runtime: Any) -> Any:
    """SELECTs on the posts table."""
    seen: list[str] = []

    def count(_conn: Any, _cur: Any, statement: str, *_a: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM posts" in statement:
            seen.append(statement)

    event.listen(runtime.db.engine, "before_cursor_execute", count)
    yield seen
    event.remove(runtime.db.engine, "before_cursor_execute", count)


def test_a_repeated_read_is_served_from_the_cache(client: Any, env: Env, queries: list[str]) -> None:
    ok(create(client, env), 201)
    first = client.get(f"{env.url}?limit=5&status=draft", headers=env.h)
    made = len(queries)
    assert made > 0
    # same query, parameters in another order: the same page, no query
    again = client.get(f"{env.url}?status=draft&limit=5", headers=env.h)
    assert again.status_code == 200 and again.data == first.data
    assert again.content_type == "application/json"
    assert len(queries) == made
    # another query string is another page
    ok(client.get(f"{env.url}?limit=6&status=draft", headers=env.h))
    assert len(queries) > made


def test_a_write_through_the_api_shows_on_the_next_read(client: Any, env: Env) -> None:
    ok(create(client, env, text="one"), 201)
    assert [p["text"] for p in ok(client.get(env.url, headers=env.h))["items"]] == ["one"]
    pid = ok(create(client, env, text="two"), 201)["id"]
    assert [p["text"] for p in ok(client.get(env.url, headers=env.h))["items"]] == ["two", "one"]
    ok(client.patch(env.post_url(pid), json={"text": "two, edited"}, headers=env.h))
    assert [p["text"] for p in ok(client.get(env.url, headers=env.h))["items"]] == ["two, edited", "one"]
    assert client.delete(env.post_url(pid), headers=env.h).status_code == 204
    assert [p["text"] for p in ok(client.get(env.url, headers=env.h))["items"]] == ["one"]


def test_a_refused_write_keeps_the_cached_page(client: Any, env: Env, queries: list[str]) -> None:
    ok(create(client, env), 201)
    ok(client.get(env.url, headers=env.h))
    made = len(queries)
    assert create(client, env, account_ids=[env.stale]).status_code == 422
    ok(client.get(env.url, headers=env.h))
    assert len(queries) == made


def test_the_engine_changes_show_within_the_ttl(client: Any, runtime: Any, env: Env) -> None:
    pid = ok(create(client, env), 201)["id"]

    def status() -> str:
        return ok(client.get(env.url, headers=env.h))["items"][0]["targets"][0]["status"]

    assert status() == "draft"
    set_targets(runtime, pid, status="published", external_id="x1")  # as the engine does: no API request
    deadline = time.monotonic() + runtime.settings.posts_list_cache_seconds + 5
    while status() != "published":
        assert time.monotonic() < deadline, "the cached page outlived its TTL"
        time.sleep(0.05)


def test_access_is_checked_before_the_cache(client: Any, runtime: Any, env: Env, register: Any) -> None:
    ok(create(client, env), 201)
    ok(client.get(env.url, headers=env.h))  # cached now
    stranger = register(workspace_name="Elsewhere")
    assert client.get(env.url, headers=stranger.headers).status_code == 404
    assert client.get(env.url).status_code == 401
    viewer = add_member(runtime, env.wid, "viewer")
    assert client.get(env.url, headers=viewer).status_code == 200


def test_a_bad_query_is_refused_every_time(client: Any, env: Env) -> None:
    for _ in range(2):
        r = client.get(f"{env.url}?limit=1000", headers=env.h)
        assert r.status_code == 422 and "limit" in r.get_json()["errors"]["query"]


def test_ttl_zero_turns_the_cache_off(runtime: Any) -> None:
    from dataclasses import replace

    runtime.settings = replace(runtime.settings, posts_list_cache_seconds=0)
    runtime.extras.pop("posts_list_cache", None)
    assert list_cache(runtime) is None


def test_redis_down_makes_the_page_cache_a_miss_not_an_error(client: Any, runtime: Any, env: Env) -> None:
    from redis import Redis

    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2, socket_timeout=0.2)
    cache = RedisListCache(dead, 1.0)
    assert cache.get(1, "a") is None
    cache.put(1, "a", b"page")  # skipped, logged
    cache.forget(1)
    runtime.extras["posts_list_cache"] = cache  # the API's cache, with Redis gone
    pid = ok(create(client, env, text="still listed"), 201)["id"]  # the write's forget() fails softly
    page = ok(client.get(env.url, headers=env.h))
    assert [p["id"] for p in page["items"]] == [pid]
