"""ClientNest AI-provider plugin for DeepSeek (any OpenAI-compatible API)."""
from __future__ import annotations

from clientnest import AIProvider, hookimpl

from .provider import DeepSeekProvider

__version__ = DeepSeekProvider.version
__all__ = ["DeepSeekProvider", "clientnest_register_ai_providers"]


@hookimpl
def clientnest_register_ai_providers() -> list[type[AIProvider]]:
    return [DeepSeekProvider]
