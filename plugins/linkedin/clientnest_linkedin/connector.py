"""The LinkedIn connector."""
from __future__ import annotations

from clientnest import ConfigField, ConfigSchema, PlatformRules, SocialConnector

__all__ = ["LinkedInConnector"]


class LinkedInConnector(SocialConnector):
    name = "linkedin"
    display_name = "LinkedIn"
    version = "0.1.0"
    capabilities = frozenset()
    config_schema = ConfigSchema((
        ConfigField("client_id", help="OAuth client id of the app registered on the platform"),
        ConfigField("client_secret", secret=True, help="OAuth client secret"),
        ConfigField("api_base", help="base URL of the platform API (a proxy or a sandbox)"),
    ))
    rules = PlatformRules(max_length=3000, max_media=20, max_images=20, max_videos=1, image_types=("image/jpeg", "image/png", "image/gif"), max_image_bytes=36 * 1024 * 1024, max_video_bytes=5 * 1024 * 1024 * 1024, first_comment=True)
