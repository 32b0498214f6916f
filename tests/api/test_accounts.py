"""Accounts: OAuth connect and callback (state single use, bound to workspace
and user, expiry, replay), several accounts to choose from, token connection,
listing and removal; roles, tenant isolation and validation route by route."""
from __future__ import annotations

import importlib.util
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import select, update

from clientnest.db import utcnow
from clientnest.models import AuditEvent, OAuthState, Post, PostTarget, SocialAccount, TargetStatus


def _load(name: str, path: Path) -> Any:
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[name] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    return sys.modules[name]


fakenet = _load("clientnest_tests_fakenet", Path(__file__).with_name("fakenet_plugin.py"))


@pytest.fixture
def runtime(runtime: Any) -> Any:
    return fakenet.install(runtime)


def connect(client: Any, m: Any, platform: str = "fakenet", wid: int | None = None, **extra: Any) -> Any:
    return client.post(f"/api/v1/workspaces/{wid or m.workspace_id}/accounts/connect",
                       json={"platform": platform, **extra}, headers=m.headers)


def callback(client: Any, platform: str, **query: str) -> Any:
    return client.get(f"/api/v1/oauth/{platform}/callback", query_string=query)


def oauth(client: Any, m: Any, user: str = "alice", platform: str = "fakenet") -> Any:
    r = connect(client, m, platform)
    assert r.status_code == 200, r.get_json()
    return callback(client, platform, code=f"code-{user}", state=r.get_json()["state"])


# -- connect -----------------------------------------------------------------------------


def test_connect_returns_authorize_url_and_stores_only_state_hash(client: Any, register: Any, runtime: Any) -> None:
    owner = register()
    r = connect(client, owner)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    state = body["state"]
    assert len(state) >= 40
    url = urlparse(body["authorization_url"])
    q = parse_qs(url.query)
    assert url.netloc == "fakenet.test"
    assert q["state"] == [state]
    assert q["redirect_uri"] == ["http://testserver/api/v1/oauth/fakenet/callback"]
    assert body["expires_at"].endswith("+00:00")
    with runtime.db.session() as s:
        row = s.scalars(select(OAuthState)).one()
        assert row.state_hash != state and len(row.state_hash) == 64
        assert row.workspace_id == owner.workspace_id and row.user_id == owner.user_id
        assert row.platform == "fakenet"
        # the PKCE verifier is kept encrypted, and decrypts to what the connector made
        assert row.verifier_encrypted and "pkce-" not in row.verifier_encrypted
        assert runtime.vault.decrypt(row.verifier_encrypted) == f"pkce-{state[:12]}"
        ttl = row.expires_at - row.created_at
        assert timedelta(minutes=9) < ttl <= timedelta(minutes=10)


@pytest.mark.parametrize("settings_overrides", [{"oauth_redirect_allowlist": "https://app.example.com/oauth/"}])
def test_connect_custom_redirect_uri_is_used_for_both_legs(client: Any, register: Any) -> None:
    owner = register()
    r = connect(client, owner, redirect_uri="https://app.example.com/oauth/done")
    assert r.status_code == 200, r.get_json()
    state = r.get_json()["state"]
    assert parse_qs(urlparse(r.get_json()["authorization_url"]).query)["redirect_uri"] == [
        "https://app.example.com/oauth/done"]
    assert callback(client, "fakenet", code="code-bob", state=state).status_code == 201
    complete = [c for c in fakenet.CALLS if c[0] == "complete_authorization"][-1]
    assert complete[3] == "https://app.example.com/oauth/done"
    assert complete[4] == f"pkce-{state[:12]}"  # the verifier came back to the connector


@pytest.mark.parametrize("uri", [
    "https://evil.example/steal",
    "http://testserver.evil.example/api/v1/oauth/fakenet/callback",
    "http://testserver@evil.example/api/v1/oauth/fakenet/callback",
    "https://testserver/api/v1/oauth/fakenet/callback",  # another scheme is another origin
    "http://testserver:8080/api/v1/oauth/fakenet/callback",
    "http://testserver/api/v1/oauth/fakenet/callback#fragment",
])
def test_connect_refuses_a_redirect_uri_off_the_public_url(client: Any, register: Any, runtime: Any, uri: str) -> None:
    """The code goes wherever redirect_uri points: only this install (or its allowlist) may receive it."""
    owner = register()
    r = connect(client, owner, redirect_uri=uri)
    assert r.status_code == 422, r.get_json()
    body = r.get_json()
    assert "redirect_uri" in body["errors"]["json"]
    assert "public URL" in body["message"] and "oauth_redirect_allowlist" in body["message"]
    with runtime.db.session() as s:
        assert s.scalars(select(OAuthState)).all() == []


