"""Workspaces: list, create, read, settings; plus, for every workspace route of
the identity area, the role matrix (docs/roles.md), 401 without a token and 404
for non-members."""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from clientnest.models import AuditEvent, Workspace

ROLES = ("viewer", "editor", "admin", "owner")


@dataclass
class Team:
    wid: int
    by_role: dict[str, Any]
    target: Any     # a viewer the member routes act on
    outsider: Any   # registered, not a member

    def headers(self, role: str) -> dict[str, str]:
        return self.by_role[role].headers


@pytest.fixture
def team(client: Any, register: Any) -> Team:
    owner = register(workspace_name="Team")
    wid = owner.workspace_id
    by_role = {"owner": owner}
    for role in ("admin", "editor", "viewer"):
        m = register(workspace_name=f"{role} home")
        r = client.post(f"/api/v1/workspaces/{wid}/members", json={"email": m.email, "role": role}, headers=owner.headers)
        assert r.status_code == 202, r.get_json()
        by_role[role] = m
    target = register(workspace_name="target home")
    assert client.post(f"/api/v1/workspaces/{wid}/members", json={"email": target.email, "role": "viewer"},
                       headers=owner.headers).status_code == 202
    return Team(wid, by_role, target, register(workspace_name="outside"))


# Every workspace route of the identity area: (method, path, body, lowest role, success status).
# ``{wid}`` is the team's workspace, ``{target}`` the target member, ``{outsider_email}`` a non-member.
ROUTES = [
    ("get", "/api/v1/workspaces/{wid}", None, "viewer", 200),
    ("patch", "/api/v1/workspaces/{wid}", {"name": "Renamed"}, "admin", 200),
    ("get", "/api/v1/workspaces/{wid}/members", None, "viewer", 200),
    ("post", "/api/v1/workspaces/{wid}/members", {"email": "{outsider_email}", "role": "editor"}, "admin", 202),
    ("patch", "/api/v1/workspaces/{wid}/members/{target}", {"role": "editor"}, "admin", 200),
    ("delete", "/api/v1/workspaces/{wid}/members/{target}", None, "admin", 204),
]
ROUTE_IDS = [f"{m.upper()} {p}" for m, p, *_ in ROUTES]


def _call(client: Any, team: Team, method: str, path: str, body: Any, headers: dict[str, str], wid: int | None = None) -> Any:
    url = path.format(wid=team.wid if wid is None else wid, target=team.target.user_id)
    if isinstance(body, dict):
        body = {k: (v.format(outsider_email=team.outsider.email) if isinstance(v, str) else v) for k, v in body.items()}
    kwargs: dict[str, Any] = {"headers": headers}
    if body is not None:
        kwargs["json"] = body
    return getattr(client, method)(url, **kwargs)


@pytest.mark.parametrize(("method", "path", "body", "minimum", "ok"), ROUTES, ids=ROUTE_IDS)
def test_role_matrix(client: Any, team: Team, method: str, path: str, body: Any, minimum: str, ok: int) -> None:
    rank = ROLES.index(minimum)
    for role in ROLES[:rank]:
        r = _call(client, team, method, path, body, team.headers(role))
        assert r.status_code == 403, (role, r.get_json())
        assert minimum in r.get_json()["message"]
    r = _call(client, team, method, path, body, team.headers(minimum))
    assert r.status_code == ok, r.get_json()


@pytest.mark.parametrize(("method", "path", "body", "minimum", "ok"), ROUTES, ids=ROUTE_IDS)
def test_non_member_gets_404(client: Any, team: Team, runtime: Any, method: str, path: str, body: Any, minimum: str, ok: int) -> None:
    outsider = team.outsider.headers
    r = _call(client, team, method, path, body, outsider)
    assert r.status_code == 404, r.get_json()
    assert r.get_json()["message"] == f"workspace {team.wid} not found"
    # the same as a workspace that does not exist at all
    r = _call(client, team, method, path, body, team.headers("owner"), wid=987654)
    assert r.status_code == 404
    # access is checked before the body: a bad body still gets 404, not 422
    if body is not None:
        r = _call(client, team, method, path, {"role": "emperor", "name": "", "email": "x"}, outsider)
        assert r.status_code == 404
    # nothing changed for the members
    members = client.get(f"/api/v1/workspaces/{team.wid}/members", headers=team.headers("owner")).get_json()
    assert len(members) == 5
    with runtime.db.session() as s:
        assert s.get(Workspace, team.wid).name == "Team"


