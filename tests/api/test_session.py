"""Browser sessions: sign in for an HttpOnly cookie, CSRF on cookie-signed
writes, sign out; bearer tokens unaffected."""
from __future__ import annotations

import hashlib
from typing import Any

import pytest
from sqlalchemy import select

from clientnest.models import ApiToken

SESSION, CSRF = "clientnest_session", "clientnest_csrf"


def _set_cookie_headers(r: Any) -> dict[str, str]:
    """Set-Cookie headers of a response by cookie name."""
    return {h.split("=", 1)[0]: h for h in r.headers.getlist("Set-Cookie")}


def _sign_in(client: Any, member: Any) -> Any:
    r = client.post("/api/v1/auth/session", json={"email": member.email, "password": member.password})
    assert r.status_code == 200, r.get_json()
    return r


def _csrf(client: Any) -> str:
    cookie = client.get_cookie(CSRF)
    assert cookie is not None
    return cookie.value


def test_sign_in_sets_an_httponly_session_and_a_readable_csrf_cookie(client: Any, register: Any, runtime: Any) -> None:
    member = register()
    r = _sign_in(client, member)
    body = r.get_json()
    assert body["user"]["email"] == member.email
    assert [w["id"] for w in body["workspaces"]] == [member.workspace_id]
    assert body == client.get("/api/v1/me", headers=member.headers).get_json()  # the /me body

    cookies = _set_cookie_headers(r)
    session_h, csrf_h = cookies[SESSION], cookies[CSRF]
    assert "HttpOnly" in session_h and "SameSite=Lax" in session_h and "Path=/" in session_h
    assert "HttpOnly" not in csrf_h and "SameSite=Lax" in csrf_h
    assert "Secure" not in session_h  # public_url is http here
    assert "Max-Age=1209600" in session_h  # 14 days

    token = client.get_cookie(SESSION).value
    assert token not in r.get_data(as_text=True)  # the secret travels in Set-Cookie only
    assert _csrf(client) not in (token, hashlib.sha256(token.encode()).hexdigest())
    with runtime.db.session() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.token_hash == hashlib.sha256(token.encode()).hexdigest()))
        assert row is not None and row.label == "browser session" and row.expires_at is not None


def test_the_cookie_signs_requests_in(client: Any, register: Any) -> None:
    member = register()
    assert client.get("/api/v1/auth/session").status_code == 401
    _sign_in(client, member)
    me = client.get("/api/v1/me")
    assert me.status_code == 200 and me.get_json()["user"]["email"] == member.email
    again = client.get("/api/v1/auth/session")
    assert again.status_code == 200 and again.get_json()["user"]["id"] == member.user_id
    assert client.get(f"/api/v1/workspaces/{member.workspace_id}/posts").status_code == 200