def test_connect_accepts_a_redirect_uri_under_the_public_url(client: Any, register: Any) -> None:
    owner = register()
    r = connect(client, owner, redirect_uri="http://testserver/app/oauth/done?from=settings")
    assert r.status_code == 200, r.get_json()
    assert parse_qs(urlparse(r.get_json()["authorization_url"]).query)["redirect_uri"] == [
        "http://testserver/app/oauth/done?from=settings"]


@pytest.mark.parametrize("payload, field", [
    ({}, "platform"),
    ({"platform": ""}, "platform"),
    ({"platform": "fakenet", "redirect_uri": "javascript:alert(1)"}, "redirect_uri"),
    ({"platform": "fakenet", "redirect_uri": "not a url"}, "redirect_uri"),
    ({"platform": "fakenet", "surprise": 1}, "surprise"),
])
def test_connect_validation_names_field(client: Any, register: Any, payload: dict, field: str) -> None:
    owner = register()
    r = client.post(f"/api/v1/workspaces/{owner.workspace_id}/accounts/connect", json=payload, headers=owner.headers)
    assert r.status_code == 422
    assert field in r.get_json()["message"]


def test_connect_unknown_platform_and_no_oauth_are_422(client: Any, register: Any) -> None:
    owner = register()
    r = connect(client, owner, "myspace")
    assert r.status_code == 422
    assert "myspace" in r.get_json()["message"]
    assert r.get_json()["errors"]["json"]["platform"]
    r = connect(client, owner, "fakeplain")
    assert r.status_code == 422
    assert "does not support connecting through OAuth" in r.get_json()["message"]


def test_connect_roles_auth_and_isolation(client: Any, register: Any, runtime: Any) -> None:
    owner, stranger = register(), register()
    assert connect(client, owner).status_code == 200
    assert client.post(f"/api/v1/workspaces/{owner.workspace_id}/accounts/connect",
                       json={"platform": "fakenet"}).status_code == 401
    assert connect(client, stranger, wid=owner.workspace_id).status_code == 404
    for role, code in (("viewer", 403), ("editor", 403), ("admin", 200)):
        m = register()
        fakenet.join(runtime, m.user_id, owner.workspace_id, role)
        assert connect(client, m, wid=owner.workspace_id).status_code == code, role


# -- binding to the browser that began ------------------------------------------------------


def _set_cookie(r: Any) -> str:
    [header] = [h for h in r.headers.getlist("Set-Cookie") if h.startswith("clientnest_oauth_binding=")]
    return header


def test_connect_sets_a_binding_cookie_scoped_to_the_callback(client: Any, register: Any, runtime: Any) -> None:
    import hashlib

    owner = register()
    r = connect(client, owner)
    binding = r.get_json()["binding"]
    header = _set_cookie(r)
    assert header.startswith(f"clientnest_oauth_binding={binding};")
    attrs = {a.strip().split("=")[0].lower(): a.strip() for a in header.split(";")[1:]}
    assert attrs["path"] == "Path=/api/v1/oauth/fakenet/callback"
    assert "httponly" in attrs and attrs["samesite"] == "SameSite=Lax"
    assert "secure" not in attrs  # the public URL is http here
    assert attrs["max-age"] == "Max-Age=600"
    with runtime.db.session() as s:
        row = s.scalars(select(OAuthState)).one()
        # only the hash is kept, like the state's
        assert row.binding_hash == hashlib.sha256(binding.encode()).hexdigest()
        assert binding not in (row.binding_hash, row.state_hash)


@pytest.mark.parametrize("settings_overrides", [{"public_url": "https://cn.example/base"}])
def test_binding_cookie_is_secure_on_https_and_follows_the_public_path(client: Any, register: Any) -> None:
    owner = register()
    header = _set_cookie(connect(client, owner))
    assert "; Secure" in header and "Path=/base/api/v1/oauth/fakenet/callback" in header