@pytest.mark.parametrize(("method", "path", "body", "minimum", "ok"), ROUTES, ids=ROUTE_IDS)
def test_workspace_routes_need_a_token(client: Any, team: Team, method: str, path: str, body: Any, minimum: str, ok: int) -> None:
    assert _call(client, team, method, path, body, {}).status_code == 401
    assert _call(client, team, method, path, body, {"Authorization": "Bearer cn_forged"}).status_code == 401


@pytest.mark.parametrize(("method", "path"), [("get", "/api/v1/workspaces"), ("post", "/api/v1/workspaces")])
def test_workspace_collection_needs_a_token(client: Any, method: str, path: str) -> None:
    r = getattr(client, method)(path, json={"name": "X"} if method == "post" else None)
    assert r.status_code == 401


def test_list_shows_only_my_workspaces(client: Any, register: Any) -> None:
    alice, bob = register(workspace_name="Alice's"), register(workspace_name="Bob's")
    r = client.get("/api/v1/workspaces", headers=alice.headers)
    assert r.status_code == 200
    assert [(w["id"], w["name"], w["role"]) for w in r.get_json()] == [(alice.workspace_id, "Alice's", "owner")]
    assert bob.workspace_id not in [w["id"] for w in r.get_json()]


def test_create_workspace_makes_the_caller_owner(client: Any, register: Any, runtime: Any) -> None:
    m = register()
    r = client.post("/api/v1/workspaces", json={"name": "  Second brand ", "timezone": "America/New_York"}, headers=m.headers)
    assert r.status_code == 201, r.get_json()
    ws = r.get_json()
    assert (ws["name"], ws["timezone"], ws["role"]) == ("Second brand", "America/New_York", "owner")
    assert ws["ai_budget_usd"] == 3.0 and ws["reply_rules"] == [] and ws["brand_voice"] == ""
    assert ws["created_at"].endswith("+00:00")
    listed = client.get("/api/v1/workspaces", headers=m.headers).get_json()
    assert [w["id"] for w in listed] == [m.workspace_id, ws["id"]]
    members = client.get(f"/api/v1/workspaces/{ws['id']}/members", headers=m.headers).get_json()
    assert [(x["user_id"], x["role"]) for x in members] == [(m.user_id, "owner")]
    with runtime.db.session() as s:
        actions = list(s.scalars(select(AuditEvent.action).where(AuditEvent.workspace_id == ws["id"]).order_by(AuditEvent.id)))
    assert actions == ["workspace.created", "member.added"]


def test_create_workspace_defaults_to_utc(client: Any, register: Any) -> None:
    m = register()
    r = client.post("/api/v1/workspaces", json={"name": "Plain"}, headers=m.headers)
    assert r.status_code == 201 and r.get_json()["timezone"] == "UTC"


@pytest.mark.parametrize(("field", "body"), [
    ("timezone", {"name": "X", "timezone": "Europe/Atlantis"}),
    ("timezone", {"name": "X", "timezone": ""}),
    ("name", {"name": ""}),
    ("name", {"timezone": "UTC"}),
    ("name", {"name": "x" * 201}),
    ("colour", {"name": "X", "colour": "blue"}),
])
def test_create_workspace_rejects_bad_input(client: Any, register: Any, runtime: Any, field: str, body: dict[str, Any]) -> None:
    m = register()
    r = client.post("/api/v1/workspaces", json=body, headers=m.headers)
    assert r.status_code == 422
    assert field in r.get_json()["message"]
    with runtime.db.session() as s:
        assert len(s.scalars(select(Workspace)).all()) == 1


