from __future__ import annotations

import pytest

from clientnest.ai import AIFeature
from clientnest.plugins import build_plugin_host
from clientnest.settings import Settings
from clientnest_deepseek.provider import DeepSeekProvider


def test_entry_point_loads_the_deepseek_provider() -> None:
    host = build_plugin_host(Settings(plugins=("deepseek",)))
    # the bundled offline provider is always there as well
    assert set(host.provider_classes) == {"deepseek", "offline"}
    info = host.plugins["deepseek"]
    assert info.enabled and info.kind == "ai_provider"
    assert "clientnest_register_ai_providers" in info.hooks
    assert host.provider_classes["deepseek"].capabilities == frozenset(AIFeature)


def test_configuration_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLIENTNEST_DEEPSEEK_API_KEY", "sk-from-env-1234")
    monkeypatch.setenv("CLIENTNEST_DEEPSEEK_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("CLIENTNEST_DEEPSEEK_MODEL", "local-llm")
    monkeypatch.setenv("CLIENTNEST_DEEPSEEK_TOTAL_TIMEOUT", "7.5")
    monkeypatch.setenv("CLIENTNEST_DEEPSEEK_PRICE_OUTPUT_PER_MTOK", "2")
    host = build_plugin_host(Settings(plugins=("deepseek",)))
    provider = host.provider("deepseek")
    assert provider.is_configured()
    assert provider.model == "local-llm"
    assert provider.config["base_url"] == "http://127.0.0.1:9/v1"
    assert provider.config["total_timeout"] == 7.5
    assert provider.config["price_output_per_mtok"] == 2.0
    # the key is a secret: never shown by describe() or redact()
    schema = DeepSeekProvider.config_schema
    assert schema.redact(provider.config)["api_key"] == "***"
    assert [f for f in schema.describe() if f["name"] == "api_key"][0]["secret"] is True


def test_without_a_key_the_provider_is_not_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLIENTNEST_DEEPSEEK_API_KEY", raising=False)
    host = build_plugin_host(Settings(plugins=("deepseek",)))
    assert not host.provider("deepseek").is_configured()


def test_a_typo_in_a_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from clientnest.errors import ConfigError

    with pytest.raises(ConfigError, match="modle"):
        DeepSeekProvider.config_schema.validate("deepseek", {"modle": "x"})
    with pytest.raises(ConfigError, match="max_retries"):
        DeepSeekProvider.config_schema.validate("deepseek", {"max_retries": "many"})