def test_callback_from_another_browser_connects_nothing(client: Any, app: Any, register: Any, runtime: Any) -> None:
    """An admin sends their authorization_url to a victim: the victim's browser
    comes back without the admin's cookie and nothing joins the workspace."""
    admin = register()
    start = connect(client, admin).get_json()
    victim_browser = app.test_client()
    r = victim_browser.get("/api/v1/oauth/fakenet/callback", query_string={"code": "code-victim", "state": start["state"]})
    assert r.status_code == 403, r.get_json()
    assert "not started from this browser" in r.get_json()["message"]
    assert "fn-victim" not in r.get_data(as_text=True)
    # the state is spent: the admin cannot complete it afterwards with the phished code
    r = callback(client, "fakenet", code="code-victim", state=start["state"])
    assert r.status_code == 400 and "already used" in r.get_json()["message"]
    with runtime.db.session() as s:
        assert s.scalars(select(SocialAccount)).all() == []
        refused = s.scalars(select(AuditEvent).where(AuditEvent.action == "account.connect_refused")).one()
        assert refused.workspace_id == admin.workspace_id


def test_callback_with_a_wrong_binding_is_refused(client: Any, app: Any, register: Any, runtime: Any) -> None:
    owner = register()
    start = connect(client, owner).get_json()
    other = app.test_client()
    r = other.get("/api/v1/oauth/fakenet/callback", query_string={"code": "code-a", "state": start["state"]},
                  headers={"X-ClientNest-OAuth-Binding": start["binding"][:-2] + "xx"})
    assert r.status_code == 403
    with runtime.db.session() as s:
        assert s.scalars(select(SocialAccount)).all() == []


def test_api_client_completes_with_the_binding_header(client: Any, app: Any, register: Any) -> None:
    owner = register()
    start = connect(client, owner).get_json()
    api_client = app.test_client()  # no cookie jar shared with the one that started
    r = api_client.get("/api/v1/oauth/fakenet/callback", query_string={"code": "code-a", "state": start["state"]},
                       headers={"X-ClientNest-OAuth-Binding": start["binding"]})
    assert r.status_code == 201, r.get_json()


def test_callback_clears_the_binding_cookie(client: Any, register: Any) -> None:
    owner = register()
    state = connect(client, owner).get_json()["state"]
    r = callback(client, "fakenet", code="code-a", state=state)
    assert r.status_code == 201
    cleared = _set_cookie(r)
    assert "Max-Age=0" in cleared or "Expires=Thu, 01 Jan 1970" in cleared
    assert "Path=/api/v1/oauth/fakenet/callback" in cleared


def test_decline_needs_the_binding_too(client: Any, app: Any, register: Any) -> None:
    owner = register()
    state = connect(client, owner).get_json()["state"]
    r = app.test_client().get("/api/v1/oauth/fakenet/callback",
                              query_string={"state": state, "error": "access_denied"})
    assert r.status_code == 403


# -- callback ------------------------------------------------------------------------------


def test_callback_stores_one_account_encrypted(client: Any, register: Any, runtime: Any) -> None:
    owner = register()
    r = oauth(client, owner, "alice")
    assert r.status_code == 201, r.get_json()
    [acc] = r.get_json()["accounts"]
    assert acc["platform"] == "fakenet" and acc["external_id"] == "fn-alice"
    assert acc["display_name"] == "User alice" and acc["username"] == "alice" and acc["kind"] == "user"
    assert acc["status"] == "connected" and acc["status_reason"] is None
    assert acc["token_expires_at"] == "2031-01-01T00:00:00+00:00"
    assert set(acc) == {"id", "platform", "external_id", "display_name", "username", "kind", "status",
                        "status_reason", "token_expires_at", "created_at"}
    assert fakenet.SECRET not in r.get_data(as_text=True)
    with runtime.db.session() as s:
        row = s.get(SocialAccount, acc["id"])
        assert row.workspace_id == owner.workspace_id and row.connected_by == owner.user_id
        assert fakenet.SECRET not in row.credentials_encrypted
        creds = runtime.vault.decrypt(row.credentials_encrypted)
        assert creds["access_token"] == f"{fakenet.SECRET}access-alice"
        assert creds["refresh_token"] == f"{fakenet.SECRET}refresh-alice"
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.workspace_id == owner.workspace_id)).all()
        assert "account.connect_started" in actions and "account.connected" in actions


