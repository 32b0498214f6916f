"""ClientNest connector plugin for Instagram."""
from __future__ import annotations

from clientnest import SocialConnector, hookimpl

from .connector import InstagramConnector

__version__ = InstagramConnector.version
__all__ = ["InstagramConnector", "clientnest_register_connectors"]


@hookimpl
def clientnest_register_connectors() -> list[type[SocialConnector]]:
    return [InstagramConnector]
