"""End to end in the embedded mode, as a newcomer uses `make run`: a real HTTP
server with the sandboxes mounted at /sandbox/<name>, the engine's dispatcher
thread and in-process jobs. For each bundled platform: connect an account
through the OAuth flow (the sandbox approves at once), publish a post with
``publish_now``, see it published, and find it again on the platform through
the connector's lookup.
"""
from __future__ import annotations

import io
import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from PIL import Image

from clientnest.api import create_app
from clientnest.db import utcnow
from clientnest.models import SocialAccount
from clientnest.services.accounts import to_connector_account
from clientnest import PostContent
from clientnest.testing.server import ServerThread

PLATFORMS = ["twitter", "facebook", "instagram", "linkedin"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def port() -> int:
    return _free_port()


@pytest.fixture
def settings_overrides(port: int) -> dict[str, Any]:
    return {
        "sandbox": True,
        "public_url": f"http://127.0.0.1:{port}",
        "dispatch_interval_seconds": 0.2,
    }


@pytest.fixture
def served_app(runtime: Any, port: int) -> Iterator[tuple[str, Any]]:
    """The app on a real port, with the engine running: (base URL, app)."""
    from clientnest.engine import embedded

    app = create_app(runtime=runtime)
    srv = ServerThread(app, port=port).start()
    embedded.start(runtime)
    try:
        yield srv.url, app
    finally:
        embedded.stop()
        srv.stop()


@pytest.fixture
def server(served_app: tuple[str, Any]) -> str:
    return served_app[0]


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (1080, 1080), (200, 30, 60)).save(buf, "JPEG")
    return buf.getvalue()


def _register(http: httpx.Client, label: str) -> int:
    """Register (202: the same answer for a new and a taken email), sign in
    for a token, and return the new workspace's id."""
    creds = {"email": f"e2e-{label}@example.com", "password": "correct horse battery"}
    reg = http.post("/api/v1/auth/register", json={**creds, "workspace_name": "E2E"})
    assert reg.status_code == 202, reg.text
    tok = http.post("/api/v1/auth/tokens", json={**creds, "label": "e2e"})
    assert tok.status_code == 201, tok.text
    http.headers["Authorization"] = f"Bearer {tok.json()['token']}"
    return http.get("/api/v1/me").json()["workspaces"][0]["id"]