def test_callback_state_is_single_use(client: Any, register: Any) -> None:
    owner = register()
    state = connect(client, owner).get_json()["state"]
    assert callback(client, "fakenet", code="code-a", state=state).status_code == 201
    r = callback(client, "fakenet", code="code-b", state=state)
    assert r.status_code == 400
    assert "already used" in r.get_json()["message"]


def test_callback_concurrent_replay_only_one_wins(client: Any, app: Any, register: Any, runtime: Any) -> None:
    owner = register()
    start = connect(client, owner).get_json()
    state = start["state"]
    codes: list[int] = []
    barrier = threading.Barrier(4)

    def go(i: int) -> None:
        c = app.test_client()
        barrier.wait()
        codes.append(c.get("/api/v1/oauth/fakenet/callback", query_string={"code": f"code-u{i}", "state": state},
                           headers={"X-ClientNest-OAuth-Binding": start["binding"]}).status_code)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [201, 400, 400, 400]
    with runtime.db.session() as s:
        assert len(s.scalars(select(SocialAccount)).all()) == 1


@pytest.mark.parametrize("case", ["unknown", "expired", "wrong_platform"])
def test_callback_bad_state_400(client: Any, register: Any, runtime: Any, case: str) -> None:
    owner = register()
    state = connect(client, owner).get_json()["state"]
    platform = "fakenet"
    if case == "unknown":
        state = "x" + state
    elif case == "expired":
        with runtime.db.transaction() as s:
            s.execute(update(OAuthState).values(expires_at=utcnow() - timedelta(seconds=1)))
    else:
        platform = "fakemulti"
    r = callback(client, platform, code="code-a", state=state)
    assert r.status_code == 400
    msg = r.get_json()["message"]
    assert {"unknown": "unknown OAuth state", "expired": "expired",
            "wrong_platform": "issued for fakenet, not fakemulti"}[case] in msg
    assert "start connecting again" in msg
    with runtime.db.session() as s:
        assert s.scalars(select(SocialAccount)).all() == []


def test_callback_validation(client: Any) -> None:
    r = callback(client, "fakenet", code="c")
    assert r.status_code == 422 and "state" in r.get_json()["message"]
    r = callback(client, "fakenet", state="s")
    assert r.status_code == 422 and "code" in r.get_json()["message"]


def test_callback_user_declined(client: Any, register: Any) -> None:
    owner = register()
    state = connect(client, owner).get_json()["state"]
    r = callback(client, "fakenet", state=state, error="access_denied", error_description="The user denied")
    assert r.status_code == 400
    assert "access_denied: The user denied" in r.get_json()["message"]
    # the state is spent: a later code with it does not connect anything
    assert callback(client, "fakenet", state=state, code="code-a").status_code == 400


@pytest.mark.parametrize("code, status, text", [
    ("rejected", 400, "FakeNet refused: invalid_grant: the authorization code has expired"),
    ("bad-app", 400, "invalid_client: unknown application"),
    ("down", 502, "FakeNet could not be reached or failed: service unavailable"),
])
def test_callback_platform_errors(client: Any, register: Any, runtime: Any, code: str, status: int, text: str) -> None:
    owner = register()
    state = connect(client, owner).get_json()["state"]
    r = callback(client, "fakenet", code=code, state=state)
    assert r.status_code == status
    assert text in r.get_json()["message"]
    with runtime.db.session() as s:
        assert s.scalars(select(SocialAccount)).all() == []


def test_callback_refused_when_user_no_longer_admin(client: Any, register: Any, runtime: Any) -> None:
    owner = register()
    admin = register()
    fakenet.join(runtime, admin.user_id, owner.workspace_id, "admin")
    state = connect(client, admin, wid=owner.workspace_id).get_json()["state"]
    from clientnest.models import Membership

    with runtime.db.transaction() as s:
        s.execute(update(Membership).where(Membership.user_id == admin.user_id,
                                           Membership.workspace_id == owner.workspace_id).values(role="viewer"))
    r = callback(client, "fakenet", code="code-a", state=state)
    assert r.status_code == 403
    assert "no longer an admin" in r.get_json()["message"]


