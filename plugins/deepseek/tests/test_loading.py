from __future__ import annotations

from clientnest.plugins import build_plugin_host
from clientnest.settings import Settings


def test_entry_point_loads_the_deepseek_provider() -> None:
    host = build_plugin_host(Settings(plugins=("deepseek",)))
    assert list(host.provider_classes) == ["deepseek"]
    info = host.plugins["deepseek"]
    assert info.enabled and info.kind == "ai_provider"
    assert "clientnest_register_ai_providers" in info.hooks
