"""The plugin host: allowlist and blocklist (a disabled plugin's module is
never imported), broken plugins reported by name, strict mode, duplicate
platform names, misspelled hooks, plugin configuration from the environment
with secrets redacted.

Plugins here are real modules written under ``tmp_path`` and found through
real :class:`importlib.metadata.EntryPoint` objects, so loading goes through
the same ``EntryPoint.load()`` as installed plugins.
"""
from __future__ import annotations

import logging
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from clientnest import hookimpl
from clientnest.errors import ConfigError, PluginError
from clientnest.plugins import ENTRY_POINT_GROUP, build_plugin_host
from clientnest.settings import load_settings

CONNECTOR = '''
from clientnest import Capability, ConfigField, ConfigSchema, PlatformRules, SocialConnector, hookimpl

__version__ = "2.0.0"

class Connector(SocialConnector):
    name = {platform!r}
    display_name = "Net"
    version = "2.0.0"
    capabilities = frozenset({{Capability.PUBLISH_TEXT}})
    config_schema = ConfigSchema((
        ConfigField("client_id", required=True, help="id"),
        ConfigField("client_secret", secret=True, required=True),
        ConfigField("pin", type=int, secret=True),
        ConfigField("retries", type=int, default=2),
        ConfigField("verbose", type=bool, default=False),
    ))
    rules = PlatformRules(max_length=100)

@hookimpl
def clientnest_register_connectors():
    return [Connector]
'''


@pytest.fixture
def make_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., EntryPoint]]:
    """``make_plugin(name, source)`` writes a module and returns its entry point."""
    monkeypatch.syspath_prepend(str(tmp_path))
    made: list[str] = []

    def make(name: str, source: str) -> EntryPoint:
        module = f"cn_test_{name.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        made.append(module)
        return EntryPoint(name=name, value=module, group=ENTRY_POINT_GROUP)

    yield make
    for module in made:
        sys.modules.pop(module, None)


def connector(platform: str) -> str:
    return CONNECTOR.format(platform=platform)


def host_for(eps: list[EntryPoint], **env: str) -> object:
    return build_plugin_host(load_settings(env=env), entry_points=eps)


def test_all_plugins_load_by_default(make_plugin: Callable[..., EntryPoint]) -> None:
    a, b = make_plugin("alpha", connector("alphanet")), make_plugin("beta", connector("betanet"))
    host = host_for([a, b])
    assert host.platforms() == ["alphanet", "betanet"]
    info = host.plugins["alpha"]
    assert info.enabled and info.error is None and info.kind == "connector"
    assert info.version == "2.0.0" and info.platforms == ["alphanet"]
    assert info.hooks == ["clientnest_register_connectors"]
    assert host.owner_of("betanet") == "beta"


def test_allowlist_never_imports_the_others(make_plugin: Callable[..., EntryPoint]) -> None:
    a, b = make_plugin("alpha", connector("alphanet")), make_plugin("beta", connector("betanet"))
    host = host_for([a, b], CLIENTNEST_PLUGINS="alpha")
    assert host.platforms() == ["alphanet"]
    assert a.value in sys.modules
    assert b.value not in sys.modules  # never imported
    assert host.plugins["beta"].enabled is False and host.plugins["beta"].error is None
    assert host.plugins["beta"].hooks == []


def test_blocklist_never_imports_the_blocked(make_plugin: Callable[..., EntryPoint]) -> None:
    a, b = make_plugin("alpha", connector("alphanet")), make_plugin("beta", connector("betanet"))
    host = host_for([a, b], CLIENTNEST_DISABLED_PLUGINS="beta, gamma")
    assert host.platforms() == ["alphanet"]
    assert b.value not in sys.modules
    assert host.plugins["beta"].enabled is False


def test_blocklist_wins_over_allowlist(make_plugin: Callable[..., EntryPoint]) -> None:
    a, b = make_plugin("alpha", connector("alphanet")), make_plugin("beta", connector("betanet"))
    host = host_for([a, b], CLIENTNEST_PLUGINS="alpha,beta", CLIENTNEST_DISABLED_PLUGINS="alpha")
    assert host.platforms() == ["betanet"]
    assert a.value not in sys.modules


