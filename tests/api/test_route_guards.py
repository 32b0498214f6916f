"""Guards over EVERY route of the app, so a new route cannot skip them:

- a non-member gets 404 on every workspace route, whatever the method, and
  nothing is changed (invariant 4);
- every /api/v1 route except the few public ones answers 401 without a token;
- every route is in the OpenAPI document.
"""
from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select

from clientnest.models import AuditEvent

# Public on purpose: sign-up and sign-in, the browser's OAuth return, platform
# webhooks (checked by signature), probes, docs, and media fetched by platforms.
PUBLIC = {
    "/api/v1/auth/register",
    "/api/v1/auth/tokens:POST",
    "/api/v1/auth/session:POST",
    "/api/v1/auth/session:DELETE",  # without a session it only clears the cookies
    "/api/v1/oauth/<string:platform>/callback",
    "/api/v1/webhooks/<string:platform>",
}


def _routes(app: Any) -> list[tuple[str, str]]:
    out = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((rule.rule, method))
    return out


def _fill(rule: str, wid: int) -> str:
    path = rule.replace("<int:wid>", str(wid))
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: "1" if "id" in m.group(1) else "x", path)


def test_non_member_gets_404_on_every_workspace_route(app: Any, client: Any, register: Any) -> None:
    owner = register(workspace_name="Private")
    outsider = register(workspace_name="Elsewhere")
    routes = [(r, m) for r, m in _routes(app) if "<int:wid>" in r]
    assert len(routes) >= 30, routes
    with app.extensions["clientnest"].db.session() as s:
        before = s.scalar(select(func.count()).select_from(AuditEvent))
    wrong = []
    for rule, method in routes:
        r = client.open(_fill(rule, owner.workspace_id), method=method, json={}, headers=outsider.headers)
        if r.status_code != 404 or not isinstance(r.get_json(), dict) or r.get_json().get("code") != 404:
            wrong.append((method, rule, r.status_code))
    assert wrong == [], wrong
    with app.extensions["clientnest"].db.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == before  # nothing changed


def test_every_private_api_route_needs_a_token(app: Any, client: Any, register: Any) -> None:
    member = register()
    wrong = []
    for rule, method in _routes(app):
        if not rule.startswith("/api/v1/") or rule in PUBLIC or f"{rule}:{method}" in PUBLIC:
            continue
        if rule == "/api/v1/openapi.json":
            continue
        r = client.open(_fill(rule, member.workspace_id), method=method, json={})
        if r.status_code != 401:
            wrong.append((method, rule, r.status_code))
    assert wrong == [], wrong


@pytest.mark.parametrize("bad", ["Bearer nope", "Basic abc", "Bearer "])
def test_bad_credentials_are_401_json(client: Any, bad: str) -> None:
    r = client.get("/api/v1/me", headers={"Authorization": bad})
    assert r.status_code == 401
    body = r.get_json()
    assert body["code"] == 401 and body["message"]
    assert "WWW-Authenticate" in r.headers


def test_every_api_route_is_documented_in_openapi(app: Any, client: Any) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    documented = {
        (re.sub(r"\{[^}]+\}", "{}", path), method.upper())
        for path, ops in spec["paths"].items()
        for method in ops
        if method in ("get", "post", "put", "patch", "delete")
    }
    missing = []
    for rule, method in _routes(app):
        if not rule.startswith("/api/v1/") or rule == "/api/v1/openapi.json":
            continue
        key = (re.sub(r"<[^>]+>", "{}", rule), method)
        if key not in documented:
            missing.append(key)
    assert missing == []
