"""ClientNest connector plugin for X (Twitter)."""
from __future__ import annotations

from clientnest import SocialConnector, hookimpl

from .connector import TwitterConnector

__version__ = TwitterConnector.version
__all__ = ["TwitterConnector", "clientnest_register_connectors"]


@hookimpl
def clientnest_register_connectors() -> list[type[SocialConnector]]:
    return [TwitterConnector]
