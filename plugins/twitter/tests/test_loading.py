from __future__ import annotations

from importlib import metadata

from clientnest.plugins import build_plugin_host
from clientnest.settings import Settings


def test_entry_point_loads_the_twitter_connector() -> None:
    eps = [ep for ep in metadata.entry_points(group="clientnest") if ep.name == "twitter"]
    assert len(eps) == 1
    host = build_plugin_host(Settings(plugins=("twitter",)))
    assert host.platforms() == ["twitter"]
    info = host.plugins["twitter"]
    assert info.enabled and info.error is None
    assert info.kind == "connector"
    assert info.distribution == "clientnest-twitter"
    assert "clientnest_register_connectors" in info.hooks


def test_embedded_mode_points_the_connector_at_its_mounted_sandbox() -> None:
    host = build_plugin_host(Settings(plugins=("twitter",), sandbox=True, public_url="http://127.0.0.1:8000/"))
    connector = host.connector("twitter")
    assert connector.config["api_base"] == "http://127.0.0.1:8000/sandbox/twitter"
    assert connector.config["authorize_url"] == "http://127.0.0.1:8000/sandbox/twitter/i/oauth2/authorize"
    assert callable(type(connector).sandbox())
    host.close()


def test_settings_come_from_the_environment(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CLIENTNEST_TWITTER_CLIENT_ID", "my-client")
    monkeypatch.setenv("CLIENTNEST_TWITTER_API_BASE", "https://proxy.internal/x")
    monkeypatch.setenv("CLIENTNEST_TWITTER_TIMEOUT", "7.5")
    host = build_plugin_host(Settings(plugins=("twitter",), sandbox=False))
    connector = host.connector("twitter")
    assert connector.config["api_base"] == "https://proxy.internal/x"
    assert connector.config["upload_base"] == "https://api.x.com"  # the default
    assert connector.config["timeout"] == 7.5
    assert "client_secret" in type(connector).config_schema.secret_names
    host.close()


def test_versions_agree() -> None:
    from clientnest_twitter import TwitterConnector, __version__

    assert metadata.version("clientnest-twitter") == TwitterConnector.version == __version__
