"""Registration, API tokens, /me, and the login rate limiter."""
from __future__ import annotations

import hashlib
import logging
import os
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select, text

from clientnest.crypto import verify_password
from clientnest.models import ApiToken, AuditEvent, Membership, User, Workspace
from clientnest.ratelimit import RateLimiter, limiter_for
from clientnest.services import identity

PASSWORD = "correct horse battery"


def _session(runtime: Any) -> Any:
    return runtime.db.Session()


def _new_token(client: Any, member: Any, **extra: Any) -> Any:
    body = {"email": member.email, "password": member.password, "label": "ci", **extra}
    return client.post("/api/v1/auth/tokens", json=body)


# --- registration ------------------------------------------------------------


def _sign_in(client: Any, email: str, password: str = PASSWORD) -> dict[str, Any]:
    r = client.post("/api/v1/auth/tokens", json={"email": email, "password": password, "label": "first"})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_register_creates_user_workspace_owner_then_sign_in_gives_a_token(client: Any, runtime: Any) -> None:
    r = client.post("/api/v1/auth/register", json={
        "email": "  Ada@Example.COM ", "password": PASSWORD, "workspace_name": "Analytical",
    })
    assert r.status_code == 202, r.get_json()
    body = r.get_json()
    assert set(body) == {"message", "next"} and "POST /api/v1/auth/tokens" in body["next"]
    assert PASSWORD not in r.get_data(as_text=True) and "cn_" not in r.get_data(as_text=True)

    with _session(runtime) as s:
        user = s.scalar(select(User).where(User.email == "ada@example.com"))
        m = s.scalar(select(Membership).where(Membership.user_id == user.id))
        ws = s.get(Workspace, m.workspace_id)
        assert (ws.name, ws.timezone, m.role) == ("Analytical", "UTC", "owner")
        assert user.password_hash.startswith("scrypt$") and PASSWORD not in user.password_hash
        assert verify_password(PASSWORD, user.password_hash)
        assert s.scalars(select(ApiToken)).all() == []  # no token until the user signs in
        actions = sorted(s.scalars(select(AuditEvent.action)))
    assert actions == ["member.added", "user.registered", "workspace.created"]

    token = _sign_in(client, "ada@example.com")["token"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.get_json()["user"]["email"] == "ada@example.com"
    assert [w["role"] for w in me.get_json()["workspaces"]] == ["owner"]


def test_register_takes_name_and_timezone(client: Any) -> None:
    r = client.post("/api/v1/auth/register", json={
        "email": "tz@example.com", "password": PASSWORD, "workspace_name": "Paris office",
        "name": "Zoé", "timezone": "Europe/Paris",
    })
    assert r.status_code == 202
    token = _sign_in(client, "tz@example.com")["token"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert me["user"]["name"] == "Zoé"
    assert me["workspaces"][0]["timezone"] == "Europe/Paris"


@pytest.mark.parametrize(("field", "change"), [
    ("email", {"email": "not-an-email"}),
    ("email", {"email": None}),
    ("password", {"password": "9chars!!!"}),
    ("password", {"password": " " * 10}),
    ("password", {"password": "a b c d e f g h i"}),
    ("password", {"password": "x" * 1025}),
    ("password", {"password": "zzzzzzzzzzzz"}),
    ("password", {"password": "Password1234"}),
    ("password", {"password": "qwerty uiop"}),
    ("timezone", {"timezone": "Mars/Olympus_Mons"}),
    ("timezone", {"timezone": "../../etc/passwd"}),
    ("workspace_name", {"workspace_name": "   "}),
    ("workspace_name", {"workspace_name": None}),
])
def test_register_rejects_bad_input_naming_the_field(client: Any, runtime: Any, field: str, change: dict[str, Any]) -> None:
    body = {"email": "bad@example.com", "password": PASSWORD, "workspace_name": "W", **change}
    body = {k: v for k, v in body.items() if v is not None}
    r = client.post("/api/v1/auth/register", json=body)
    assert r.status_code == 422
    err = r.get_json()
    assert field in err["message"]
    assert field in err["errors"]["json"]
    with _session(runtime) as s:
        assert s.scalar(select(User.id)) is None  # nothing half-written


def test_register_with_a_taken_email_answers_like_a_new_one_and_changes_nothing(
    client: Any, register: Any, runtime: Any,
) -> None:
    register(email="dup@example.com")
    taken = client.post("/api/v1/auth/register", json={
        "email": "DUP@example.com", "password": "another good passphrase", "workspace_name": "Second",
    })
    fresh = client.post("/api/v1/auth/register", json={
        "email": "fresh@example.com", "password": "another good passphrase", "workspace_name": "Second",
    })
    # the same status, headers that matter and body: nothing tells the two apart
    assert taken.status_code == fresh.status_code == 202
    assert taken.get_json() == fresh.get_json()
    assert "dup@example.com" not in taken.get_data(as_text=True)
    with _session(runtime) as s:
        dup = s.scalar(select(User).where(User.email == "dup@example.com"))
        assert verify_password("correct horse battery", dup.password_hash)  # password unchanged
        assert s.scalar(select(func.count()).select_from(Membership).where(Membership.user_id == dup.id)) == 1
        # only the fresh address got a workspace "Second"
        assert [w.name for w in s.scalars(select(Workspace).order_by(Workspace.id))] == ["Acme", "Second"]


def test_weak_password_is_refused_for_taken_and_new_emails_alike(client: Any, register: Any) -> None:
    register(email="known@example.com")
    for email in ("known@example.com", "unknown@example.com"):
        r = client.post("/api/v1/auth/register", json={"email": email, "password": "1234567890", "workspace_name": "W"})
        assert r.status_code == 422
        assert r.get_json()["errors"]["json"]["password"] == ["is one of the most common passwords; choose another"]


def test_password_rules() -> None:
    from clientnest.passwords import common_passwords, password_problem

    assert len(common_passwords()) > 1000
    assert password_problem("correct horse battery") is None
    assert password_problem("          ") == "must have at least 10 characters that are not spaces"
    assert "common" in (password_problem("Pass Word 1234") or "")
    assert "different" in (password_problem("abababababab") or "")


# --- tokens ----------------------------------------------------------------------


def test_create_token_stores_only_its_sha256(client: Any, register: Any, runtime: Any) -> None:
    member = register()
    r = _new_token(client, member, label="deploy bot")
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    token = body["token"]
    assert set(body) == {"id", "token", "label", "prefix", "created_at", "expires_at"}
    assert body["label"] == "deploy bot" and body["expires_at"] is None
    assert body["prefix"] == token[:10]

    with _session(runtime) as s:
        row = s.get(ApiToken, body["id"])
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        # the plain token is in no column of the table
        raw = s.execute(text("SELECT * FROM api_tokens")).all()
    assert all(token not in str(v) for values in raw for v in values)

    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_create_token_with_expiry(client: Any, register: Any) -> None:
    member = register()
    r = _new_token(client, member, expires_in_days=30)
    assert r.status_code == 201
    expires = datetime.fromisoformat(r.get_json()["expires_at"])
    assert expires.utcoffset() == timedelta(0)
    assert abs(expires - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=1)

    r = _new_token(client, member, expires_at="2099-06-01T09:30:00+02:00")
    assert r.status_code == 201
    # same instant, returned in UTC with its offset
    assert datetime.fromisoformat(r.get_json()["expires_at"]) == datetime(2099, 6, 1, 7, 30, tzinfo=UTC)
    assert r.get_json()["expires_at"].endswith("+00:00")


@pytest.mark.parametrize(("field", "extra"), [
    ("expires_at", {"expires_at": "2099-01-01T00:00:00"}),         # naive: rejected, not guessed
    ("expires_at", {"expires_at": "2001-01-01T00:00:00+00:00"}),   # past
    ("expires_at", {"expires_at": "next tuesday"}),
    ("expires_in_days", {"expires_in_days": 0}),
    ("expires_in_days", {"expires_at": "2099-01-01T00:00:00Z", "expires_in_days": 3}),
    ("label", {"label": ""}),
    ("email", {"email": "nope"}),
])
def test_create_token_rejects_bad_input_naming_the_field(client: Any, register: Any, field: str, extra: dict[str, Any]) -> None:
    member = register()
    r = _new_token(client, member, **extra)
    assert r.status_code == 422
    assert field in r.get_json()["message"]


def test_wrong_credentials_get_one_generic_401(client: Any, register: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    member = register()
    checks: list[str] = []
    real = identity.verify_password

    def counting(password: str, stored: str) -> bool:
        checks.append(stored)
        return real(password, stored)

    monkeypatch.setattr(identity, "verify_password", counting)
    wrong = client.post("/api/v1/auth/tokens", json={"email": member.email, "password": "wrong password!", "label": "x"})
    unknown = client.post("/api/v1/auth/tokens", json={"email": "ghost@example.com", "password": "wrong password!", "label": "x"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json()["message"] == unknown.get_json()["message"] == "invalid email or password"
    # the unknown email still paid for a password check (timing)
    assert len(checks) == 2 and all(c.startswith("scrypt$") for c in checks)


def test_email_in_token_request_is_case_insensitive(client: Any, register: Any) -> None:
    member = register(email="Case@Example.com")
    r = client.post("/api/v1/auth/tokens", json={"email": "CASE@example.COM", "password": member.password, "label": "x"})
    assert r.status_code == 201


@pytest.mark.parametrize(("method", "path"), [
    ("get", "/api/v1/auth/tokens"),
    ("delete", "/api/v1/auth/tokens/1"),
    ("get", "/api/v1/me"),
])
@pytest.mark.parametrize("header", [None, "Bearer cn_not-a-real-token", "Basic dXNlcjpwYXNz", "Bearer "])
def test_bearer_routes_need_a_valid_token(client: Any, register: Any, method: str, path: str, header: str | None) -> None:
    register()
    headers = {"Authorization": header} if header is not None else {}
    r = getattr(client, method)(path, headers=headers)
    assert r.status_code == 401
    assert r.get_json()["code"] == 401 and r.get_json()["message"]
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_expired_token_is_refused(client: Any, register: Any, runtime: Any) -> None:
    member = register()
    body = _new_token(client, member, expires_in_days=1).get_json()
    headers = {"Authorization": f"Bearer {body['token']}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    with runtime.db.transaction() as s:
        s.get(ApiToken, body["id"]).expires_at = datetime.now(UTC) - timedelta(seconds=1)
    r = client.get("/api/v1/me", headers=headers)
    assert r.status_code == 401
    assert "expired" in r.get_json()["message"]


def test_expired_or_revoked_token_is_refused_on_a_workspace_route_at_once(client: Any, register: Any, runtime: Any) -> None:
    member = register()
    body = _new_token(client, member, expires_in_days=1).get_json()
    headers = {"Authorization": f"Bearer {body['token']}"}
    posts = f"/api/v1/workspaces/{member.workspace_id}/posts"
    assert client.get(posts, headers=headers).status_code == 200
    with runtime.db.transaction() as s:
        s.get(ApiToken, body["id"]).expires_at = datetime.now(UTC) - timedelta(seconds=1)
    r = client.get(posts, headers=headers)
    assert r.status_code == 401 and "expired" in r.get_json()["message"]
    assert client.get(posts, headers=member.headers).status_code == 200
    tid = client.get("/api/v1/auth/tokens", headers=member.headers).get_json()[0]["id"]
    assert client.delete(f"/api/v1/auth/tokens/{tid}", headers=member.headers).status_code == 204
    r = client.get(posts, headers=member.headers)
    assert r.status_code == 401 and r.get_json()["message"] == "invalid or revoked token"


def test_last_used_at_is_written_at_most_once_a_minute(client: Any, register: Any, runtime: Any) -> None:
    member = register()
    body = _new_token(client, member).get_json()
    headers = {"Authorization": f"Bearer {body['token']}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    with _session(runtime) as s:
        first = s.get(ApiToken, body["id"]).last_used_at
    assert client.get(f"/api/v1/workspaces/{member.workspace_id}", headers=headers).status_code == 200
    with _session(runtime) as s:
        assert s.get(ApiToken, body["id"]).last_used_at == first
    with runtime.db.transaction() as s:
        s.get(ApiToken, body["id"]).last_used_at = first - timedelta(seconds=61)
    before = datetime.now(UTC)
    assert client.get(f"/api/v1/workspaces/{member.workspace_id}", headers=headers).status_code == 200
    with _session(runtime) as s:
        assert s.get(ApiToken, body["id"]).last_used_at >= before - timedelta(seconds=1)


def test_list_tokens_never_shows_token_or_hash(client: Any, register: Any, runtime: Any) -> None:
    member = register()
    second = _new_token(client, member, label="second").get_json()
    other = register()  # someone else's tokens are not listed
    r = client.get("/api/v1/auth/tokens", headers=member.headers)
    assert r.status_code == 200
    tokens = r.get_json()
    assert [t["label"] for t in tokens] == ["tests", "second"]
    for t in tokens:
        assert set(t) == {"id", "label", "prefix", "created_at", "expires_at", "last_used_at", "current"}
    assert [t["current"] for t in tokens] == [True, False]
    with _session(runtime) as s:
        hashes = list(s.scalars(select(ApiToken.token_hash)))
    text_body = r.get_data(as_text=True)
    assert second["token"] not in text_body and member.token not in text_body and other.token not in text_body
    assert not any(h in text_body for h in hashes)


def test_deleted_token_stops_working_at_once(client: Any, register: Any, runtime: Any) -> None:
    member = register()
    second = _new_token(client, member, label="second").get_json()
    h2 = {"Authorization": f"Bearer {second['token']}"}
    assert client.get("/api/v1/me", headers=h2).status_code == 200
    r = client.delete(f"/api/v1/auth/tokens/{second['id']}", headers=member.headers)
    assert r.status_code == 204 and r.data == b""
    assert client.get("/api/v1/me", headers=h2).status_code == 401
    assert client.get("/api/v1/me", headers=member.headers).status_code == 200
    with _session(runtime) as s:
        ev = s.scalar(select(AuditEvent).where(AuditEvent.action == "token.revoked"))
        assert ev is not None and ev.object_id == str(second["id"]) and ev.actor_user_id == member.user_id


def test_revoking_the_token_in_use_logs_it_out(client: Any, register: Any) -> None:
    member = register()
    tid = client.get("/api/v1/auth/tokens", headers=member.headers).get_json()[0]["id"]
    assert client.delete(f"/api/v1/auth/tokens/{tid}", headers=member.headers).status_code == 204
    assert client.get("/api/v1/me", headers=member.headers).status_code == 401


def test_someone_elses_token_is_404_and_keeps_working(client: Any, register: Any) -> None:
    alice, bob = register(), register()
    bob_tid = client.get("/api/v1/auth/tokens", headers=bob.headers).get_json()[0]["id"]
    r = client.delete(f"/api/v1/auth/tokens/{bob_tid}", headers=alice.headers)
    assert r.status_code == 404
    assert client.get("/api/v1/me", headers=bob.headers).status_code == 200
    assert client.delete("/api/v1/auth/tokens/999999", headers=alice.headers).status_code == 404


def test_last_used_at_is_recorded(client: Any, register: Any, runtime: Any) -> None:
    member = register()
    body = _new_token(client, member).get_json()
    with _session(runtime) as s:
        assert s.get(ApiToken, body["id"]).last_used_at is None
    before = datetime.now(UTC)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"}).status_code == 200
    with _session(runtime) as s:
        used = s.get(ApiToken, body["id"]).last_used_at
    assert used is not None and before - timedelta(seconds=1) <= used <= datetime.now(UTC)
    listed = {t["id"]: t for t in client.get("/api/v1/auth/tokens", headers=member.headers).get_json()}
    assert datetime.fromisoformat(listed[body["id"]]["last_used_at"]) == used


def test_me_lists_workspaces_with_roles(client: Any, register: Any) -> None:
    owner = register(workspace_name="Mine")
    guest = register(workspace_name="Guest home")
    r = client.post(f"/api/v1/workspaces/{owner.workspace_id}/members",
                    json={"email": guest.email, "role": "editor"}, headers=owner.headers)
    assert r.status_code == 202
    me = client.get("/api/v1/me", headers=guest.headers).get_json()
    assert me["user"]["id"] == guest.user_id and set(me["user"]) == {"id", "email", "name", "created_at"}
    assert [(w["id"], w["name"], w["role"]) for w in me["workspaces"]] == [
        (owner.workspace_id, "Mine", "editor"), (guest.workspace_id, "Guest home", "owner"),
    ]
    assert all(set(w) == {"id", "name", "timezone", "role"} for w in me["workspaces"])


# --- secrets -----------------------------------------------------------------------


def test_no_password_token_or_hash_in_any_response_log_or_audit(client: Any, runtime: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    password = "s3cret-Passw0rd-xyz"
    responses = []
    r = client.post("/api/v1/auth/register", json={"email": "sec@example.com", "password": password, "workspace_name": "S"})
    responses.append(r)
    r = client.post("/api/v1/auth/tokens", json={"email": "sec@example.com", "password": password, "label": "first"})
    responses.append(r)
    first = r.get_json()["token"]
    h = {"Authorization": f"Bearer {first}"}
    r = client.post("/api/v1/auth/tokens", json={"email": "sec@example.com", "password": password, "label": "l"})
    responses.append(r)
    second = r.get_json()
    responses.append(client.post("/api/v1/auth/tokens", json={"email": "sec@example.com", "password": password + "x", "label": "l"}))
    responses.append(client.post("/api/v1/auth/register", json={"email": "sec@example.com", "password": password, "workspace_name": "S"}))
    responses.append(client.post("/api/v1/auth/register", json={"email": "x@example.com", "password": "short", "workspace_name": "S"}))
    responses.append(client.get("/api/v1/auth/tokens", headers=h))
    responses.append(client.get("/api/v1/me", headers=h))
    responses.append(client.delete(f"/api/v1/auth/tokens/{second['id']}", headers=h))

    with _session(runtime) as s:
        hashes = list(s.scalars(select(ApiToken.token_hash)))
        pw_hash = s.scalar(select(User.password_hash))
        audit_rows = [str(v) for row in s.execute(text("SELECT * FROM audit_events")).all() for v in row]
    hashes.append(hashlib.sha256(second["token"].encode()).hexdigest())
    assert len(hashes) == 2

    secrets = [password, pw_hash, *hashes]
    for resp in responses:
        dumped = resp.get_data(as_text=True) + str(resp.headers)
        assert not any(sec in dumped for sec in secrets), resp.request.path
    # each token appears in exactly the one response that created it
    assert sum(first in resp.get_data(as_text=True) for resp in responses) == 1
    assert sum(second["token"] in resp.get_data(as_text=True) for resp in responses) == 1

    logged = caplog.text + " ".join(str(rec.args) for rec in caplog.records)
    assert caplog.records, "the flow should log something to check"
    for sec in [*secrets, first, second["token"]]:
        assert sec not in logged
    assert audit_rows and not any(sec in v for v in audit_rows for sec in [*secrets, first, second["token"]])


# --- rate limiting ------------------------------------------------------------------


def _as(addr: str) -> dict[str, Any]:
    return {"environ_base": {"REMOTE_ADDR": addr}}


@pytest.mark.parametrize("settings_overrides", [{"login_rate_limit": 3}])
def test_failures_from_one_address_do_not_lock_the_owner_out(client: Any, register: Any) -> None:
    member = register()
    for _ in range(3):  # an attacker at one address guesses
        r = client.post("/api/v1/auth/tokens", json={"email": member.email, "password": "wrong password", "label": "x"},
                        **_as("10.0.0.66"))
        assert r.status_code == 401
    # that address is now refused on this account, even with the right password
    r = client.post("/api/v1/auth/tokens", json={"email": member.email, "password": member.password, "label": "x"},
                    **_as("10.0.0.66"))
    assert r.status_code == 429
    body = r.get_json()
    assert body["code"] == 429 and "try again" in body["message"]
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert member.password not in r.get_data(as_text=True)
    # the owner, elsewhere, still signs in
    r = client.post("/api/v1/auth/tokens", json={"email": member.email, "password": member.password, "label": "x"},
                    **_as("10.0.0.7"))
    assert r.status_code == 201, r.get_json()


@pytest.mark.parametrize("settings_overrides", [{"login_address_rate_limit": 3}])
def test_token_creation_is_limited_per_address(client: Any) -> None:
    for i in range(3):  # three emails, one address
        r = client.post("/api/v1/auth/tokens", json={"email": f"u{i}@example.com", "password": "whatever!", "label": "x"},
                        **_as("10.9.9.9"))
        assert r.status_code == 401
    r = client.post("/api/v1/auth/tokens", json={"email": "u9@example.com", "password": "whatever!", "label": "x"},
                    **_as("10.9.9.9"))
    assert r.status_code == 429 and "Retry-After" in r.headers
    r = client.post("/api/v1/auth/tokens", json={"email": "u9@example.com", "password": "whatever!", "label": "x"},
                    **_as("10.9.9.10"))
    assert r.status_code == 401


@pytest.mark.parametrize("settings_overrides", [{"login_rate_limit": 2}])
def test_registration_is_limited_per_address(client: Any, runtime: Any) -> None:
    def reg(n: int, addr: str) -> Any:
        return client.post("/api/v1/auth/register", json={
            "email": f"r{n}@example.com", "password": PASSWORD, "workspace_name": "W"}, **_as(addr))

    assert reg(1, "10.1.1.1").status_code == 202
    assert reg(2, "10.1.1.1").status_code == 202
    r = reg(3, "10.1.1.1")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    with _session(runtime) as s:
        assert s.scalar(select(User.id).where(User.email == "r3@example.com")) is None
    assert reg(3, "10.1.1.2").status_code == 202


def test_fixed_window_counts_and_resets() -> None:
    now = [1000.0]
    limiter = RateLimiter(2, 60, clock=lambda: now[0])
    assert limiter.backend == "memory"
    d1 = limiter.hit("a")
    now[0] = 1040.0
    d2, d3 = limiter.hit("a"), limiter.hit("a")
    assert (d1.allowed, d2.allowed, d3.allowed) == (True, True, False)
    assert d3.count == 3 and d3.retry_after == 20  # the window opened at the first hit: [1000, 1060)
    assert limiter.hit("b").allowed  # keys are independent
    # a hit on two keys is denied when either is over, and counts on both
    assert not limiter.hit("a", "c").allowed
    assert limiter.hit("c").count == 2
    now[0] = 1059.9  # still the same window: no reset at a clock minute
    assert not limiter.hit("a").allowed
    now[0] = 1060.0  # the window is over
    assert limiter.hit("a").allowed and limiter.hit("a").count == 2
    with pytest.raises(ValueError):
        RateLimiter(0)


def test_a_burst_across_a_clock_minute_is_still_limited() -> None:
    now = [1079.5]  # half a second before a clock-minute boundary
    limiter = RateLimiter(3, 60, clock=lambda: now[0])
    assert [limiter.hit("k").allowed for _ in range(3)] == [True, True, True]
    now[0] = 1080.5  # a fixed clock-aligned window would have reset here
    assert not limiter.hit("k").allowed


def test_runtime_limiter_follows_settings() -> None:
    rt = SimpleNamespace(settings=SimpleNamespace(login_rate_limit=7, login_address_rate_limit=9,
                                                  member_add_rate_limit=4, redis_url=""), extras={})
    limiter = limiter_for(rt)  # type: ignore[arg-type]
    assert limiter is limiter_for(rt) and limiter.limit == 7 and limiter.backend == "memory"
    assert limiter_for(rt, "login_address").limit == 9 and limiter_for(rt, "member_add").limit == 4  # type: ignore[arg-type]
    assert limiter_for(rt, "login_address") is not limiter  # type: ignore[arg-type]


def test_unreachable_redis_falls_back_to_in_process_counting(caplog: pytest.LogCaptureFixture) -> None:
    # port 1 on loopback: connection refused at once
    limiter = RateLimiter(1, 60, redis_url="redis://127.0.0.1:1/0")
    assert limiter.backend == "redis"
    assert limiter.hit("k").allowed
    assert not limiter.hit("k").allowed
    assert "Redis unavailable" in caplog.text
    limiter.close()


REDIS_URL = os.environ.get("CLIENTNEST_TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="CLIENTNEST_TEST_REDIS_URL not set")


@needs_redis
def test_redis_backend_is_shared_between_processes() -> None:
    from redis import Redis

    prefix = f"cn-test-rl-{uuid.uuid4().hex}:"
    now = [5000.0]
    # two limiters = two API processes sharing one Redis
    a = RateLimiter(3, 60, redis_url=REDIS_URL or "", prefix=prefix, clock=lambda: now[0])
    b = RateLimiter(3, 60, redis_url=REDIS_URL or "", prefix=prefix, clock=lambda: now[0])
    try:
        assert a.backend == "redis"
        assert [a.hit("x").count, b.hit("x").count, a.hit("x").count] == [1, 2, 3]
        denied = b.hit("x")
        assert not denied.allowed and 1 <= denied.retry_after <= 60  # the window opened at the first hit
        r = Redis.from_url(REDIS_URL or "")
        keys = [k.decode() for k in r.scan_iter(match=f"{prefix}*")]
        assert keys == [f"{prefix}x"]
        assert 0 < r.ttl(keys[0]) <= 60  # the key, and with it the window, goes away on its own
        r.delete(keys[0])  # as if the window had ended
        assert a.hit("x").count == 1  # a new window
        r.delete(*r.keys(f"{prefix}*"))
        r.close()
    finally:
        a.close()
        b.close()


@needs_redis
def test_api_rate_limit_on_redis(client: Any, runtime: Any, register: Any) -> None:
    member = register()
    # the runtime's limiter, on Redis, with a key prefix of this test only
    runtime.extras["ratelimit"] = RateLimiter(2, 60, redis_url=REDIS_URL or "", prefix=f"cn-test-rl-{uuid.uuid4().hex}:")
    body = {"email": member.email, "password": "wrong password", "label": "x"}
    assert [client.post("/api/v1/auth/tokens", json=body).status_code for _ in range(3)] == [401, 401, 429]


def test_request_rows_carry_every_column_of_their_models() -> None:
    """``g.user``, ``g.workspace``, ``g.membership`` are plain rows read by one
    query; a column added to a model must reach them (the password hash never)."""
    from clientnest.api.security import Caller, CallerToken, MembershipRow, WorkspaceRow
    from clientnest.models import Membership, User, Workspace

    def columns(model: Any) -> set[str]:
        return {c.key for c in model.__mapper__.column_attrs}

    assert set(Caller._fields) == columns(User) - {"password_hash"}
    assert set(WorkspaceRow._fields) == columns(Workspace)
    assert set(MembershipRow._fields) == columns(Membership)
    assert set(CallerToken._fields) <= columns(ApiToken)