def test_allowlist_from_config_file(make_plugin: Callable[..., EntryPoint], tmp_path: Path) -> None:
    a, b = make_plugin("alpha", connector("alphanet")), make_plugin("beta", connector("betanet"))
    cfg = tmp_path / "clientnest.toml"
    cfg.write_text('[clientnest]\nplugins = ["beta"]\n')
    host = host_for([a, b], CLIENTNEST_CONFIG=str(cfg))
    assert host.platforms() == ["betanet"]
    assert a.value not in sys.modules


def test_a_broken_plugin_is_reported_by_name_and_the_rest_loads(
    make_plugin: Callable[..., EntryPoint], caplog: pytest.LogCaptureFixture
) -> None:
    ok = make_plugin("alpha", connector("alphanet"))
    broken = make_plugin("broken", "import clientnest_no_such_dependency\n")
    crashing = make_plugin("crashing", "raise RuntimeError('boom at import')\n")
    with caplog.at_level(logging.ERROR, logger="clientnest.plugins"):
        host = host_for([ok, broken, crashing])
    assert host.platforms() == ["alphanet"]
    info = host.plugins["broken"]
    assert info.enabled is False
    assert info.error == "ModuleNotFoundError: No module named 'clientnest_no_such_dependency'"
    assert host.plugins["crashing"].error == "RuntimeError: boom at import"
    logged = [r.getMessage() for r in caplog.records]
    assert any("plugin broken failed to load" in m and "clientnest_no_such_dependency" in m for m in logged)


def test_a_hook_with_a_wrong_signature_is_a_broken_plugin(make_plugin: Callable[..., EntryPoint]) -> None:
    bad = make_plugin("badsig", '''
        from clientnest import hookimpl

        @hookimpl
        def clientnest_publish(connector, acount, content):
            return None
    ''')
    host = host_for([bad, make_plugin("alpha", connector("alphanet"))])
    assert host.plugins["badsig"].enabled is False
    assert "acount" in host.plugins["badsig"].error
    assert host.platforms() == ["alphanet"]
    assert host.pm.get_plugin("badsig") is None


def test_registration_hook_failure_is_reported(make_plugin: Callable[..., EntryPoint]) -> None:
    bad = make_plugin("notaclass", '''
        from clientnest import hookimpl

        @hookimpl
        def clientnest_register_connectors():
            return [object]
    ''')
    with pytest.raises(PluginError, match="'notaclass'.*not a SocialConnector subclass"):
        host_for([bad])


def test_strict_mode_makes_a_broken_plugin_fatal(make_plugin: Callable[..., EntryPoint]) -> None:
    broken = make_plugin("broken", "raise RuntimeError('boom at import')\n")
    with pytest.raises(PluginError) as exc:
        host_for([make_plugin("alpha", connector("alphanet")), broken], CLIENTNEST_STRICT_PLUGINS="1")
    assert exc.value.plugin == "broken"
    assert "plugin 'broken'" in str(exc.value) and "boom at import" in str(exc.value)
    # and not strict when the setting says so
    host = host_for([broken], CLIENTNEST_STRICT_PLUGINS="0")
    assert host.plugins["broken"].error


def test_two_plugins_claiming_one_platform_fail_naming_both(make_plugin: Callable[..., EntryPoint]) -> None:
    a, b = make_plugin("alpha", connector("samenet")), make_plugin("beta", connector("samenet"))
    with pytest.raises(PluginError) as exc:
        host_for([a, b])
    msg = str(exc.value)
    assert "'alpha'" in msg and "'beta'" in msg and "'samenet'" in msg
    # with one of them disabled, it starts
    assert host_for([a, b], CLIENTNEST_DISABLED_PLUGINS="beta").platforms() == ["samenet"]


def test_a_misspelled_hook_fails_start_up_naming_the_plugin(make_plugin: Callable[..., EntryPoint]) -> None:
    typo = make_plugin("typo", '''
        from clientnest import hookimpl

        @hookimpl
        def clientnest_publsh(connector, account, content):
            return None
    ''')
    with pytest.raises(PluginError) as exc:
        host_for([make_plugin("alpha", connector("alphanet")), typo])
    assert exc.value.plugin == "typo"
    assert "clientnest_publsh" in str(exc.value) and "unknown hook" in str(exc.value)


