"""GET /api/v1/plugins: every plugin found, enabled or not, with its hooks,
platforms and load error."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from clientnest import SocialConnector, hookimpl
from clientnest.plugins import build_plugin_host


def _load(name: str, path: Path) -> Any:
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[name] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    return sys.modules[name]


fakenet = _load("clientnest_tests_fakenet", Path(__file__).with_name("fakenet_plugin.py"))


class Broken:
    @hookimpl
    def clientnest_register_connectors(self) -> list[type[SocialConnector]]:
        raise RuntimeError("cannot reach the licence server")


class Blocked:
    @hookimpl
    def clientnest_register_connectors(self) -> list[type[SocialConnector]]:
        raise AssertionError("a blocked plugin's hooks never run")


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"disabled_plugins": "blocked"}


@pytest.fixture
def runtime(runtime: Any) -> Any:
    runtime.plugins.close()
    runtime.plugins = build_plugin_host(runtime.settings, extra_plugins=[
        ("fakenet", fakenet), ("broken", Broken()), ("blocked", Blocked())])
    return runtime


def test_plugins_requires_a_token(client: Any) -> None:
    r = client.get("/api/v1/plugins")
    assert r.status_code == 401 and r.get_json()["code"] == 401


def test_plugins_lists_each_with_state(client: Any, register: Any) -> None:
    m = register()
    r = client.get("/api/v1/plugins", headers=m.headers)
    assert r.status_code == 200
    by_name = {p["name"]: p for p in r.get_json()}
    assert by_name["fakenet"] == {
        "name": "fakenet",
        "version": "9.9.9",
        "distribution": None,
        "kind": "connector",
        "enabled": True,
        "hooks": ["clientnest_register_connectors"],
        "platforms": ["fakenet", "fakemulti", "fakeplain"],
        "error": None,
        "configured": True,
        "missing_settings": [],
    }
    broken = by_name["broken"]
    assert broken["enabled"] is False and broken["platforms"] == []
    assert "RuntimeError: cannot reach the licence server" in broken["error"]
    blocked = by_name["blocked"]
    assert blocked["enabled"] is False and blocked["hooks"] == [] and blocked["error"] is None
    # the bundled plugins, installed through entry points, are listed with their distribution
    if "twitter" in by_name:
        assert by_name["twitter"]["distribution"] == "clientnest-twitter"
        assert by_name["twitter"]["kind"] == "connector"
    assert [p["name"] for p in r.get_json()] == sorted(by_name)


def test_any_member_role_may_list_plugins(client: Any, register: Any, runtime: Any) -> None:
    owner, viewer = register(), register()
    fakenet.join(runtime, viewer.user_id, owner.workspace_id, "viewer")
    assert client.get("/api/v1/plugins", headers=viewer.headers).status_code == 200