def test_reconnect_replaces_credentials_and_status(client: Any, register: Any, runtime: Any) -> None:
    owner = register()
    first = oauth(client, owner, "alice").get_json()["accounts"][0]
    with runtime.db.transaction() as s:
        row = s.get(SocialAccount, first["id"])
        row.status, row.status_reason = "needs_reconnect", "token revoked"
    second = oauth(client, owner, "alice.2").get_json()["accounts"][0]
    assert second["id"] == first["id"]
    assert second["status"] == "connected" and second["status_reason"] is None
    with runtime.db.session() as s:
        assert len(s.scalars(select(SocialAccount)).all()) == 1
        creds = runtime.vault.decrypt(s.get(SocialAccount, first["id"]).credentials_encrypted)
        assert creds["access_token"] == f"{fakenet.SECRET}access-alice-2"
        assert "account.reconnected" in s.scalars(select(AuditEvent.action)).all()


def test_same_account_in_two_workspaces_is_two_rows(client: Any, register: Any, runtime: Any) -> None:
    a, b = register(), register()
    ra = oauth(client, a, "alice").get_json()["accounts"][0]
    rb = oauth(client, b, "alice").get_json()["accounts"][0]
    assert ra["id"] != rb["id"]
    assert [x["id"] for x in client.get(f"/api/v1/workspaces/{a.workspace_id}/accounts", headers=a.headers).get_json()] == [ra["id"]]


# -- several accounts ---------------------------------------------------------------------


def _multi(client: Any, m: Any) -> dict:
    r = oauth(client, m, platform="fakemulti")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def select_(client: Any, m: Any, cid: int, ids: Any, wid: int | None = None) -> Any:
    return client.post(f"/api/v1/workspaces/{wid or m.workspace_id}/accounts/connect/{cid}/select",
                       json={"external_ids": ids}, headers=m.headers)


def test_several_accounts_are_offered_then_chosen(client: Any, register: Any, runtime: Any) -> None:
    owner = register()
    body = _multi(client, owner)
    assert body["platform"] == "fakemulti" and body["workspace_id"] == owner.workspace_id
    assert [c["external_id"] for c in body["candidates"]] == ["urn:fm:person:1", "urn:fm:org:10", "urn:fm:org:11"]
    assert body["candidates"][1] == {"external_id": "urn:fm:org:10", "display_name": "Org Ten", "username": None,
                                     "kind": "organization"}
    assert fakenet.SECRET not in str(body)
    with runtime.db.session() as s:
        row = s.get(OAuthState, body["connection_id"])
        assert row.candidates_encrypted and fakenet.SECRET not in row.candidates_encrypted
        assert s.scalars(select(SocialAccount)).all() == []
    r = select_(client, owner, body["connection_id"], ["urn:fm:org:11", "urn:fm:person:1"])
    assert r.status_code == 201, r.get_json()
    assert [a["external_id"] for a in r.get_json()["accounts"]] == ["urn:fm:org:11", "urn:fm:person:1"]
    with runtime.db.session() as s:
        rows = {a.external_id: a for a in s.scalars(select(SocialAccount))}
        assert set(rows) == {"urn:fm:org:11", "urn:fm:person:1"}
        assert runtime.vault.decrypt(rows["urn:fm:org:11"].credentials_encrypted)["access_token"] == f"{fakenet.SECRET}org11"
        assert s.get(OAuthState, body["connection_id"]).candidates_encrypted is None
    # single use
    r = select_(client, owner, body["connection_id"], ["urn:fm:org:10"])
    assert r.status_code == 404


