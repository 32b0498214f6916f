"""The AI-provider contract: what an AI plugin implements.

A provider plugin registers a subclass of :class:`AIProvider` through the
``clientnest_register_ai_providers`` hook. Every result is an
:class:`AIResult` that names the provider and model that made it and carries
the provider's own usage figures, which the core meters and prices.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar

from .config import ConfigSchema
from .connector import PlatformRules

__all__ = [
    "AIFeature",
    "DraftRequest",
    "Draft",
    "Sentiment",
    "ReplyContext",
    "Usage",
    "AIResult",
    "AIProvider",
]

T = TypeVar("T")


class AIFeature(StrEnum):
    DRAFTS = "drafts"
    REWRITE = "rewrite"
    HASHTAGS = "hashtags"
    SENTIMENT = "sentiment"
    REPLIES = "replies"


@dataclass
class DraftRequest:
    """Write posts from a brief, one set of ``variants`` per platform."""

    brief: str
    platforms: list[str]
    rules: dict[str, PlatformRules]
    tone: str = "friendly"
    language: str = "en"
    variants: int = 1


@dataclass
class Draft:
    platform: str
    text: str
    hashtags: list[str] = field(default_factory=list)


@dataclass
class Sentiment:
    """``score`` in [-1, 1]; ``needs_human`` for complaints, questions, urgency."""

    label: str  # positive | neutral | negative
    score: float
    needs_human: bool = False
    reasons: list[str] = field(default_factory=list)


@dataclass
class ReplyContext:
    """What a reply must respect: the brand's voice and its rules."""

    brand_voice: str = ""
    rules: list[str] = field(default_factory=list)
    post_text: str = ""
    platform: str | None = None
    max_length: int | None = None


@dataclass
class Usage:
    """Token counts as the provider reported them."""

    prompt_cache_hit_tokens: int = 0
    prompt_cache_miss_tokens: int = 0
    completion_tokens: int = 0

    @property
    def prompt_tokens(self) -> int:
        return self.prompt_cache_hit_tokens + self.prompt_cache_miss_tokens


@dataclass
class AIResult(Generic[T]):
    value: T
    provider: str
    model: str
    usage: Usage = field(default_factory=Usage)

    def to_json(self) -> dict[str, Any]:
        return {"provider": self.provider, "model": self.model, "usage": asdict(self.usage)}


class AIProvider:
    """Base class of AI-provider plugins."""

    name: ClassVar[str] = ""
    display_name: ClassVar[str] = ""
    version: ClassVar[str] = "0"
    capabilities: ClassVar[frozenset[AIFeature]] = frozenset()
    config_schema: ClassVar[ConfigSchema] = ConfigSchema()
    #: True for a provider that needs no network or key (the bundled default)
    offline: ClassVar[bool] = False

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = dict(config)

    @property
    def model(self) -> str:
        return str(self.config.get("model") or self.name)

    def is_configured(self) -> bool:
        """Whether the provider can serve requests with its configuration."""
        return True

    def price(self, usage: Usage) -> float:
        """Cost in USD of ``usage`` from the configured price table."""
        return 0.0

    def generate_posts(self, request: DraftRequest) -> AIResult[list[Draft]]:
        raise NotImplementedError

    def rewrite(self, text: str, platform: str, rules: PlatformRules) -> AIResult[str]:
        raise NotImplementedError

    def suggest_hashtags(self, text: str, platform: str, count: int) -> AIResult[list[str]]:
        raise NotImplementedError

    def score_sentiment(self, texts: Sequence[str]) -> AIResult[list[Sentiment]]:
        raise NotImplementedError

    def draft_reply(self, comment: str, context: ReplyContext) -> AIResult[str]:
        raise NotImplementedError

    def close(self) -> None:
        """Release network resources."""