def _settled(http: httpx.Client, wid: int, post: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and post["status"] not in ("published", "failed", "partially_published"):
        time.sleep(0.2)
        post = http.get(f"/api/v1/workspaces/{wid}/posts/{post['id']}").json()
    return post


def _connect(http: httpx.Client, wid: int, platform: str) -> int:
    r = http.post(f"/api/v1/workspaces/{wid}/accounts/connect", json={"platform": platform})
    assert r.status_code in (200, 201), r.text
    # The browser goes to the platform; the sandbox approves at once and
    # redirects back to our callback with code and state.
    approve = httpx.get(r.json()["authorization_url"], follow_redirects=False, timeout=10)
    assert approve.status_code in (302, 303), approve.text
    callback = approve.headers["location"]
    assert "state=" in callback and "code=" in callback
    done = http.get(callback)
    assert done.status_code in (200, 201), done.text
    body = done.json()
    if done.status_code == 200:  # several identities: the user picks one
        first = body["candidates"][0]["external_id"]
        sel = http.post(
            f"/api/v1/workspaces/{wid}/accounts/connect/{body['connection_id']}/select",
            json={"external_ids": [first]},
        )
        assert sel.status_code == 201, sel.text
        body = sel.json()
    accounts = body["accounts"]
    assert len(accounts) == 1 and accounts[0]["platform"] == platform
    assert accounts[0]["status"] == "connected"
    assert "credentials" not in accounts[0]
    return accounts[0]["id"]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_connect_and_publish_through_the_sandbox(server: str, runtime: Any, platform: str) -> None:
    http = httpx.Client(base_url=server, timeout=30)
    creds = {"email": f"e2e-{platform}@example.com", "password": "correct horse battery"}
    reg = http.post("/api/v1/auth/register", json={**creds, "workspace_name": "E2E"})
    assert reg.status_code == 202, reg.text
    tok = http.post("/api/v1/auth/tokens", json={**creds, "label": "e2e"})
    assert tok.status_code == 201, tok.text
    http.headers["Authorization"] = f"Bearer {tok.json()['token']}"
    wid = http.get("/api/v1/me").json()["workspaces"][0]["id"]

    account_id = _connect(http, wid, platform)

    body: dict[str, Any] = {
        "text": f"Hello from ClientNest on {platform} #launch",
        "account_ids": [account_id],
        "publish_now": True,
    }
    if platform == "instagram":  # Instagram posts need media
        up = http.post(f"/api/v1/workspaces/{wid}/media", files={"file": ("p.jpg", _jpeg(), "image/jpeg")})
        assert up.status_code == 201, up.text
        body["media_ids"] = [up.json()["id"]]
    since = utcnow() - timedelta(seconds=5)
    created = http.post(f"/api/v1/workspaces/{wid}/posts", json=body)
    assert created.status_code == 201, created.text
    pid = created.json()["id"]

    deadline = time.monotonic() + 60
    post = created.json()
    while time.monotonic() < deadline and post["status"] not in ("published", "failed", "partially_published"):
        time.sleep(0.2)
        post = http.get(f"/api/v1/workspaces/{wid}/posts/{pid}").json()
    target = post["targets"][0]
    assert post["status"] == "published", post
    assert target["external_id"], target

    # The platform (its sandbox) really has it: the connector's exact lookup finds it.
    with runtime.db.session() as s:
        row = s.get(SocialAccount, account_id)
        account = to_connector_account(runtime.vault, row)
    connector = runtime.plugins.connector(platform)
    found = runtime.plugins.hook.clientnest_find_published(
        connector=connector, account=account, content=PostContent(text=body["text"]), since=since,
    )
    assert found is not None and found.external_id == target["external_id"]


def test_instagram_downloads_the_uploaded_bytes_from_the_public_media_url(
    served_app: tuple[str, Any], runtime: Any
) -> None:
    """Upload through the API, publish to Instagram: its sandbox downloads the
    image from ClientNest's public media URL, as Instagram does, and gets the
    very bytes uploaded; the same URL serves them to anyone."""
    import hashlib

    url, app = served_app
    sandbox = app.wsgi_app.mounts["/sandbox/instagram"]
    http = httpx.Client(base_url=url, timeout=30)
    wid = _register(http, "media-bytes")
    account_id = _connect(http, wid, "instagram")
    data = _jpeg()
    up = http.post(f"/api/v1/workspaces/{wid}/media", files={"file": ("p.jpg", data, "image/jpeg")})
    assert up.status_code == 201, up.text
    media_url = up.json()["url"]
    assert media_url.startswith(f"{url}/media/")

    created = http.post(f"/api/v1/workspaces/{wid}/posts", json={
        "text": "Downloaded by Instagram", "account_ids": [account_id], "media_ids": [up.json()["id"]],
        "publish_now": True})
    assert created.status_code == 201, created.text
    post = _settled(http, wid, created.json())
    assert post["status"] == "published", post
    fetched = sandbox.state.media[post["targets"][0]["external_id"]]["fetched"]
    assert fetched == {"url": media_url, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                       "kind": "image"}
    public = httpx.get(media_url, timeout=10)  # no token: platforms fetch by URL
    assert public.status_code == 200 and public.content == data
    assert public.headers["content-type"] == "image/jpeg"


def test_instagram_cannot_download_the_media_and_the_target_fails_with_its_message(
    served_app: tuple[str, Any], runtime: Any
) -> None:
    from clientnest.storage import storage_for

    url, app = served_app
    http = httpx.Client(base_url=url, timeout=30)
    wid = _register(http, "media-gone")
    account_id = _connect(http, wid, "instagram")
    up = http.post(f"/api/v1/workspaces/{wid}/media", files={"file": ("p.jpg", _jpeg(), "image/jpeg")})
    assert up.status_code == 201, up.text
    media_url = up.json()["url"]
    # the bytes are gone from storage: the public URL answers 404 to Instagram
    storage_for(runtime).delete(media_url.rsplit("/media/", 1)[1])
    assert httpx.get(media_url, timeout=10).status_code == 404

    created = http.post(f"/api/v1/workspaces/{wid}/posts", json={
        "text": "Never downloaded", "account_ids": [account_id], "media_ids": [up.json()["id"]],
        "publish_now": True})
    assert created.status_code == 201, created.text
    post = _settled(http, wid, created.json())
    target = post["targets"][0]
    assert post["status"] == "failed" and target["status"] == "failed", post
    assert target["external_id"] is None
    message = f"The media could not be fetched from this uri: {media_url}. Please check the uri and try again."
    assert message in str(target["last_error"]), target
def test_a_browser_session_sees_its_post_publish_live(server: str) -> None:
    """As the web app does it: sign in for the session cookie, write with the
    CSRF header, keep the workspace's event stream open, publish, and see the
    target and the post turn published on the stream."""
    import json
    import queue
    import threading

    anon = httpx.Client(base_url=server, timeout=30)
    reg = anon.post("/api/v1/auth/register", json={
        "email": "browser@example.com", "password": "correct horse battery", "workspace_name": "Live"})
    assert reg.status_code == 202, reg.text

    browser = httpx.Client(base_url=server, timeout=30)
    signed = browser.post("/api/v1/auth/session", json={"email": "browser@example.com", "password": "correct horse battery"})
    assert signed.status_code == 200 and "clientnest_session" in browser.cookies
    wid = signed.json()["workspaces"][0]["id"]
    browser.headers["X-CSRF-Token"] = browser.cookies["clientnest_csrf"]
    account_id = _connect(browser, wid, "twitter")

    lines: queue.Queue[str] = queue.Queue()

    def listen() -> None:
        with httpx.stream("GET", f"{server}/api/v1/workspaces/{wid}/events", cookies=browser.cookies,
                          timeout=60) as r:
            assert r.status_code == 200
            for line in r.iter_lines():
                lines.put(line)

    threading.Thread(target=listen, daemon=True).start()
    assert lines.get(timeout=10).startswith("retry:")

    created = browser.post(f"/api/v1/workspaces/{wid}/posts", json={
        "text": "Live from the dashboard", "account_ids": [account_id], "publish_now": True})
    assert created.status_code == 201, created.text
    pid = created.json()["id"]

    seen: list[tuple[str, dict[str, Any]]] = []
    kind = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = lines.get(timeout=60)
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: ") and kind:
            seen.append((kind, json.loads(line.removeprefix("data: "))))
            if seen[-1] == ("post", {"post_id": pid, "status": "published", "from": "publishing"}):
                break
    target = [d for k, d in seen if k == "target" and d["status"] == "published"]
    assert target and target[0]["post_id"] == pid and target[0]["account_id"] == account_id, seen
    assert target[0]["url"] and target[0]["published_at"]
    assert seen[-1][0] == "post" and seen[-1][1]["status"] == "published", seen