def test_get_workspace(client: Any, team: Team) -> None:
    r = client.get(f"/api/v1/workspaces/{team.wid}", headers=team.headers("viewer"))
    assert r.status_code == 200
    body = r.get_json()
    assert (body["id"], body["name"], body["role"]) == (team.wid, "Team", "viewer")
    assert set(body) == {"id", "name", "timezone", "role", "brand_voice", "reply_rules", "ai_budget_usd", "created_at"}


@pytest.mark.parametrize("role", ["admin", "owner"])
def test_admin_and_owner_change_settings(client: Any, team: Team, runtime: Any, role: str) -> None:
    change = {
        "name": "Rebranded", "timezone": "Asia/Tokyo", "brand_voice": "Warm, brief, no jargon.",
        "reply_rules": ["Never promise refunds", "Thank people by name"], "ai_budget_usd": "12.5",
    }
    r = client.patch(f"/api/v1/workspaces/{team.wid}", json=change, headers=team.headers(role))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["name"] == "Rebranded" and body["timezone"] == "Asia/Tokyo" and body["role"] == role
    assert body["reply_rules"] == change["reply_rules"] and body["ai_budget_usd"] == 12.5
    again = client.get(f"/api/v1/workspaces/{team.wid}", headers=team.headers("viewer")).get_json()
    assert again["brand_voice"] == "Warm, brief, no jargon." and again["timezone"] == "Asia/Tokyo"
    with runtime.db.session() as s:
        assert s.get(Workspace, team.wid).ai_budget_usd == Decimal("12.5")
        ev = s.scalar(select(AuditEvent).where(AuditEvent.action == "workspace.updated"))
    assert ev.actor_user_id == team.by_role[role].user_id and ev.workspace_id == team.wid
    assert ev.data == {"fields": ["ai_budget_usd", "brand_voice", "name", "reply_rules", "timezone"]}


def test_partial_patch_changes_only_what_is_given(client: Any, team: Team) -> None:
    r = client.patch(f"/api/v1/workspaces/{team.wid}", json={"ai_budget_usd": 0}, headers=team.headers("admin"))
    assert r.status_code == 200
    body = r.get_json()
    assert body["ai_budget_usd"] == 0 and body["name"] == "Team" and body["timezone"] == "UTC"


@pytest.mark.parametrize(("field", "body"), [
    ("ai_budget_usd", {"ai_budget_usd": -0.01}),
    ("ai_budget_usd", {"ai_budget_usd": "lots"}),
    ("ai_budget_usd", {"ai_budget_usd": "NaN"}),
    ("timezone", {"timezone": "GMT+25"}),
    ("name", {"name": "  "}),
    ("reply_rules", {"reply_rules": "be nice"}),
    ("reply_rules", {"reply_rules": ["ok", ""]}),
    ("brand_voice", {"brand_voice": "x" * 5001}),
    ("owner", {"owner": 1}),
])
def test_patch_rejects_bad_input_and_changes_nothing(client: Any, team: Team, runtime: Any, field: str, body: dict[str, Any]) -> None:
    r = client.patch(f"/api/v1/workspaces/{team.wid}", json={"name": "Should not stick", **body}, headers=team.headers("owner"))
    assert r.status_code == 422
    assert field in r.get_json()["message"]
    with runtime.db.session() as s:
        ws = s.get(Workspace, team.wid)
        assert ws.name == "Team" and ws.ai_budget_usd == Decimal("3.00")


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_below_admin_cannot_change_settings(client: Any, team: Team, runtime: Any, role: str) -> None:
    r = client.patch(f"/api/v1/workspaces/{team.wid}", json={"ai_budget_usd": 1000}, headers=team.headers(role))
    assert r.status_code == 403
    assert "admin" in r.get_json()["message"]
    with runtime.db.session() as s:
        assert s.get(Workspace, team.wid).ai_budget_usd == Decimal("3.00")


# --- docs/roles.md covers every route of the app -------------------------------------------