def test_extra_plugins_are_blocked_like_entry_points(make_plugin: Callable[..., EntryPoint]) -> None:
    class Extra:
        @hookimpl
        def clientnest_register_connectors(self) -> list:
            raise AssertionError("never called: the plugin is blocked")

    host = build_plugin_host(load_settings(env={"CLIENTNEST_DISABLED_PLUGINS": "extra"}),
                             entry_points=[], extra_plugins=[("extra", Extra())])
    assert host.plugins["extra"].enabled is False
    assert host.platforms() == []


# -- plugin configuration -------------------------------------------------------------------


def test_config_from_environment_is_typed(make_plugin: Callable[..., EntryPoint], monkeypatch: pytest.MonkeyPatch) -> None:
    host = host_for([make_plugin("alpha", connector("alphanet"))])
    monkeypatch.setenv("CLIENTNEST_ALPHANET_CLIENT_ID", "abc")
    monkeypatch.setenv("CLIENTNEST_ALPHANET_CLIENT_SECRET", "s3cr3t-value")
    monkeypatch.setenv("CLIENTNEST_ALPHANET_RETRIES", "5")
    monkeypatch.setenv("CLIENTNEST_ALPHANET_VERBOSE", "yes")
    conn = host.connector("alphanet")
    assert conn.config == {"client_id": "abc", "client_secret": "s3cr3t-value", "pin": None,
                           "retries": 5, "verbose": True}
    assert host.connector("alphanet") is conn  # one per process
    redacted = conn.config_schema.redact(conn.config)
    assert redacted["client_secret"] == "***" and redacted["client_id"] == "abc" and redacted["pin"] is None
    described = {f["name"]: f for f in conn.config_schema.describe()}
    assert described["client_secret"]["secret"] is True and described["client_id"]["secret"] is False


def test_config_file_section_and_env_precedence(make_plugin: Callable[..., EntryPoint], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[plugins.alphanet]\nclient_id = "from-file"\nclient_secret = "x"\nretries = 7\n')
    host = host_for([make_plugin("alpha", connector("alphanet"))], CLIENTNEST_CONFIG=str(cfg))
    monkeypatch.setenv("CLIENTNEST_ALPHANET_CLIENT_ID", "from-env")
    assert host.connector("alphanet").config["client_id"] == "from-env"
    assert host.connector("alphanet").config["retries"] == 7


@pytest.mark.parametrize("env, message, hidden", [
    ({"CLIENTNEST_ALPHANET_CLIENT_SECRET": "x"}, "setting 'client_id' is required", None),
    ({"CLIENTNEST_ALPHANET_CLIENT_ID": "a", "CLIENTNEST_ALPHANET_CLIENT_SECRET": "x",
      "CLIENTNEST_ALPHANET_RETRIES": "many"}, "setting 'retries' must be int, got 'many'", None),
    ({"CLIENTNEST_ALPHANET_CLIENT_ID": "a", "CLIENTNEST_ALPHANET_CLIENT_SECRET": "x",
      "CLIENTNEST_ALPHANET_PIN": "hunter2-secret"}, "setting 'pin' must be int, got <secret>", "hunter2-secret"),
    ({"CLIENTNEST_ALPHANET_CLIENT_ID": "a", "CLIENTNEST_ALPHANET_CLIENT_SECRET": "x",
      "CLIENTNEST_ALPHANET_CLIENTID": "typo"}, "unknown setting(s) clientid", None),
])
def test_config_errors_name_the_setting_and_hide_secrets(
    make_plugin: Callable[..., EntryPoint], monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str], message: str, hidden: str | None,
) -> None:
    host = host_for([make_plugin("alpha", connector("alphanet"))])
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError) as exc:
        host.connector("alphanet")
    assert message in str(exc.value) and "'alphanet'" in str(exc.value)
    if hidden:
        assert hidden not in str(exc.value)


def test_unknown_platform_is_a_config_error(make_plugin: Callable[..., EntryPoint]) -> None:
    host = host_for([make_plugin("alpha", connector("alphanet"))], CLIENTNEST_DISABLED_PLUGINS="alpha")
    with pytest.raises(ConfigError, match="no connector for platform 'alphanet' is enabled"):
        host.connector("alphanet")
