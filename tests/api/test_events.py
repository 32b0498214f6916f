"""GET /api/v1/workspaces/{wid}/events: the API's own event stream (the
embedded mode), and the events server (``clientnest events``) answering the
same path with the same credentials."""
from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from clientnest import events
from clientnest.api.events.server import BackgroundServer

REDIS_URL = os.environ.get("CLIENTNEST_TEST_REDIS_URL", "")


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # short waits so a test reads a quiet stream without hanging
    return {"events_heartbeat_seconds": 0.1, "events_recheck_seconds": 0.3}


def _parse(text: str) -> list[dict[str, Any]]:
    """SSE blocks as dicts (comments under ':')."""
    out = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        item: dict[str, Any] = {}
        for line in block.split("\n"):
            key, _, value = line.partition(":")
            item.setdefault(key, []).append(value.removeprefix(" "))
        out.append({k: v[0] if len(v) == 1 else v for k, v in item.items()})
    return out


def _read_until(chunks: Iterator[bytes | str], done: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
    text = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        chunk = next(chunks)
        text += chunk.decode() if isinstance(chunk, bytes) else chunk
        blocks = _parse(text)
        if done(blocks):
            return blocks
    raise AssertionError(f"not seen in time: {text!r}")


def _events_of(blocks: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(b["event"], json.loads(b["data"])) for b in blocks if "event" in b]


def _target(post_id: int = 7, status: str = "published") -> dict[str, Any]:
    return {"post_id": post_id, "target_id": 70, "account_id": 3, "platform": "twitter", "status": status,
            "from": "publishing", "published_at": "2026-01-01T00:00:00+00:00", "url": "https://x.test/1"}


# --- the API's route (embedded mode) ----------------------------------------------------


def test_a_published_event_reaches_an_open_stream(client: Any, register: Any, runtime: Any) -> None:
    member = register()
    r = client.get(f"/api/v1/workspaces/{member.workspace_id}/events", headers=member.headers, buffered=False)
    assert r.status_code == 200 and r.mimetype == "text/event-stream"
    assert r.headers["Cache-Control"] == "no-cache"
    chunks = iter(r.response)
    opening = _read_until(chunks, lambda b: any("retry" in x for x in b))
    assert opening[0]["retry"] == "3000"
    events.bus_for(runtime).publish(member.workspace_id, [
        ("target", _target()), ("post", {"post_id": 7, "status": "published", "from": "publishing"})])
    events.bus_for(runtime).publish(member.workspace_id + 999, [("post", {"post_id": 1, "status": "failed"})])
    blocks = _read_until(chunks, lambda b: any(x.get("event") == "post" for x in b))
    assert _events_of(blocks) == [
        ("target", _target()), ("post", {"post_id": 7, "status": "published", "from": "publishing"})]
    ids = [b["id"] for b in blocks if "event" in b]
    assert len(set(ids)) == 2
    assert any("" in b and b[""] == "heartbeat" for b in _read_until(chunks, lambda b: any(x.get("") == "heartbeat" for x in b)))
    r.close()
    assert events.bus_for(runtime).subscribers(member.workspace_id) == 0  # closed with the stream


def test_the_session_cookie_opens_a_stream_too(client: Any, register: Any) -> None:
    member = register()
    client.post("/api/v1/auth/session", json={"email": member.email, "password": member.password})
    r = client.get(f"/api/v1/workspaces/{member.workspace_id}/events", buffered=False)
    assert r.status_code == 200
    r.close()


def test_last_event_id_replays_the_missed_events(client: Any, register: Any, runtime: Any) -> None:
    member = register()
    bus = events.bus_for(runtime)
    bus.publish(member.workspace_id, [("target", _target(1, "queued"))])
    first_id = None
    r = client.get(f"/api/v1/workspaces/{member.workspace_id}/events", headers=member.headers, buffered=False)
    chunks = iter(r.response)
    _read_until(chunks, lambda b: any("retry" in x for x in b))
    bus.publish(member.workspace_id, [("target", _target(2, "queued"))])
    blocks = _read_until(chunks, lambda b: any("event" in x for x in b))
    first_id = [b["id"] for b in blocks if "event" in b][0]
    r.close()
    bus.publish(member.workspace_id, [("target", _target(3, "failed"))])
    again = client.get(f"/api/v1/workspaces/{member.workspace_id}/events",
                       headers={**member.headers, "Last-Event-ID": first_id}, buffered=False)
    blocks = _read_until(iter(again.response), lambda b: any("event" in x for x in b))
    assert [d["post_id"] for _, d in _events_of(blocks)] == [3]
    again.close()


def test_the_stream_ends_when_the_session_is_revoked(client: Any, register: Any, runtime: Any) -> None:
    member = register()
    client.post("/api/v1/auth/session", json={"email": member.email, "password": member.password})
    r = client.get(f"/api/v1/workspaces/{member.workspace_id}/events", buffered=False)
    chunks = iter(r.response)
    _read_until(chunks, lambda b: any("retry" in x for x in b))
    csrf = client.get_cookie("clientnest_csrf").value
    assert client.delete("/api/v1/auth/session", headers={"X-CSRF-Token": csrf}).status_code == 204
    _read_until(chunks, lambda b: any(x.get("") == "signed out" for x in b))
    assert list(chunks) == []  # and the stream is over


def test_the_stream_needs_credentials_and_membership(client: Any, register: Any) -> None:
    owner = register(workspace_name="Private")
    outsider = register(workspace_name="Elsewhere")
    url = f"/api/v1/workspaces/{owner.workspace_id}/events"
    r = client.get(url)
    assert r.status_code == 401 and r.get_json()["code"] == 401
    assert client.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401
    r = client.get(url, headers=outsider.headers)
    assert r.status_code == 404 and r.get_json()["code"] == 404
    client.post("/api/v1/auth/session", json={"email": outsider.email, "password": outsider.password})
    assert client.get(url).status_code == 404


def test_outside_the_embedded_mode_the_api_leaves_streams_to_the_events_server(
        client: Any, register: Any, runtime: Any) -> None:
    member = register()
    runtime.settings = dataclasses.replace(runtime.settings, redis_url="redis://127.0.0.1:1/0")
    r = client.get(f"/api/v1/workspaces/{member.workspace_id}/events", headers=member.headers)
    assert r.status_code == 503 and "clientnest events" in r.get_json()["message"]
    assert r.headers["Retry-After"]


def test_the_route_is_documented(client: Any) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    op = spec["paths"]["/api/v1/workspaces/{wid}/events"]["get"]
    assert "text/event-stream" in op["responses"]["200"]["content"]
    assert "event: target" in op["description"]


# --- the events server ----------------------------------------------------------------


@pytest.fixture
def events_server(runtime: Any) -> Iterator[BackgroundServer]:
    with BackgroundServer(runtime) as srv:
        yield srv


def _stream_lines(srv: BackgroundServer, wid: int, headers: dict[str, str]) -> Any:
    return httpx.stream("GET", f"{srv.url}/api/v1/workspaces/{wid}/events", headers=headers, timeout=10)


def test_the_events_server_checks_credentials_like_the_api(events_server: BackgroundServer, register: Any) -> None:
    owner = register(workspace_name="Private")
    outsider = register(workspace_name="Elsewhere")
    url = f"{events_server.url}/api/v1/workspaces/{owner.workspace_id}/events"
    r = httpx.get(url, timeout=10)
    assert r.status_code == 401 and r.json()["code"] == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    r = httpx.get(url, headers={"Authorization": "Bearer nope"}, timeout=10)
    assert r.status_code == 401 and r.json()["message"] == "invalid or revoked token"
    r = httpx.get(url, headers=outsider.headers, timeout=10)
    assert r.status_code == 404 and r.json() == {
        "code": 404, "status": "Not Found", "message": f"workspace {owner.workspace_id} not found"}
    assert httpx.get(f"{events_server.url}/healthz", timeout=10).json() == {"status": "ok"}


def test_the_events_server_streams_what_is_published(
        events_server: BackgroundServer, register: Any, runtime: Any, client: Any) -> None:
    member = register()
    client.post("/api/v1/auth/session", json={"email": member.email, "password": member.password})
    cookie = {"Cookie": f"clientnest_session={client.get_cookie('clientnest_session').value}"}
    for headers in (member.headers, cookie):
        with _stream_lines(events_server, member.workspace_id, headers) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            chunks = r.iter_text()
            _read_until(chunks, lambda b: any("retry" in x for x in b))
            events.bus_for(runtime).publish(member.workspace_id, [("target", _target())])
            blocks = _read_until(chunks, lambda b: any("event" in x for x in b))
            assert _events_of(blocks) == [("target", _target())]


@pytest.mark.skipif(not REDIS_URL, reason="CLIENTNEST_TEST_REDIS_URL not set")
class TestThroughRedis:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"events_heartbeat_seconds": 0.1, "events_recheck_seconds": 0.3, "redis_url": REDIS_URL}

    def test_a_publish_in_another_process_reaches_the_events_server(
            self, events_server: BackgroundServer, register: Any, runtime: Any) -> None:
        member = register()
        # the publisher is another bus on the same Redis: as a worker process would be
        publisher = events.RedisBus(REDIS_URL)
        try:
            with _stream_lines(events_server, member.workspace_id, member.headers) as r:
                chunks = r.iter_text()
                _read_until(chunks, lambda b: any("retry" in x for x in b))
                publisher.publish(member.workspace_id, [("target", _target()), ("post", {"post_id": 7, "status": "published", "from": "publishing"})])
                publisher.publish(member.workspace_id + 999, [("post", {"post_id": 1, "status": "failed"})])
                blocks = _read_until(chunks, lambda b: any(x.get("event") == "post" for x in b))
                got = [(b["id"], b["event"]) for b in blocks if "event" in b]
                assert [e for _, e in got] == ["target", "post"]
            # a reconnect with Last-Event-ID gets what it missed, once
            publisher.publish(member.workspace_id, [("post", {"post_id": 8, "status": "failed", "from": "publishing"})])
            with _stream_lines(events_server, member.workspace_id,
                               {**member.headers, "Last-Event-ID": got[-1][0]}) as r:
                blocks = _read_until(r.iter_text(), lambda b: any("event" in x for x in b))
                assert [d["post_id"] for _, d in _events_of(blocks)] == [8]
        finally:
            publisher.close()