def test_a_cookie_signed_write_needs_the_csrf_header(client: Any, register: Any) -> None:
    member = register()
    _sign_in(client, member)
    url = f"/api/v1/workspaces/{member.workspace_id}"
    refused = client.patch(url, json={"name": "Renamed"})
    assert refused.status_code == 403
    assert "X-CSRF-Token" in refused.get_json()["message"]
    wrong = client.patch(url, json={"name": "Renamed"}, headers={"X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403
    ok = client.patch(url, json={"name": "Renamed"}, headers={"X-CSRF-Token": _csrf(client)})
    assert ok.status_code == 200, ok.get_json()
    assert client.get(url).get_json()["name"] == "Renamed"


def test_another_sessions_csrf_value_is_refused(app: Any, register: Any) -> None:
    member = register()
    a, b = app.test_client(), app.test_client()
    _sign_in(a, member)
    _sign_in(b, member)
    r = a.post(f"/api/v1/workspaces/{member.workspace_id}/posts", json={"text": "hi", "account_ids": []},
               headers={"X-CSRF-Token": _csrf(b)})
    assert r.status_code == 403


def test_bearer_tokens_need_no_csrf_header_even_beside_a_cookie(client: Any, register: Any) -> None:
    member = register()
    _sign_in(client, member)
    r = client.patch(f"/api/v1/workspaces/{member.workspace_id}", json={"name": "By bearer"}, headers=member.headers)
    assert r.status_code == 200, r.get_json()


def test_bearer_without_cookie_is_unchanged(client: Any, register: Any) -> None:
    member = register()
    assert client.get_cookie(SESSION) is None
    r = client.patch(f"/api/v1/workspaces/{member.workspace_id}", json={"name": "Plain"}, headers=member.headers)
    assert r.status_code == 200
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_sign_out_revokes_the_session_and_clears_both_cookies(client: Any, register: Any, runtime: Any) -> None:
    member = register()
    _sign_in(client, member)
    token = client.get_cookie(SESSION).value
    assert client.delete("/api/v1/auth/session").status_code == 403  # no CSRF header
    r = client.delete("/api/v1/auth/session", headers={"X-CSRF-Token": _csrf(client)})
    assert r.status_code == 204
    cleared = _set_cookie_headers(r)
    assert "Max-Age=0" in cleared[SESSION] or "expires=Thu, 01 Jan 1970" in cleared[SESSION]
    assert SESSION in cleared and CSRF in cleared
    assert client.get_cookie(SESSION) is None
    with runtime.db.session() as s:
        assert s.scalar(select(ApiToken).where(
            ApiToken.token_hash == hashlib.sha256(token.encode()).hexdigest())) is None
    # the old cookie, replayed, no longer works
    client.set_cookie(SESSION, token)
    assert client.get("/api/v1/me").status_code == 401
    # the member's bearer token is untouched
    assert client.get("/api/v1/me", headers=member.headers).status_code == 200


def test_sign_out_without_a_session_only_clears_cookies(client: Any, register: Any) -> None:
    member = register()
    r = client.delete("/api/v1/auth/session", headers=member.headers)
    assert r.status_code == 204
    assert client.get("/api/v1/me", headers=member.headers).status_code == 200


def test_wrong_password_is_401_and_sets_no_cookie(client: Any, register: Any) -> None:
    member = register()
    r = client.post("/api/v1/auth/session", json={"email": member.email, "password": "wrong password!"})
    assert r.status_code == 401
    assert r.headers.getlist("Set-Cookie") == []
    missing = client.post("/api/v1/auth/session", json={"email": member.email})
    assert missing.status_code == 422 and "password" in missing.get_json()["message"]


def test_a_non_member_with_a_cookie_gets_404(client: Any, register: Any) -> None:
    owner = register(workspace_name="Private")
    outsider = register(workspace_name="Elsewhere")
    _sign_in(client, outsider)
    r = client.get(f"/api/v1/workspaces/{owner.workspace_id}/posts")
    assert r.status_code == 404 and r.get_json()["code"] == 404
    w = client.patch(f"/api/v1/workspaces/{owner.workspace_id}", json={"name": "x"},
                     headers={"X-CSRF-Token": _csrf(client)})
    assert w.status_code == 404


def test_an_expired_session_is_401(client: Any, register: Any, runtime: Any) -> None:
    from datetime import timedelta

    from clientnest.db import utcnow

    member = register()
    _sign_in(client, member)
    token = client.get_cookie(SESSION).value
    with runtime.db.transaction() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.token_hash == hashlib.sha256(token.encode()).hexdigest()))
        row.expires_at = utcnow() - timedelta(seconds=1)
    r = client.get("/api/v1/me")
    assert r.status_code == 401 and r.get_json()["message"] == "token expired"


class TestLoginLimit:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"login_rate_limit": 3}

    def test_sign_in_shares_the_token_routes_login_limit(self, client: Any, register: Any) -> None:
        member = register()  # (the fixture signs in once too: that counts)
        answers = []
        while not answers or answers[-1] == 401:
            answers.append(client.post("/api/v1/auth/tokens", json={
                "email": member.email, "password": "wrong password!", "label": "x"}).status_code)
            assert len(answers) <= 3
        assert 401 in answers and answers[-1] == 429  # the token route's limit is reached
        r = client.post("/api/v1/auth/session", json={"email": member.email, "password": member.password})
        assert r.status_code == 429 and r.headers["Retry-After"]
        assert r.headers.getlist("Set-Cookie") == []


class TestBehindHttps:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"public_url": "https://social.example.com"}

    def test_cookies_are_secure(self, client: Any, register: Any) -> None:
        member = register()
        r = _sign_in(client, member)
        cookies = _set_cookie_headers(r)
        assert "Secure" in cookies[SESSION] and "Secure" in cookies[CSRF]
        me = client.get("/api/v1/me", base_url="https://localhost")
        assert me.status_code == 200 and me.get_json()["user"]["id"] == member.user_id


def test_the_routes_are_documented(client: Any) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    assert {"get", "post", "delete"} <= set(spec["paths"]["/api/v1/auth/session"])
