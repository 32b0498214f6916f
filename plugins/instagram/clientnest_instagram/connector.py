"""The Instagram connector."""
from __future__ import annotations

from clientnest import ConfigField, ConfigSchema, PlatformRules, SocialConnector

__all__ = ["InstagramConnector"]


class InstagramConnector(SocialConnector):
    name = "instagram"
    display_name = "Instagram"
    version = "0.1.0"
    capabilities = frozenset()
    config_schema = ConfigSchema((
        ConfigField("client_id", help="OAuth client id of the app registered on the platform"),
        ConfigField("client_secret", secret=True, help="OAuth client secret"),
        ConfigField("api_base", help="base URL of the platform API (a proxy or a sandbox)"),
    ))
    rules = PlatformRules(max_length=2200, requires_media=True, max_media=10, max_images=10, max_videos=10, mixed_media=True, image_types=("image/jpeg",), max_image_bytes=8 * 1024 * 1024, max_video_bytes=1024 * 1024 * 1024, max_hashtags=30, first_comment=True)
