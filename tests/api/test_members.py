"""Workspace members: add, list, change role, remove, leave; the owner rules."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from clientnest.models import AuditEvent, Membership


@dataclass
class Crew:
    wid: int
    owner: Any
    admin: Any
    editor: Any
    viewer: Any
    outsider: Any

    def url(self, uid: int | None = None) -> str:
        base = f"/api/v1/workspaces/{self.wid}/members"
        return base if uid is None else f"{base}/{uid}"


@pytest.fixture
def crew(client: Any, register: Any) -> Crew:
    owner = register(workspace_name="Crew")
    people = {}
    for role in ("admin", "editor", "viewer"):
        m = register(workspace_name=f"{role} home")
        r = client.post(f"/api/v1/workspaces/{owner.workspace_id}/members",
                        json={"email": m.email, "role": role}, headers=owner.headers)
        assert r.status_code == 202, r.get_json()
        people[role] = m
    return Crew(owner.workspace_id, owner, outsider=register(workspace_name="elsewhere"), **people)


def _roles(client: Any, crew: Crew) -> dict[int, str]:
    return {m["user_id"]: m["role"] for m in client.get(crew.url(), headers=crew.owner.headers).get_json()}


def _audit(runtime: Any, action: str) -> list[AuditEvent]:
    with runtime.db.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


# --- list --------------------------------------------------------------------------


def test_members_listed_for_a_viewer(client: Any, crew: Crew) -> None:
    r = client.get(crew.url(), headers=crew.viewer.headers)
    assert r.status_code == 200
    members = r.get_json()
    assert [(m["user_id"], m["email"], m["role"]) for m in members] == [
        (crew.owner.user_id, crew.owner.email, "owner"),
        (crew.admin.user_id, crew.admin.email, "admin"),
        (crew.editor.user_id, crew.editor.email, "editor"),
        (crew.viewer.user_id, crew.viewer.email, "viewer"),
    ]
    assert all(set(m) == {"user_id", "email", "name", "role", "created_at"} for m in members)
    assert all(m["created_at"].endswith("+00:00") for m in members)


# --- add ---------------------------------------------------------------------------


def test_admin_adds_a_registered_user(client: Any, crew: Crew, runtime: Any) -> None:
    r = client.post(crew.url(), json={"email": crew.outsider.email.upper(), "role": "editor"}, headers=crew.admin.headers)
    assert r.status_code == 202, r.get_json()
    assert (r.get_json()["email"], r.get_json()["role"]) == (crew.outsider.email, "editor")
    assert _roles(client, crew)[crew.outsider.user_id] == "editor"
    # the new member now reaches the workspace
    assert client.get(f"/api/v1/workspaces/{crew.wid}", headers=crew.outsider.headers).get_json()["role"] == "editor"
    me = client.get("/api/v1/me", headers=crew.outsider.headers).get_json()
    assert crew.wid in [w["id"] for w in me["workspaces"]]
    ev = _audit(runtime, "member.added")[-1]
    assert ev.actor_user_id == crew.admin.user_id and ev.workspace_id == crew.wid
    assert ev.data == {"member_user_id": crew.outsider.user_id, "role": "editor"}


def test_an_unknown_email_is_answered_like_a_known_one(client: Any, crew: Crew, runtime: Any) -> None:
    """An admin cannot find out who has a ClientNest account by adding addresses."""
    known = client.post(crew.url(), json={"email": crew.outsider.email, "role": "viewer"}, headers=crew.owner.headers)
    unknown = client.post(crew.url(), json={"email": "Nobody@Example.com", "role": "viewer"}, headers=crew.owner.headers)
    assert known.status_code == unknown.status_code == 202
    a, b = known.get_json(), unknown.get_json()
    assert a["message"] == b["message"] and set(a) == set(b) == {"message", "email", "role"}
    assert b["email"] == "nobody@example.com"  # the address as given (normalised), nothing about an account
    assert "invited" in b["message"] and "register" in b["message"]
    # nothing stored for the unknown address
    assert len(_roles(client, crew)) == 5
    assert [e.data["member_user_id"] for e in _audit(runtime, "member.added")][-1] == crew.outsider.user_id


@pytest.mark.parametrize("settings_overrides", [{"member_add_rate_limit": 3}])
def test_adding_members_is_rate_limited_per_admin(client: Any, crew: Crew) -> None:
    # the crew fixture added three as the owner: the owner is at the limit
    r = client.post(crew.url(), json={"email": "a@example.com", "role": "viewer"}, headers=crew.owner.headers)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert "too many members added" in r.get_json()["message"]
    # another admin has an allowance of their own
    for email in ("b@example.com", "c@example.com", "e@example.com"):
        assert client.post(crew.url(), json={"email": email, "role": "viewer"}, headers=crew.admin.headers).status_code == 202
    assert client.post(crew.url(), json={"email": "d@example.com", "role": "viewer"},
                       headers=crew.admin.headers).status_code == 429


def test_adding_an_existing_member_is_409(client: Any, crew: Crew) -> None:
    r = client.post(crew.url(), json={"email": crew.editor.email, "role": "viewer"}, headers=crew.owner.headers)
    assert r.status_code == 409
    assert "already a member" in r.get_json()["message"]
    assert _roles(client, crew)[crew.editor.user_id] == "editor"


@pytest.mark.parametrize(("field", "body"), [
    ("role", {"role": "superuser"}),
    ("role", {"role": "Owner"}),
    ("role", {}),
    ("email", {"email": "not an email", "role": "viewer"}),
    ("email", {"role": "viewer"}),
])
def test_add_rejects_bad_input_naming_the_field(client: Any, crew: Crew, field: str, body: dict[str, Any]) -> None:
    body = {"email": crew.outsider.email, **body} if "email" not in body and field != "email" else body
    r = client.post(crew.url(), json=body, headers=crew.owner.headers)
    assert r.status_code == 422
    assert field in r.get_json()["message"]
    assert crew.outsider.user_id not in _roles(client, crew)


def test_only_an_owner_grants_owner(client: Any, crew: Crew) -> None:
    r = client.post(crew.url(), json={"email": crew.outsider.email, "role": "owner"}, headers=crew.admin.headers)
    assert r.status_code == 403 and "owner" in r.get_json()["message"]
    assert crew.outsider.user_id not in _roles(client, crew)
    r = client.post(crew.url(), json={"email": crew.outsider.email, "role": "owner"}, headers=crew.owner.headers)
    assert r.status_code == 202
    assert _roles(client, crew)[crew.outsider.user_id] == "owner"


def test_admin_may_add_another_admin(client: Any, crew: Crew) -> None:
    r = client.post(crew.url(), json={"email": crew.outsider.email, "role": "admin"}, headers=crew.admin.headers)
    assert r.status_code == 202
    assert _roles(client, crew)[crew.outsider.user_id] == "admin"


# --- change role -------------------------------------------------------------------------


def test_admin_changes_a_role(client: Any, crew: Crew, runtime: Any) -> None:
    r = client.patch(crew.url(crew.editor.user_id), json={"role": "viewer"}, headers=crew.admin.headers)
    assert r.status_code == 200
    assert r.get_json()["role"] == "viewer"
    assert _roles(client, crew)[crew.editor.user_id] == "viewer"
    # the new role applies at once
    r = client.patch(f"/api/v1/workspaces/{crew.wid}", json={"name": "x"}, headers=crew.editor.headers)
    assert r.status_code == 403
    ev = _audit(runtime, "member.role_changed")[-1]
    assert ev.data == {"member_user_id": crew.editor.user_id, "from": "editor", "to": "viewer"}


def test_same_role_is_a_no_op(client: Any, crew: Crew, runtime: Any) -> None:
    r = client.patch(crew.url(crew.editor.user_id), json={"role": "editor"}, headers=crew.admin.headers)
    assert r.status_code == 200 and r.get_json()["role"] == "editor"
    assert _audit(runtime, "member.role_changed") == []


@pytest.mark.parametrize(("target", "role"), [("admin", "owner"), ("owner", "admin")])
def test_admin_cannot_touch_the_owner_role(client: Any, crew: Crew, target: str, role: str) -> None:
    uid = getattr(crew, target).user_id
    r = client.patch(crew.url(uid), json={"role": role}, headers=crew.admin.headers)
    assert r.status_code == 403
    assert "owner" in r.get_json()["message"]
    assert _roles(client, crew)[uid] == target


def test_last_owner_cannot_be_demoted(client: Any, crew: Crew) -> None:
    r = client.patch(crew.url(crew.owner.user_id), json={"role": "admin"}, headers=crew.owner.headers)
    assert r.status_code == 409
    assert "last owner" in r.get_json()["message"]
    assert _roles(client, crew)[crew.owner.user_id] == "owner"


def test_owner_hands_over_ownership(client: Any, crew: Crew) -> None:
    r = client.patch(crew.url(crew.admin.user_id), json={"role": "owner"}, headers=crew.owner.headers)
    assert r.status_code == 200
    # with two owners, either may step down; then the new one is the last
    r = client.patch(crew.url(crew.owner.user_id), json={"role": "viewer"}, headers=crew.owner.headers)
    assert r.status_code == 200
    r = client.patch(crew.url(crew.admin.user_id), json={"role": "editor"}, headers=crew.admin.headers)
    assert r.status_code == 409
    assert _roles(client, crew) == {
        crew.owner.user_id: "viewer", crew.admin.user_id: "owner",
        crew.editor.user_id: "editor", crew.viewer.user_id: "viewer",
    }


def test_change_role_of_a_non_member_is_404(client: Any, crew: Crew) -> None:
    r = client.patch(crew.url(crew.outsider.user_id), json={"role": "viewer"}, headers=crew.owner.headers)
    assert r.status_code == 404
    assert str(crew.outsider.user_id) in r.get_json()["message"]
    assert client.patch(crew.url(999999), json={"role": "viewer"}, headers=crew.owner.headers).status_code == 404


@pytest.mark.parametrize("body", [{"role": "god"}, {}, {"role": None}])
def test_change_role_validates_role(client: Any, crew: Crew, body: dict[str, Any]) -> None:
    r = client.patch(crew.url(crew.editor.user_id), json=body, headers=crew.owner.headers)
    assert r.status_code == 422
    assert "role" in r.get_json()["message"] and "role" in r.get_json()["errors"]["json"]


# --- remove and leave --------------------------------------------------------------------------


def test_admin_removes_a_member_who_then_gets_404(client: Any, crew: Crew, runtime: Any) -> None:
    r = client.delete(crew.url(crew.editor.user_id), headers=crew.admin.headers)
    assert r.status_code == 204 and r.data == b""
    assert crew.editor.user_id not in _roles(client, crew)
    assert client.get(f"/api/v1/workspaces/{crew.wid}", headers=crew.editor.headers).status_code == 404
    # their account and own workspace are untouched
    assert client.get(f"/api/v1/workspaces/{crew.editor.workspace_id}", headers=crew.editor.headers).status_code == 200
    ev = _audit(runtime, "member.removed")[-1]
    assert ev.actor_user_id == crew.admin.user_id
    assert ev.data == {"member_user_id": crew.editor.user_id, "role": "editor"}


@pytest.mark.parametrize("role", ["viewer", "editor", "admin"])
def test_any_member_may_leave(client: Any, crew: Crew, runtime: Any, role: str) -> None:
    me = getattr(crew, role)
    r = client.delete(crew.url(me.user_id), headers=me.headers)
    assert r.status_code == 204
    assert me.user_id not in _roles(client, crew)
    assert _audit(runtime, "member.left")[-1].data["member_user_id"] == me.user_id


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_below_admin_cannot_remove_others(client: Any, crew: Crew, role: str) -> None:
    r = client.delete(crew.url(crew.admin.user_id), headers=getattr(crew, role).headers)
    assert r.status_code == 403
    assert "admin" in r.get_json()["message"]
    assert crew.admin.user_id in _roles(client, crew)


def test_admin_cannot_remove_an_owner(client: Any, crew: Crew) -> None:
    client.patch(crew.url(crew.editor.user_id), json={"role": "owner"}, headers=crew.owner.headers)
    r = client.delete(crew.url(crew.editor.user_id), headers=crew.admin.headers)
    assert r.status_code == 403 and "owner" in r.get_json()["message"]
    assert _roles(client, crew)[crew.editor.user_id] == "owner"
    # an owner can, while another owner remains
    assert client.delete(crew.url(crew.editor.user_id), headers=crew.owner.headers).status_code == 204


def test_last_owner_cannot_leave(client: Any, crew: Crew, runtime: Any) -> None:
    r = client.delete(crew.url(crew.owner.user_id), headers=crew.owner.headers)
    assert r.status_code == 409
    assert "last owner" in r.get_json()["message"]
    with runtime.db.session() as s:
        owners = s.scalars(select(Membership.user_id).where(Membership.workspace_id == crew.wid,
                                                            Membership.role == "owner")).all()
    assert owners == [crew.owner.user_id]


def test_owner_may_leave_when_another_owner_remains(client: Any, crew: Crew) -> None:
    assert client.patch(crew.url(crew.admin.user_id), json={"role": "owner"}, headers=crew.owner.headers).status_code == 200
    assert client.delete(crew.url(crew.owner.user_id), headers=crew.owner.headers).status_code == 204
    assert client.get(crew.url(), headers=crew.owner.headers).status_code == 404
    assert _roles_as(client, crew, crew.admin) == {
        crew.admin.user_id: "owner", crew.editor.user_id: "editor", crew.viewer.user_id: "viewer",
    }


def _roles_as(client: Any, crew: Crew, who: Any) -> dict[int, str]:
    return {m["user_id"]: m["role"] for m in client.get(crew.url(), headers=who.headers).get_json()}


def test_remove_a_non_member_is_404(client: Any, crew: Crew) -> None:
    r = client.delete(crew.url(crew.outsider.user_id), headers=crew.owner.headers)
    assert r.status_code == 404
    assert client.delete(crew.url(424242), headers=crew.admin.headers).status_code == 404


def test_membership_is_per_workspace(client: Any, crew: Crew) -> None:
    """Being admin in one workspace gives nothing in another."""
    other_ws = crew.outsider.workspace_id
    r = client.post(f"/api/v1/workspaces/{other_ws}/members", json={"email": crew.admin.email, "role": "admin"},
                    headers=crew.admin.headers)
    assert r.status_code == 404
    r = client.delete(f"/api/v1/workspaces/{other_ws}/members/{crew.outsider.user_id}", headers=crew.admin.headers)
    assert r.status_code == 404
    # and a uid from another workspace cannot be reached through this one
    r = client.patch(crew.url(crew.outsider.user_id), json={"role": "admin"}, headers=crew.owner.headers)
    assert r.status_code == 404


def test_two_owners_demoting_each_other_at_once_leave_one_owner(
    client: Any, crew: Crew, runtime: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The owner count and the change happen under one workspace lock."""
    import threading
    import time

    from clientnest.models import Workspace
    from clientnest.services import identity

    assert client.patch(crew.url(crew.admin.user_id), json={"role": "owner"}, headers=crew.owner.headers).status_code == 200
    real_count = identity._owner_count

    def slow_count(session: Any, workspace_id: int) -> int:
        n = real_count(session, workspace_id)
        time.sleep(0.3)  # without the lock, both would count two owners here
        return n

    monkeypatch.setattr(identity, "_owner_count", slow_count)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def demote(actor_id: int, target_id: int) -> None:
        with runtime.db.Session() as s:
            ws = s.get(Workspace, crew.wid)
            actor = s.scalar(select(Membership).where(Membership.workspace_id == crew.wid, Membership.user_id == actor_id))
            barrier.wait()
            try:
                identity.change_role(s, ws, actor, target_id, identity.Role.ADMIN)
                outcomes.append("demoted")
            except identity.IdentityError as exc:
                s.rollback()
                outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=demote, args=(crew.owner.user_id, crew.admin.user_id)),
               threading.Thread(target=demote, args=(crew.admin.user_id, crew.owner.user_id))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    # the second sees, under the lock, that it is no longer an owner
    assert sorted(outcomes) == ["OwnerRequired", "demoted"]
    with runtime.db.session() as s:
        owners = s.scalars(select(Membership.user_id).where(Membership.workspace_id == crew.wid,
                                                            Membership.role == "owner")).all()
    assert len(owners) == 1
