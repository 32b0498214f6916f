"""ClientNest connector plugin for LinkedIn."""
from __future__ import annotations

from clientnest import SocialConnector, hookimpl

from .connector import LinkedInConnector

__version__ = LinkedInConnector.version
__all__ = ["LinkedInConnector", "clientnest_register_connectors"]


@hookimpl
def clientnest_register_connectors() -> list[type[SocialConnector]]:
    return [LinkedInConnector]
