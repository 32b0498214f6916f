"""ClientNest connector plugin for Facebook Pages."""
from __future__ import annotations

from clientnest import SocialConnector, hookimpl

from .connector import FacebookConnector

__version__ = FacebookConnector.version
__all__ = ["FacebookConnector", "clientnest_register_connectors"]


@hookimpl
def clientnest_register_connectors() -> list[type[SocialConnector]]:
    return [FacebookConnector]
