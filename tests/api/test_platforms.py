"""GET /api/v1/platforms and the per-workspace switch
/api/v1/workspaces/{wid}/platforms[/{name}]: rules from the hook, config
schema without values, enablement that affects one workspace only."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from clientnest import ConfigField, ConfigSchema, PlatformRules, SocialConnector, hookimpl
from clientnest.models import AuditEvent, SocialAccount
from clientnest.plugins import build_plugin_host
from clientnest.services.platforms import PlatformUnavailable, ensure_platform_enabled


def _load(name: str, path: Path) -> Any:
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[name] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    return sys.modules[name]


fakenet = _load("clientnest_tests_fakenet", Path(__file__).with_name("fakenet_plugin.py"))


class Needy(SocialConnector):
    """A connector whose required setting is missing on this install."""

    name = "fakeneedy"
    version = "1.0"
    config_schema = ConfigSchema((ConfigField("api_key", required=True, secret=True),))
    rules = PlatformRules(max_length=10)


class Tightener:
    """Tightens fakenet's rules for this install (through the hook)."""

    @hookimpl
    def clientnest_register_connectors(self) -> list[type[SocialConnector]]:
        return [Needy]

    @hookimpl
    def clientnest_platform_rules(self, connector: SocialConnector) -> PlatformRules | None:
        if connector.name == "fakenet":
            return PlatformRules(max_length=42, max_hashtags=3)
        return None


@pytest.fixture
def runtime(runtime: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("CLIENTNEST_FAKENET_CLIENT_SECRET", "env-secret-VALUE-123")
    runtime.plugins.close()
    runtime.plugins = build_plugin_host(
        runtime.settings, extra_plugins=[("fakenet", fakenet), ("tightener", Tightener())])
    return runtime


def test_platforms_lists_rules_capabilities_and_config_without_values(client: Any, register: Any) -> None:
    m = register()
    assert client.get("/api/v1/platforms").status_code == 401
    r = client.get("/api/v1/platforms", headers=m.headers)
    assert r.status_code == 200
    by_name = {p["name"]: p for p in r.get_json()}
    assert {"fakenet", "fakemulti", "fakeplain", "fakeneedy"} <= set(by_name)
    fn = by_name["fakenet"]
    assert fn["display_name"] == "FakeNet" and fn["version"] == "9.9.9" and fn["plugin"] == "fakenet"
    assert fn["capabilities"] == ["oauth", "publish_text"]
    # the hook's answer, not the class attribute (120)
    assert fn["rules"]["max_length"] == 42 and fn["rules"]["max_hashtags"] == 3
    assert by_name["fakemulti"]["rules"]["max_length"] == 120
    assert fn["configured"] is True and fn["config_error"] is None
    secret = next(f for f in fn["config"] if f["name"] == "client_secret")
    assert secret["secret"] is True and secret["default"] is None
    client_id = next(f for f in fn["config"] if f["name"] == "client_id")
    assert client_id == {"name": "client_id", "type": "str", "required": False, "secret": False,
                         "default": "fn-client", "help": "app id", "needed_for": ""}
    text = r.get_data(as_text=True)
    assert "env-secret-VALUE-123" not in text and "fn-app-secret-value" not in text
    needy = by_name["fakeneedy"]
    assert needy["configured"] is False and "api_key" in needy["config_error"] and "required" in needy["config_error"]
    assert needy["rules"]["max_length"] == 10


@pytest.fixture
def setup(client: Any, register: Any, runtime: Any) -> Any:
    owner = register()
    other = register()
    members = {}
    for role in ("viewer", "editor", "admin"):
        members[role] = register()
        fakenet.join(runtime, members[role].user_id, owner.workspace_id, role)
    return owner, other, members


def test_workspace_platforms_list_and_get(client: Any, setup: Any) -> None:
    owner, other, members = setup
    base = f"/api/v1/workspaces/{owner.workspace_id}/platforms"
    r = client.get(base, headers=members["viewer"].headers)
    assert r.status_code == 200
    listed = {p["name"]: p for p in r.get_json()}
    assert listed["fakenet"] == {"name": "fakenet", "display_name": "FakeNet", "enabled": True}
    assert [p["name"] for p in r.get_json()] == sorted(listed)
    r = client.get(f"{base}/fakenet", headers=members["viewer"].headers)
    assert r.status_code == 200 and r.get_json()["enabled"] is True
    r = client.get(f"{base}/myspace", headers=owner.headers)
    assert r.status_code == 404 and "myspace" in r.get_json()["message"]
    for path in (base, f"{base}/fakenet"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers=other.headers).status_code == 404


def test_put_roles_and_validation(client: Any, setup: Any, runtime: Any) -> None:
    owner, other, members = setup
    url = f"/api/v1/workspaces/{owner.workspace_id}/platforms/fakenet"
    assert client.put(url, json={"enabled": False}).status_code == 401
    assert client.put(url, json={"enabled": False}, headers=other.headers).status_code == 404
    assert client.put(url, json={"enabled": False}, headers=members["viewer"].headers).status_code == 403
    assert client.put(url, json={"enabled": False}, headers=members["editor"].headers).status_code == 403
    for body in ({}, {"enabled": "no"}, {"enabled": None}, {"enabled": 0}, {"enabled": True, "x": 1}):
        r = client.put(url, json=body, headers=owner.headers)
        assert r.status_code == 422, body
        assert ("enabled" in r.get_json()["message"]) or ("x" in r.get_json()["message"])
    r = client.put(f"/api/v1/workspaces/{owner.workspace_id}/platforms/myspace", json={"enabled": False},
                   headers=owner.headers)
    assert r.status_code == 404 and "'myspace'" in r.get_json()["message"]
    r = client.put(url, json={"enabled": False}, headers=members["admin"].headers)
    assert r.status_code == 200 and r.get_json() == {"name": "fakenet", "display_name": "FakeNet", "enabled": False}
    assert client.get(url, headers=owner.headers).get_json()["enabled"] is False
    # idempotent, and audited once per change
    assert client.put(url, json={"enabled": False}, headers=owner.headers).status_code == 200
    assert client.put(url, json={"enabled": True}, headers=owner.headers).get_json()["enabled"] is True
    with runtime.db.session() as s:
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "platform")
                            .order_by(AuditEvent.id)).all()
        assert actions == ["platform.disabled", "platform.enabled"]