ROLES_DOC = Path(__file__).resolve().parents[2] / "docs" / "roles.md"


def _normalise(path: str) -> str:
    # parameter names may differ between doc and code ({id} vs <int:token_id>)
    return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path.rstrip("/") or "/")


def test_every_route_is_in_the_role_matrix(app: Any) -> None:
    documented: set[tuple[str, str]] = set()
    for methods, path in re.findall(r"`((?:GET|POST|PUT|PATCH|DELETE)(?:, ?(?:GET|POST|PUT|PATCH|DELETE))*) (/[^`\s]*)`",
                                    ROLES_DOC.read_text()):
        for method in methods.split(","):
            documented.add((method.strip(), _normalise(path)))
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.rule.startswith("/api/docs"):
            continue  # Swagger UI and its assets: public, listed as a group
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if (method, _normalise(rule.rule)) not in documented:
                missing.append(f"{method} {rule.rule}")
    assert not missing, f"routes missing from docs/roles.md: {missing}"


# --- install-wide limits (until plans exist) ----------------------------------------------


@pytest.mark.parametrize("settings_overrides", [{"ai_budget_max_usd": 50}])
def test_ai_budget_cannot_exceed_the_install_maximum(client: Any, team: Team, runtime: Any) -> None:
    url = f"/api/v1/workspaces/{team.wid}"
    r = client.patch(url, json={"name": "Should not stick", "ai_budget_usd": "50.0001"}, headers=team.headers("owner"))
    assert r.status_code == 422, r.get_json()
    body = r.get_json()
    assert "ai_budget_max_usd" in body["message"] and "50" in body["message"]
    assert "ai_budget_usd" in body["errors"]["json"]
    with runtime.db.session() as s:
        ws = s.get(Workspace, team.wid)
        assert ws.name == "Team" and ws.ai_budget_usd == Decimal("3.00")  # nothing half-written
    r = client.patch(url, json={"ai_budget_usd": 50}, headers=team.headers("owner"))
    assert r.status_code == 200 and r.get_json()["ai_budget_usd"] == 50


def test_ai_budget_maximum_defaults_to_a_finite_figure(client: Any, team: Team) -> None:
    r = client.patch(f"/api/v1/workspaces/{team.wid}", json={"ai_budget_usd": 99_999_999}, headers=team.headers("owner"))
    assert r.status_code == 422 and "ai_budget_max_usd = 1000" in r.get_json()["message"]


@pytest.mark.parametrize("settings_overrides", [{"max_workspaces_per_user": 3}])
def test_workspace_creation_is_limited_per_user(client: Any, register: Any, runtime: Any) -> None:
    m = register()  # registration made the first
    for name in ("Second", "Third"):
        assert client.post("/api/v1/workspaces", json={"name": name}, headers=m.headers).status_code == 201
    r = client.post("/api/v1/workspaces", json={"name": "Fourth"}, headers=m.headers)
    assert r.status_code == 403, r.get_json()
    msg = r.get_json()["message"]
    assert "max_workspaces_per_user = 3" in msg and "own 3" in msg
    with runtime.db.session() as s:
        assert "Fourth" not in [w.name for w in s.scalars(select(Workspace))]
    # the limit is per user: someone else still creates theirs
    other = register()
    assert client.post("/api/v1/workspaces", json={"name": "Theirs"}, headers=other.headers).status_code == 201
    # handing one over (leaving as owner once another owner exists) frees a place
    listed = client.get("/api/v1/workspaces", headers=m.headers).get_json()
    second = next(w["id"] for w in listed if w["name"] == "Second")
    assert client.post(f"/api/v1/workspaces/{second}/members", json={"email": other.email, "role": "owner"},
                       headers=m.headers).status_code == 202
    assert client.delete(f"/api/v1/workspaces/{second}/members/{m.user_id}", headers=m.headers).status_code == 204
    assert client.post("/api/v1/workspaces", json={"name": "Fourth"}, headers=m.headers).status_code == 201