def test_select_validation_and_binding(client: Any, register: Any, runtime: Any) -> None:
    owner = register()
    other_admin = register()
    fakenet.join(runtime, other_admin.user_id, owner.workspace_id, "admin")
    viewer = register()
    fakenet.join(runtime, viewer.user_id, owner.workspace_id, "viewer")
    stranger = register()
    cid = _multi(client, owner)["connection_id"]

    r = select_(client, owner, cid, ["urn:fm:org:99"])
    assert r.status_code == 422
    assert "urn:fm:org:99" in r.get_json()["message"] and r.get_json()["errors"]["json"]["external_ids"]
    r = select_(client, owner, cid, [])
    assert r.status_code == 422 and "external_ids" in r.get_json()["message"]
    assert client.post(f"/api/v1/workspaces/{owner.workspace_id}/accounts/connect/{cid}/select",
                       json={"external_ids": ["urn:fm:org:10"]}).status_code == 401
    # another admin of the same workspace did not begin it: as if it did not exist
    r = select_(client, other_admin, cid, ["urn:fm:org:10"], wid=owner.workspace_id)
    assert r.status_code == 404 and f"connection {cid} not found" in r.get_json()["message"]
    assert select_(client, viewer, cid, ["urn:fm:org:10"], wid=owner.workspace_id).status_code == 403
    assert select_(client, stranger, cid, ["urn:fm:org:10"], wid=owner.workspace_id).status_code == 404
    # the owner's own workspace id must match too
    assert select_(client, owner, cid, ["urn:fm:org:10"], wid=stranger.workspace_id).status_code == 404
    with runtime.db.transaction() as s:
        s.execute(update(OAuthState).values(expires_at=utcnow() - timedelta(seconds=1)))
    r = select_(client, owner, cid, ["urn:fm:org:10"])
    assert r.status_code == 400 and "expired" in r.get_json()["message"]
    with runtime.db.session() as s:
        assert s.scalars(select(SocialAccount)).all() == []


# -- token connection -------------------------------------------------------------------------


def token_connect(client: Any, m: Any, platform: str = "fakenet", wid: int | None = None, **creds: Any) -> Any:
    creds.setdefault("access_token", f"{fakenet.SECRET}tok-1234")
    return client.post(f"/api/v1/workspaces/{wid or m.workspace_id}/accounts",
                       json={"platform": platform, "credentials": creds}, headers=m.headers)


def test_token_connect(client: Any, register: Any, runtime: Any) -> None:
    owner = register()
    r = token_connect(client, owner, refresh_token=f"{fakenet.SECRET}r", expires_at="2030-05-01T12:00:00+02:00",
                      page_id="77", extra={"scope": "a b"})
    assert r.status_code == 201, r.get_json()
    [acc] = r.get_json()["accounts"]
    assert acc["external_id"] == "fn-tok-1234"
    assert acc["token_expires_at"] == "2030-05-01T10:00:00+00:00"
    assert fakenet.SECRET not in r.get_data(as_text=True)
    passed = [c for c in fakenet.CALLS if c[0] == "connect_with_token"][-1][2]
    assert passed["page_id"] == "77"  # platform-specific keys pass through
    assert passed["extra"] == {"scope": "a b"}
    with runtime.db.session() as s:
        creds = runtime.vault.decrypt(s.get(SocialAccount, acc["id"]).credentials_encrypted)
        assert creds["access_token"] == f"{fakenet.SECRET}tok-1234" and creds["refresh_token"] == f"{fakenet.SECRET}r"


def test_token_connect_several_accounts(client: Any, register: Any) -> None:
    owner = register()
    r = token_connect(client, owner, "fakemulti")
    assert r.status_code == 201
    assert [a["external_id"] for a in r.get_json()["accounts"]] == ["page-1", "page-2"]
    assert [a["kind"] for a in r.get_json()["accounts"]] == ["page", "page"]


@pytest.mark.parametrize("creds, field", [
    ({"access_token": ""}, "credentials.access_token"),
    ({"refresh_token": "x", "access_token": None}, "credentials.access_token"),
    ({"expires_at": "2030-05-01T12:00:00"}, "credentials.expires_at"),
    ({"expires_at": "soon"}, "credentials.expires_at"),
])
def test_token_connect_validation(client: Any, register: Any, creds: dict, field: str) -> None:
    owner = register()
    r = token_connect(client, owner, **creds)
    assert r.status_code == 422
    assert field in r.get_json()["message"]


def test_token_connect_errors(client: Any, register: Any) -> None:
    owner = register()
    r = client.post(f"/api/v1/workspaces/{owner.workspace_id}/accounts", json={"platform": "fakenet"}, headers=owner.headers)
    assert r.status_code == 422 and "credentials" in r.get_json()["message"]
    r = token_connect(client, owner, access_token="wrong-token")
    assert r.status_code == 422
    assert "Invalid OAuth access token." in r.get_json()["message"]
    assert r.get_json()["errors"]["json"]["credentials"]
    r = token_connect(client, owner, "fakeplain")
    assert r.status_code == 422 and "does not support connecting with an existing token" in r.get_json()["message"]
    r = token_connect(client, owner, "nope")
    assert r.status_code == 422 and "'nope'" in r.get_json()["message"]