def test_disabling_refuses_connect_in_that_workspace_only(client: Any, setup: Any, runtime: Any) -> None:
    owner, other, _ = setup
    # a connection begun before the switch is turned off
    pending = client.post(f"/api/v1/workspaces/{owner.workspace_id}/accounts/connect",
                          json={"platform": "fakemulti"}, headers=owner.headers).get_json()["state"]
    for name in ("fakenet", "fakemulti"):
        r = client.put(f"/api/v1/workspaces/{owner.workspace_id}/platforms/{name}", json={"enabled": False},
                       headers=owner.headers)
        assert r.status_code == 200

    r = client.post(f"/api/v1/workspaces/{owner.workspace_id}/accounts/connect", json={"platform": "fakenet"},
                    headers=owner.headers)
    assert r.status_code == 422
    assert "disabled in this workspace" in r.get_json()["message"]
    r = client.post(f"/api/v1/workspaces/{owner.workspace_id}/accounts",
                    json={"platform": "fakenet", "credentials": {"access_token": f"{fakenet.SECRET}t"}},
                    headers=owner.headers)
    assert r.status_code == 422 and "disabled in this workspace" in r.get_json()["message"]
    r = client.get("/api/v1/oauth/fakemulti/callback", query_string={"code": "c", "state": pending})
    assert r.status_code == 422 and "disabled in this workspace" in r.get_json()["message"]

    # the other workspace is not affected
    r = client.post(f"/api/v1/workspaces/{other.workspace_id}/accounts/connect", json={"platform": "fakenet"},
                    headers=other.headers)
    assert r.status_code == 200
    assert client.get("/api/v1/oauth/fakenet/callback", query_string={
        "code": "code-x", "state": r.get_json()["state"]}).status_code == 201
    listed = client.get(f"/api/v1/workspaces/{other.workspace_id}/platforms", headers=other.headers).get_json()
    assert all(p["enabled"] for p in listed)

    with runtime.db.session() as s:
        assert [a.workspace_id for a in s.scalars(select(SocialAccount))] == [other.workspace_id]
        # the check posting uses, for both workspaces
        with pytest.raises(PlatformUnavailable) as exc:
            ensure_platform_enabled(s, runtime.plugins, owner.workspace_id, "fakenet", field="account_ids")
        assert exc.value.status == 422 and exc.value.field == "account_ids"
        ensure_platform_enabled(s, runtime.plugins, other.workspace_id, "fakenet")

    client.put(f"/api/v1/workspaces/{owner.workspace_id}/platforms/fakenet", json={"enabled": True},
               headers=owner.headers)
    assert client.post(f"/api/v1/workspaces/{owner.workspace_id}/accounts/connect", json={"platform": "fakenet"},
                       headers=owner.headers).status_code == 200


def test_selecting_candidates_refused_after_disabling(client: Any, setup: Any) -> None:
    owner, _, _ = setup
    state = client.post(f"/api/v1/workspaces/{owner.workspace_id}/accounts/connect",
                        json={"platform": "fakemulti"}, headers=owner.headers).get_json()["state"]
    cid = client.get("/api/v1/oauth/fakemulti/callback", query_string={"code": "c", "state": state}).get_json()["connection_id"]
    client.put(f"/api/v1/workspaces/{owner.workspace_id}/platforms/fakemulti", json={"enabled": False},
               headers=owner.headers)
    r = client.post(f"/api/v1/workspaces/{owner.workspace_id}/accounts/connect/{cid}/select",
                    json={"external_ids": ["urn:fm:org:10"]}, headers=owner.headers)
    assert r.status_code == 422 and "disabled in this workspace" in r.get_json()["message"]


def test_put_checks_access_before_the_body(client: Any, setup: Any) -> None:
    owner, other, members = setup
    url = f"/api/v1/workspaces/{owner.workspace_id}/platforms/fakenet"
    assert client.put(url, json={"enabled": "bad"}, headers=other.headers).status_code == 404
    assert client.put(url, json={"enabled": "bad"}, headers=members["editor"].headers).status_code == 403
    assert client.put(url, json={"enabled": "bad"}, headers=owner.headers).status_code == 422
