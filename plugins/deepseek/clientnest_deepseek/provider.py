"""The DeepSeek provider."""
from __future__ import annotations

from clientnest import AIProvider, ConfigField, ConfigSchema

__all__ = ["DeepSeekProvider"]


class DeepSeekProvider(AIProvider):
    name = "deepseek"
    display_name = "DeepSeek"
    version = "0.1.0"
    capabilities = frozenset()
    config_schema = ConfigSchema((
        ConfigField("api_key", secret=True, help="DeepSeek API key"),
        ConfigField("base_url", default="https://api.deepseek.com", help="OpenAI-compatible base URL"),
        ConfigField("model", default="deepseek-chat"),
    ))

    def is_configured(self) -> bool:
        return bool(self.config.get("api_key"))