def test_token_connect_roles(client: Any, register: Any, runtime: Any) -> None:
    owner, stranger = register(), register()
    assert client.post(f"/api/v1/workspaces/{owner.workspace_id}/accounts",
                       json={"platform": "fakenet", "credentials": {"access_token": "x"}}).status_code == 401
    assert token_connect(client, stranger, wid=owner.workspace_id).status_code == 404
    for role, code in (("viewer", 403), ("editor", 403), ("admin", 201)):
        m = register()
        fakenet.join(runtime, m.user_id, owner.workspace_id, role)
        assert token_connect(client, m, wid=owner.workspace_id).status_code == code, role


# -- list, get, delete ---------------------------------------------------------------------------


def test_list_get_delete(client: Any, register: Any, runtime: Any) -> None:
    owner = register()
    viewer, editor, stranger = register(), register(), register()
    fakenet.join(runtime, viewer.user_id, owner.workspace_id, "viewer")
    fakenet.join(runtime, editor.user_id, owner.workspace_id, "editor")
    acc = oauth(client, owner).get_json()["accounts"][0]
    base = f"/api/v1/workspaces/{owner.workspace_id}/accounts"

    listed = client.get(base, headers=viewer.headers)
    assert listed.status_code == 200 and [a["id"] for a in listed.get_json()] == [acc["id"]]
    assert client.get(f"{base}/{acc['id']}", headers=viewer.headers).get_json() == acc
    for path in (base, f"{base}/{acc['id']}"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers=stranger.headers).status_code == 404
    # another workspace's id space: the account is not reachable through it
    assert client.get(f"/api/v1/workspaces/{stranger.workspace_id}/accounts/{acc['id']}",
                      headers=stranger.headers).status_code == 404
    assert client.get(f"{base}/999999", headers=owner.headers).status_code == 404

    assert client.delete(f"{base}/{acc['id']}").status_code == 401
    assert client.delete(f"{base}/{acc['id']}", headers=stranger.headers).status_code == 404
    assert client.delete(f"{base}/{acc['id']}", headers=editor.headers).status_code == 403
    r = client.delete(f"{base}/{acc['id']}", headers=owner.headers)
    assert r.status_code == 204 and r.get_data() == b""
    assert client.get(f"{base}/{acc['id']}", headers=owner.headers).status_code == 404
    assert client.delete(f"{base}/{acc['id']}", headers=owner.headers).status_code == 404
    with runtime.db.session() as s:
        assert s.get(SocialAccount, acc["id"]) is None
        assert "account.deleted" in s.scalars(select(AuditEvent.action)).all()


def test_delete_refused_while_publishing(client: Any, register: Any, runtime: Any) -> None:
    owner = register()
    acc = oauth(client, owner).get_json()["accounts"][0]
    with runtime.db.transaction() as s:
        post = Post(workspace_id=owner.workspace_id, text="hi")
        s.add(post)
        s.flush()
        s.add(PostTarget(post_id=post.id, workspace_id=owner.workspace_id, account_id=acc["id"],
                         platform="fakenet", status=TargetStatus.PUBLISHING))
    r = client.delete(f"/api/v1/workspaces/{owner.workspace_id}/accounts/{acc['id']}", headers=owner.headers)
    assert r.status_code == 409
    assert "publishing right now" in r.get_json()["message"]
    with runtime.db.session() as s:
        assert s.get(SocialAccount, acc["id"]) is not None


def test_access_is_checked_before_the_body(client: Any, register: Any, runtime: Any) -> None:
    """A caller without access learns nothing from validation: 404/403 come first."""
    owner, stranger, viewer = register(), register(), register()
    fakenet.join(runtime, viewer.user_id, owner.workspace_id, "viewer")
    wid = owner.workspace_id
    for path, body in ((f"/api/v1/workspaces/{wid}/accounts/connect", {"platform": 5}),
                       (f"/api/v1/workspaces/{wid}/accounts", {"credentials": "x"}),
                       (f"/api/v1/workspaces/{wid}/accounts/connect/1/select", {"external_ids": "x"})):
        assert client.post(path, json=body).status_code == 401
        assert client.post(path, json=body, headers=stranger.headers).status_code == 404
        assert client.post(path, json=body, headers=viewer.headers).status_code == 403
        assert client.post(path, json=body, headers=owner.headers).status_code == 422
