"""ClientNest: the public names a plugin may import.

A partner plugin imports only from here (``from clientnest import hookimpl,
SocialConnector, errors``), never Flask or internal modules.
"""
from __future__ import annotations

from . import errors
from .ai import (
    AIFeature,
    AIProvider,
    AIResult,
    Draft,
    DraftRequest,
    ReplyContext,
    Sentiment,
    Usage,
)
from .config import ConfigField, ConfigSchema
from .connector import (
    Account,
    AccountMetrics,
    AuthorizationRequest,
    Capability,
    Comment,
    CommentPage,
    Credentials,
    MediaItem,
    PlatformRules,
    PostContent,
    PostMetrics,
    PublishResult,
    RuleViolation,
    SocialConnector,
)
from .hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = [
    "errors",
    "hookimpl",
    "SocialConnector",
    "Capability",
    "ConfigField",
    "ConfigSchema",
    "Account",
    "AuthorizationRequest",
    "Credentials",
    "MediaItem",
    "PostContent",
    "PublishResult",
    "PostMetrics",
    "AccountMetrics",
    "Comment",
    "CommentPage",
    "PlatformRules",
    "RuleViolation",
    "AIProvider",
    "AIFeature",
    "AIResult",
    "Draft",
    "DraftRequest",
    "ReplyContext",
    "Sentiment",
    "Usage",
]
