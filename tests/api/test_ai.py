"""/api/v1/workspaces/{wid}/ai: access, validation, the offline default, the
DeepSeek provider (against the local fake), metering, budget, cache."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import select

from clientnest.models import AIUsageEvent
from clientnest.services import ai as service
from clientnest.testing.server import serve

deepseek = pytest.importorskip("clientnest_deepseek.fake_server")
FakeDeepSeek, Scripted = deepseek.FakeDeepSeek, deepseek.Scripted

BRIEF = "Summer sale: 20% off all leather sandals and handmade bags until Sunday at our Brooklyn store"

ROUTES = [
    ("POST", "drafts", {"brief": BRIEF, "platforms": ["twitter"]}),
    ("POST", "rewrite", {"text": BRIEF, "platform": "twitter"}),
    ("POST", "hashtags", {"text": BRIEF, "platform": "instagram", "count": 3}),
    ("POST", "sentiment", {"texts": ["I love it", "Where is my order?"]}),
    ("POST", "replies", {"comment": "Where is my order?"}),
    ("GET", "usage", None),
]


@pytest.fixture(autouse=True)
def _no_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # a developer's own key must never turn these tests into internet calls
    for key in list(os.environ):
        if key.startswith("CLIENTNEST_DEEPSEEK_") or key == "CLIENTNEST_AI_PROVIDER":
            monkeypatch.delenv(key)


@dataclass
class Crew:
    wid: int
    owner: Any
    editor: Any
    viewer: Any
    outsider: Any

    def url(self, name: str) -> str:
        return f"/api/v1/workspaces/{self.wid}/ai/{name}"


@pytest.fixture
def crew(client: Any, register: Any) -> Crew:
    owner = register(workspace_name="Sandal Shop")
    people = {}
    for role in ("editor", "viewer"):
        m = register(workspace_name=f"{role} home")
        r = client.post(f"/api/v1/workspaces/{owner.workspace_id}/members",
                        json={"email": m.email, "role": role}, headers=owner.headers)
        assert r.status_code == 202, r.get_json()
        people[role] = m
    return Crew(owner.workspace_id, owner, outsider=register(workspace_name="elsewhere"), **people)


def _call(client: Any, method: str, url: str, body: Any, headers: dict[str, str]) -> Any:
    if method == "GET":
        return client.get(url, headers=headers)
    return client.post(url, json=body, headers=headers)


def _events(runtime: Any, wid: int) -> list[AIUsageEvent]:
    with runtime.db.session() as s:
        return list(s.scalars(select(AIUsageEvent).where(AIUsageEvent.workspace_id == wid).order_by(AIUsageEvent.id)))


def _set(client: Any, crew: Crew, **settings: Any) -> None:
    r = client.patch(f"/api/v1/workspaces/{crew.wid}", json=settings, headers=crew.owner.headers)
    assert r.status_code == 200, r.get_json()


# -- access -------------------------------------------------------------------------

@pytest.mark.parametrize("method, name, body", ROUTES)
def test_every_route_needs_a_token(client: Any, crew: Crew, method: str, name: str, body: Any) -> None:
    r = _call(client, method, crew.url(name), body, {})
    assert r.status_code == 401 and r.get_json()["code"] == 401


@pytest.mark.parametrize("method, name, body", ROUTES)
def test_a_non_member_gets_404_on_every_route(client: Any, crew: Crew, runtime: Any, method: str, name: str, body: Any) -> None:
    r = _call(client, method, crew.url(name), body, crew.outsider.headers)
    assert r.status_code == 404
    assert str(crew.wid) in r.get_json()["message"]
    # and nothing was metered in the workspace
    assert _events(runtime, crew.wid) == []
    # an invalid body changes nothing: access is decided first
    r = _call(client, method, crew.url(name), {"nonsense": 1} if body else None, crew.outsider.headers)
    assert r.status_code == 404


@pytest.mark.parametrize("method, name, body", [r for r in ROUTES if r[0] == "POST"])
def test_a_viewer_cannot_use_the_ai(client: Any, crew: Crew, runtime: Any, method: str, name: str, body: Any) -> None:
    r = _call(client, method, crew.url(name), body, crew.viewer.headers)
    assert r.status_code == 403 and "editor" in r.get_json()["message"]
    assert _events(runtime, crew.wid) == []


@pytest.mark.parametrize("method, name, body", ROUTES)
@pytest.mark.parametrize("who", ["editor", "owner"])
def test_editors_and_above_use_every_route(client: Any, crew: Crew, method: str, name: str, body: Any, who: str) -> None:
    r = _call(client, method, crew.url(name), body, getattr(crew, who).headers)
    assert r.status_code == 200, r.get_json()
    if name != "usage":
        assert r.get_json()["provider"] == "offline"


def test_a_viewer_reads_the_usage(client: Any, crew: Crew) -> None:
    r = client.get(crew.url("usage"), headers=crew.viewer.headers)
    assert r.status_code == 200 and r.get_json()["budget"]["budget_usd"] == 3.0


# -- validation -----------------------------------------------------------------------

@pytest.mark.parametrize("name, body, field", [
    ("drafts", {"platforms": ["twitter"]}, "brief"),
    ("drafts", {"brief": "   ", "platforms": ["twitter"]}, "brief"),
    ("drafts", {"brief": "x", "platforms": []}, "platforms"),
    ("drafts", {"brief": "x", "platforms": ["twitter"], "variants": 9}, "variants"),
    ("drafts", {"brief": "x", "platforms": ["twitter"], "language": "english!"}, "language"),
    ("drafts", {"brief": "x", "platforms": ["myspace"]}, "platforms"),
    ("drafts", {"brief": "x", "platforms": ["twitter"], "colour": "red"}, "colour"),
    ("drafts", {"brief": "x", "platforms": ["twitter"], "provider": "skynet"}, "provider"),
    ("rewrite", {"text": "hello"}, "platform"),
    ("rewrite", {"text": "hello", "platform": "myspace"}, "platform"),
    ("hashtags", {"text": "hello", "platform": "twitter", "count": 0}, "count"),
    ("sentiment", {"texts": []}, "texts"),
    ("sentiment", {"texts": ["ok"] * 101}, "texts"),
    ("sentiment", {"texts": ["ok", ""]}, "texts"),
    ("sentiment", {"texts": "just one"}, "texts"),
    ("replies", {"context": {}}, "comment"),
    ("replies", {"comment": "hi", "context": {"max_length": 5}}, "max_length"),
    ("replies", {"comment": "hi", "context": {"platform": "myspace"}}, "context.platform"),
    ("replies", {"comment": "hi", "provider": "deepseek"}, "provider"),  # no key here
])
def test_bad_input_is_a_422_naming_the_field(client: Any, crew: Crew, runtime: Any, name: str, body: Any, field: str) -> None:
    r = client.post(crew.url(name), json=body, headers=crew.editor.headers)
    assert r.status_code == 422, r.get_json()
    payload = r.get_json()
    assert field.split(".")[-1] in payload["message"] or field in json.dumps(payload["errors"])
    assert _events(runtime, crew.wid) == []  # nothing metered for a refused request


@pytest.mark.parametrize("query, field", [
    ("from=2025-01-01T00:00:00", "from"),  # naive: refused, not guessed
    ("from=yesterday", "from"),
    ("to=2025-02-30", "to"),
    ("from=2025-03-01&to=2025-02-01", "to"),
    ("from=2023-01-01&to=2025-01-01", "to"),
])
def test_bad_usage_ranges_are_a_422_naming_the_field(client: Any, crew: Crew, query: str, field: str) -> None:
    r = client.get(f"{crew.url('usage')}?{query}", headers=crew.viewer.headers)
    assert r.status_code == 422
    assert f"invalid {field}" in r.get_json()["message"]


def test_a_platform_off_for_the_workspace_cannot_be_drafted_for(client: Any, crew: Crew) -> None:
    r = client.put(f"/api/v1/workspaces/{crew.wid}/platforms/linkedin", json={"enabled": False}, headers=crew.owner.headers)
    assert r.status_code == 200, r.get_json()
    r = client.post(crew.url("drafts"), json={"brief": "x", "platforms": ["twitter", "linkedin"]}, headers=crew.editor.headers)
    assert r.status_code == 422 and "disabled in this workspace" in r.get_json()["message"]
    assert "platforms" in r.get_json()["errors"]


# -- the offline default ----------------------------------------------------------------

def test_without_a_key_the_offline_provider_answers_and_says_so(client: Any, crew: Crew) -> None:
    r = client.post(crew.url("drafts"), json={"brief": BRIEF * 3, "platforms": ["twitter", "instagram"], "variants": 2,
                                               "tone": "playful"}, headers=crew.editor.headers)
    assert r.status_code == 200
    body = r.get_json()
    assert body["provider"] == "offline" and body["offline"] is True and body["model"] == "vader-templates-1"
    assert "no AI provider has an API key" in body["notice"]
    assert body["cost_usd"] == 0 and body["cached"] is False
    assert [d["platform"] for d in body["drafts"]] == ["twitter", "twitter", "instagram", "instagram"]
    for d in body["drafts"]:
        assert d["fits_rules"] and d["problems"] == []
        assert d["length"] == len(d["text"]) <= d["max_length"]
    assert body["drafts"][0]["max_length"] == 280
    assert body["drafts"][2]["media_required"] is True  # Instagram posts need a photo or video
    assert body["drafts"][0]["text"] != body["drafts"][1]["text"]  # variants differ


def test_the_offline_provider_answers_every_endpoint(client: Any, crew: Crew) -> None:
    h = crew.editor.headers
    r = client.post(crew.url("rewrite"), json={"text": BRIEF * 5, "platform": "twitter"}, headers=h).get_json()
    assert r["provider"] == "offline" and len(r["text"]) <= 280 and r["checks"]["fits_rules"]
    r = client.post(crew.url("hashtags"), json={"text": BRIEF, "platform": "instagram", "count": 4}, headers=h).get_json()
    assert r["provider"] == "offline" and 1 <= len(r["hashtags"]) <= 4
    assert all(t.startswith("#") and " " not in t for t in r["hashtags"])
    r = client.post(crew.url("sentiment"), json={"texts": [
        "Absolutely love these sandals, thank you!", "My order never arrived and nobody answers. Unacceptable!",
        "Do you ship to Canada?"]}, headers=h).get_json()
    assert r["provider"] == "offline"
    labels = [(x["index"], x["label"], x["needs_human"]) for x in r["results"]]
    assert labels[0] == (0, "positive", False)
    assert labels[1][1:] == ("negative", True) and "complaint" in r["results"][1]["reasons"]
    assert labels[2][2] is True and "question" in r["results"][2]["reasons"]
    r = client.post(crew.url("replies"), json={"comment": "Do you ship to Canada?"}, headers=h).get_json()
    assert r["provider"] == "offline" and r["reply"] and r["compliant"]


def test_offline_replies_follow_the_workspace_voice_and_rules(client: Any, crew: Crew) -> None:
    _set(client, crew, brand_voice="Formal and courteous", reply_rules=[
        "Never promise refunds", "No emojis", "No exclamation marks", "Sign off as The Sandal Shop team"])
    for comment in ("I want a refund NOW! These broke after one day!!", "Love them!!! 😍", "Can I return them?"):
        r = client.post(crew.url("replies"), json={"comment": comment, "context": {"platform": "twitter"}},
                        headers=crew.editor.headers)
        body = r.get_json()
        assert r.status_code == 200
        reply = body["reply"]
        assert "refund" not in reply.lower()
        assert "!" not in reply and "😍" not in reply
        assert reply.endswith("The Sandal Shop team")
        assert len(reply) <= 280
        assert body["compliant"] and body["violations"] == []
        assert body["rules"][0] == "Never promise refunds"


def test_a_reply_rule_given_with_the_request_is_added(client: Any, crew: Crew) -> None:
    r = client.post(crew.url("replies"), json={"comment": "Thanks, great service",
                                                "context": {"rules": ["never thank"]}}, headers=crew.editor.headers)
    body = r.get_json()
    assert "thank" not in body["reply"].lower() and body["compliant"]
    assert body["rules"] == ["never thank"]


# -- metering, cache and the usage report --------------------------------------------------

def test_the_same_request_is_answered_from_the_cache_and_counted(client: Any, crew: Crew, runtime: Any) -> None:
    first = client.post(crew.url("hashtags"), json={"text": BRIEF, "platform": "twitter"}, headers=crew.editor.headers)
    again = client.post(crew.url("hashtags"), json={"text": "  " + BRIEF.replace(" ", "   ") + " ", "platform": "twitter"},
                        headers=crew.owner.headers)
    assert first.get_json()["cached"] is False and again.get_json()["cached"] is True
    assert again.get_json()["hashtags"] == first.get_json()["hashtags"]
    assert again.get_json()["provider"] == "offline"
    events = _events(runtime, crew.wid)
    assert [(e.feature, e.cached, e.status) for e in events] == [("hashtags", False, "ok"), ("hashtags", True, "ok")]
    usage = client.get(crew.url("usage"), headers=crew.viewer.headers).get_json()
    assert usage["days"][0]["requests"] == 2 and usage["days"][0]["cache_hits"] == 1
    assert usage["totals"]["cache_hits"] == 1


def test_the_cache_is_per_workspace(client: Any, crew: Crew, register: Any) -> None:
    other = register(workspace_name="Other")
    body = {"text": BRIEF, "platform": "twitter"}
    client.post(crew.url("hashtags"), json=body, headers=crew.editor.headers)
    r = client.post(f"/api/v1/workspaces/{other.workspace_id}/ai/hashtags", json=body, headers=other.headers)
    assert r.get_json()["cached"] is False


def test_usage_is_reported_per_day_and_feature(client: Any, crew: Crew, runtime: Any) -> None:
    day1 = datetime(2025, 3, 10, 23, 30, tzinfo=UTC)
    day2 = datetime(2025, 3, 11, 0, 30, tzinfo=UTC)
    with runtime.db.transaction() as s:
        for at, feature, cached, hit, miss, out, cost in (
            (day1, "drafts", False, 0, 900, 300, "0.000378"),
            (day1, "drafts", True, 0, 0, 0, "0"),
            (day1, "sentiment", False, 512, 88, 200, "0.00010338"),
            (day2, "drafts", False, 640, 260, 310, "0.00022"),
            (datetime(2025, 2, 28, 12, tzinfo=UTC), "drafts", False, 0, 1, 1, "1"),  # outside the range
        ):
            s.add(AIUsageEvent(workspace_id=crew.wid, feature=feature, provider="deepseek", model="deepseek-chat",
                               cached=cached, prompt_cache_hit_tokens=hit, prompt_cache_miss_tokens=miss,
                               completion_tokens=out, cost_usd=Decimal(cost), created_at=at))
    r = client.get(f"{crew.url('usage')}?from=2025-03-01&to=2025-03-11", headers=crew.viewer.headers)
    body = r.get_json()
    assert r.status_code == 200
    assert body["from"].startswith("2025-03-01T00:00:00") and body["to"].startswith("2025-03-12T00:00:00")
    rows = [(d["day"], d["feature"], d["provider"], d["requests"], d["cache_hits"], d["prompt_cache_hit_tokens"],
             d["prompt_cache_miss_tokens"], d["completion_tokens"]) for d in body["days"]]
    assert rows == [
        ("2025-03-10", "drafts", "deepseek", 2, 1, 0, 900, 300),
        ("2025-03-10", "sentiment", "deepseek", 1, 0, 512, 88, 200),
        ("2025-03-11", "drafts", "deepseek", 1, 0, 640, 260, 310),
    ]
    assert body["days"][0]["cost_usd"] == pytest.approx(0.000378)
    assert body["totals"]["requests"] == 4 and body["totals"]["prompt_tokens"] == 900 + 600 + 900
    assert body["totals"]["cost_usd"] == pytest.approx(0.000378 + 0.00010338 + 0.00022)
    # a date-time with an offset is exclusive and can cut a day in two
    r = client.get(f"{crew.url('usage')}?from=2025-03-10T23:00:00%2B00:00&to=2025-03-11T00:00:00Z", headers=crew.viewer.headers)
    assert [(d["day"], d["feature"], d["requests"]) for d in r.get_json()["days"]] == [
        ("2025-03-10", "drafts", 2), ("2025-03-10", "sentiment", 1)]
    # another workspace's usage is never shown
    assert all(e.workspace_id == crew.wid for e in _events(runtime, crew.wid))


def test_the_memory_cache_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    cache = service.MemoryCache(max_entries=2, clock=lambda: now[0])
    cache.set("a", {"v": 1}, ttl=10)
    assert cache.get("a") == {"v": 1}
    now[0] = 111
    assert cache.get("a") is None
    cache.set("a", {"v": 1}, ttl=10)
    cache.set("b", {"v": 2}, ttl=10)
    cache.set("c", {"v": 3}, ttl=10)  # over max_entries: the oldest goes
    assert cache.get("a") is None and cache.get("c") == {"v": 3}
    assert service.cache_key(1, "drafts", "p", "m", {"x": 1}) != service.cache_key(2, "drafts", "p", "m", {"x": 1})


# -- DeepSeek (the local fake) -----------------------------------------------------------------

@pytest.fixture(scope="module")
def _fake_server() -> Iterator[tuple[Any, str]]:
    fake = FakeDeepSeek()
    with serve(fake) as url:
        yield fake, url


@pytest.fixture
def fake(_fake_server: tuple[Any, str]) -> Any:
    _fake_server[0].reset()
    return _fake_server[0]


def _deepseek_config(url: str, key: str, **extra: Any) -> dict[str, Any]:
    return {"plugin_config": {"deepseek": {"api_key": key, "base_url": url, "backoff_base": 0.01, **extra}}}


class TestDeepSeek:
    @pytest.fixture
    def settings_overrides(self, _fake_server: tuple[Any, str]) -> dict[str, Any]:
        fake, url = _fake_server
        return _deepseek_config(url, fake.api_key)

    def test_drafts_come_from_deepseek_and_are_metered_from_its_usage(self, client: Any, crew: Crew, runtime: Any, fake: Any) -> None:
        r = client.post(crew.url("drafts"), json={"brief": BRIEF, "platforms": ["twitter", "linkedin"], "variants": 2},
                        headers=crew.editor.headers)
        body = r.get_json()
        assert r.status_code == 200, body
        assert (body["provider"], body["model"], body["offline"], body["notice"]) == ("deepseek", "deepseek-chat", False, None)
        assert len(body["drafts"]) == 4 and all(d["fits_rules"] for d in body["drafts"])
        sent = fake.requests[-1].usage
        assert body["usage"]["prompt_cache_miss_tokens"] == sent["prompt_cache_miss_tokens"]
        assert body["usage"]["completion_tokens"] == sent["completion_tokens"]
        expected = (sent["prompt_cache_hit_tokens"] * 0.028 + sent["prompt_cache_miss_tokens"] * 0.28
                    + sent["completion_tokens"] * 0.42) / 1e6
        assert body["cost_usd"] == pytest.approx(expected, abs=1e-8)
        (event,) = _events(runtime, crew.wid)
        assert (event.provider, event.model, event.status, event.items, event.cached) == ("deepseek", "deepseek-chat", "ok", 4, False)
        assert event.completion_tokens == sent["completion_tokens"]
        assert float(event.cost_usd) == pytest.approx(expected, abs=1e-8)
        usage = client.get(crew.url("usage"), headers=crew.viewer.headers).get_json()
        assert usage["days"][0]["provider"] == "deepseek" and usage["days"][0]["cost_usd"] == pytest.approx(expected, abs=1e-8)
        assert usage["budget"]["spent_usd"] == pytest.approx(expected, abs=1e-8)

    def test_sentiment_of_many_comments_is_one_call(self, client: Any, crew: Crew, runtime: Any, fake: Any) -> None:
        texts = [f"Comment {i}: {'love it' if i % 2 else 'worst order ever, I want a refund'}" for i in range(60)]
        r = client.post(crew.url("sentiment"), json={"texts": texts}, headers=crew.editor.headers)
        body = r.get_json()
        assert r.status_code == 200 and fake.calls == 1
        assert [x["label"] for x in body["results"][:2]] == ["negative", "positive"]
        assert body["results"][0]["needs_human"] is True
        (event,) = _events(runtime, crew.wid)
        assert event.items == 60

    def test_the_second_identical_request_costs_nothing(self, client: Any, crew: Crew, fake: Any) -> None:
        body = {"text": BRIEF, "platform": "instagram", "count": 3}
        a = client.post(crew.url("hashtags"), json=body, headers=crew.editor.headers).get_json()
        b = client.post(crew.url("hashtags"), json=body, headers=crew.editor.headers).get_json()
        assert fake.calls == 1 and b["cached"] and b["cost_usd"] == 0 and b["hashtags"] == a["hashtags"]
        assert b["provider"] == "deepseek" and b["model"] == "deepseek-chat"

    def test_the_offline_provider_can_still_be_chosen(self, client: Any, crew: Crew, fake: Any) -> None:
        r = client.post(crew.url("sentiment"), json={"texts": ["great"], "provider": "offline"}, headers=crew.editor.headers)
        assert r.get_json()["provider"] == "offline" and fake.calls == 0

    # -- budget --
    def test_over_budget_is_a_402_with_budget_and_spend_and_no_call(self, client: Any, crew: Crew, runtime: Any, fake: Any) -> None:
        now = datetime.now(UTC)
        with runtime.db.transaction() as s:
            s.add(AIUsageEvent(workspace_id=crew.wid, feature="drafts", provider="deepseek", model="deepseek-chat",
                               cost_usd=Decimal("2.9999"), created_at=now))
            # last month's spend does not count against this month
            s.add(AIUsageEvent(workspace_id=crew.wid, feature="drafts", provider="deepseek", model="deepseek-chat",
                               cost_usd=Decimal("50"), created_at=now.replace(day=1) - timedelta(days=2)))
        r = client.post(crew.url("drafts"), json={"brief": BRIEF, "platforms": ["twitter"]}, headers=crew.editor.headers)
        body = r.get_json()
        assert r.status_code == 402
        assert body["errors"]["budget"]["budget_usd"] == 3.0
        assert body["errors"]["budget"]["spent_usd"] == pytest.approx(2.9999)
        assert body["errors"]["budget"]["estimated_cost_usd"] > 0.0001
        assert "$3.00" in body["message"] and "2.9999" in body["message"] and "PATCH" in body["message"]
        assert fake.calls == 0
        assert len(_events(runtime, crew.wid)) == 2  # nothing reserved for a refused request
        # free answers still work: the offline provider, and the cache
        r = client.post(crew.url("drafts"), json={"brief": BRIEF, "platforms": ["twitter"], "provider": "offline"},
                        headers=crew.editor.headers)
        assert r.status_code == 200
        # an admin raises the budget and the request goes through
        _set(client, crew, ai_budget_usd=10)
        r = client.post(crew.url("drafts"), json={"brief": BRIEF, "platforms": ["twitter"]}, headers=crew.editor.headers)
        assert r.status_code == 200 and fake.calls == 1

    def test_a_zero_budget_turns_paid_ai_off(self, client: Any, crew: Crew, fake: Any) -> None:
        _set(client, crew, ai_budget_usd=0)
        r = client.post(crew.url("replies"), json={"comment": "hello"}, headers=crew.editor.headers)
        assert r.status_code == 402 and r.get_json()["errors"]["budget"]["spent_usd"] == 0
        assert fake.calls == 0

    def test_concurrent_requests_cannot_overrun_the_budget(self, client: Any, crew: Crew, runtime: Any, fake: Any) -> None:
        _set(client, crew, ai_budget_usd=0)
        refused = client.post(crew.url("drafts"), json={"brief": "brief number 00", "platforms": ["twitter"]},
                              headers=crew.editor.headers).get_json()
        estimate = refused["errors"]["budget"]["estimated_cost_usd"]
        budget = Decimal(str(estimate)) * Decimal("2.5")
        with runtime.db.transaction() as s:  # 4 decimal places through the API is too coarse here
            from clientnest.models import Workspace
            s.get(Workspace, crew.wid).ai_budget_usd = budget
        gate = threading.Event()
        fake.push(*[Scripted(hold=gate) for _ in range(5)])  # every request stays in flight until the gate opens
        statuses: list[int] = []
        lock = threading.Lock()

        def one(i: int) -> None:
            c = client.application.test_client()
            r = c.post(crew.url("drafts"), json={"brief": f"brief number {i:02d}", "platforms": ["twitter"]},
                       headers=crew.editor.headers)
            with lock:
                statuses.append(r.status_code)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(1, 6)]
        for t in threads:
            t.start()
        try:
            deadline = time.monotonic() + 20
            while len(statuses) < 3 and time.monotonic() < deadline:
                time.sleep(0.02)
            # two reservations hold the budget while their calls are in flight: the other three are refused
            assert statuses == [402, 402, 402]
            reserved = [e for e in _events(runtime, crew.wid) if e.status == "reserved"]
            assert len(reserved) == 2 and all(e.cost_usd == Decimal(str(estimate)) for e in reserved)
        finally:  # never leave requests running past the test
            gate.set()
            for t in threads:
                t.join(30)
        assert sorted(statuses) == [200, 200, 402, 402, 402]
        assert [e.status for e in _events(runtime, crew.wid)] == ["ok", "ok"]
        with runtime.db.session() as s:
            assert service.month_spend(s, crew.wid) <= budget

    # -- provider errors --
    @pytest.mark.parametrize("status, http, reason, words", [
        (401, 502, "ai_auth", "rejected the API key"),
        (402, 502, "ai_balance", "insufficient balance"),
        (422, 502, "ai_request", "Invalid Parameters"),
    ])
    def test_provider_refusals_are_clear_and_distinct(self, client: Any, crew: Crew, runtime: Any, fake: Any,
                                                      status: int, http: int, reason: str, words: str) -> None:
        fake.fail(status)
        r = client.post(crew.url("drafts"), json={"brief": BRIEF, "platforms": ["twitter"]}, headers=crew.editor.headers)
        body = r.get_json()
        assert r.status_code == http
        assert body["errors"]["provider"] == {"name": "deepseek", "reason": reason, "status": status}
        assert words in body["message"]
        assert fake.api_key not in json.dumps(body)
        (event,) = _events(runtime, crew.wid)
        assert event.status == "failed" and event.cost_usd == 0  # the reservation is released
        assert fake.calls == 1

    def test_overload_after_retries_is_a_503_with_retry_after(self, client: Any, crew: Crew, fake: Any) -> None:
        fake.fail(503, times=3, headers={"Retry-After": "0"})
        r = client.post(crew.url("hashtags"), json={"text": BRIEF, "platform": "twitter"}, headers=crew.editor.headers)
        assert r.status_code == 503 and fake.calls == 3
        assert r.headers["Retry-After"] == "1"
        assert r.get_json()["errors"]["provider"]["reason"] == "not_sent"

    def test_a_transient_failure_is_retried_invisibly(self, client: Any, crew: Crew, fake: Any) -> None:
        fake.fail(429, headers={"Retry-After": "0"}).fail(500)
        r = client.post(crew.url("hashtags"), json={"text": BRIEF, "platform": "twitter"}, headers=crew.editor.headers)
        assert r.status_code == 200 and fake.calls == 3

    def test_invalid_output_twice_is_a_502_and_the_billed_tokens_are_metered(self, client: Any, crew: Crew, runtime: Any, fake: Any) -> None:
        fake.push(Scripted(content="not json"), Scripted(content='{"wrong": true}'))
        r = client.post(crew.url("rewrite"), json={"text": BRIEF, "platform": "twitter"}, headers=crew.editor.headers)
        assert r.status_code == 502 and r.get_json()["errors"]["provider"]["reason"] == "ai_output"
        assert "after one repair attempt" in r.get_json()["message"]
        (event,) = _events(runtime, crew.wid)
        assert event.status == "failed"
        assert event.completion_tokens == sum(x.usage["completion_tokens"] for x in fake.requests)
        assert event.cost_usd > 0
        usage = client.get(crew.url("usage"), headers=crew.viewer.headers).get_json()
        assert usage["days"][0]["failed"] == 1

    def test_a_reply_breaking_a_rule_is_asked_again(self, client: Any, crew: Crew, fake: Any) -> None:
        _set(client, crew, reply_rules=["Never promise refunds"], brand_voice="friendly")
        fake.push(Scripted(content=json.dumps({"reply": "So sorry! We will refund you today."})),
                  Scripted(content=json.dumps({"reply": "So sorry! Please DM us your order number."})))
        r = client.post(crew.url("replies"), json={"comment": "Broken sandals, I want my money back"},
                        headers=crew.editor.headers)
        body = r.get_json()
        assert body["reply"] == "So sorry! Please DM us your order number." and body["compliant"]
        second = fake.requests[1].body["messages"][1]["content"]
        assert "Never promise refunds" in second and "broke these rules: mentions 'refund'" in second

    def test_a_reply_that_still_breaks_a_rule_is_flagged(self, client: Any, crew: Crew, fake: Any) -> None:
        _set(client, crew, reply_rules=["Never promise refunds"])
        bad = Scripted(content=json.dumps({"reply": "We will refund you."}))
        fake.push(bad, bad)
        body = client.post(crew.url("replies"), json={"comment": "money back!"}, headers=crew.editor.headers).get_json()
        assert body["compliant"] is False and body["violations"] == ["mentions 'refund'"]
        assert fake.calls == 2

    def test_a_slow_provider_is_a_504_within_bounds(self, client: Any, crew: Crew, runtime: Any, fake: Any) -> None:
        runtime.plugins.provider("deepseek").client.read_timeout = 0.3
        fake.push(Scripted(delay=2))
        started = datetime.now(UTC)
        r = client.post(crew.url("hashtags"), json={"text": BRIEF, "platform": "twitter"}, headers=crew.editor.headers)
        assert r.status_code == 504 and (datetime.now(UTC) - started).total_seconds() < 1.5


class TestFallback:
    @pytest.fixture
    def settings_overrides(self, _fake_server: tuple[Any, str]) -> dict[str, Any]:
        _, url = _fake_server
        return {"ai_provider": "deepseek", "plugin_config": {"deepseek": {"base_url": url}}}

    def test_the_configured_provider_without_a_key_falls_back_to_offline(self, client: Any, crew: Crew, fake: Any) -> None:
        r = client.post(crew.url("hashtags"), json={"text": BRIEF, "platform": "twitter"}, headers=crew.editor.headers)
        body = r.get_json()
        assert body["provider"] == "offline" and "'deepseek' has no API key" in body["notice"]
        assert fake.calls == 0


# -- the cache in Redis -----------------------------------------------------------------------

def _redis_url() -> str:
    raw = os.environ.get("CLIENTNEST_TEST_REDIS_URL")
    if not raw:
        pytest.skip("CLIENTNEST_TEST_REDIS_URL not set")
    parts = urlsplit(raw)
    return urlunsplit((parts.scheme, parts.netloc, "/14", parts.query, parts.fragment))  # this area's DB


@pytest.fixture
def redis_url() -> Iterator[str]:
    import redis

    url = _redis_url()
    r = redis.Redis.from_url(url)
    for key in r.scan_iter(service.RedisCache.PREFIX + "*"):
        r.delete(key)
    yield url
    for key in r.scan_iter(service.RedisCache.PREFIX + "*"):
        r.delete(key)
    r.close()


def test_the_redis_cache_is_shared_across_processes(redis_url: str) -> None:
    a, b = service.RedisCache(redis_url), service.RedisCache(redis_url)
    try:
        a.set("k1", {"value": ["#A"], "provider": "p", "model": "m"}, ttl=60)
        assert b.get("k1") == {"value": ["#A"], "provider": "p", "model": "m"}
        code = (
            "import json, sys\n"
            "from clientnest.services.ai import RedisCache\n"
            "c = RedisCache(sys.argv[1])\n"
            "print(json.dumps(c.get('k1')))\n"
            "c.set('k2', {'from': 'child'}, ttl=60)\n"
        )
        out = subprocess.run([sys.executable, "-c", code, redis_url], capture_output=True, text=True, timeout=60, check=True)
        assert json.loads(out.stdout) == {"value": ["#A"], "provider": "p", "model": "m"}
        assert a.get("k2") == {"from": "child"}
    finally:
        a.close()
        b.close()


def test_a_redis_failure_is_a_cache_miss_not_an_error() -> None:
    cache = service.RedisCache("redis://127.0.0.1:1/0")  # nothing listens on port 1
    assert cache.get("k") is None
    cache.set("k", {"v": 1}, ttl=10)  # logged, not raised
    cache.close()


class TestRedisBackedRuntime:
    @pytest.fixture
    def settings_overrides(self, redis_url: str) -> dict[str, Any]:
        return {"redis_url": redis_url}

    def test_two_runtimes_share_answers_through_redis(self, client: Any, crew: Crew, runtime: Any, database_url: str,
                                                      tmp_path: Any, redis_url: str) -> None:
        from clientnest.api import create_app
        from clientnest.runtime import build_runtime, set_current
        from clientnest.settings import load_settings

        assert isinstance(service.response_cache(runtime), service.RedisCache)
        body = {"text": BRIEF, "platform": "twitter"}
        first = client.post(crew.url("hashtags"), json=body, headers=crew.editor.headers).get_json()
        other_rt = build_runtime(load_settings({
            "database_url": database_url, "data_dir": str(tmp_path / "other"), "fernet_keys": ",".join(runtime.settings.fernet_keys),
            "embedded_dispatcher": False, "redis_url": redis_url,
        }))
        try:
            other = create_app(runtime=other_rt).test_client()
            second = other.post(crew.url("hashtags"), json=body, headers=crew.editor.headers).get_json()
        finally:
            other_rt.close()
            set_current(runtime)
        assert first["cached"] is False and second["cached"] is True
        assert second["hashtags"] == first["hashtags"]
