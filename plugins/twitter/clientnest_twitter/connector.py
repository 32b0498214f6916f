"""The X (Twitter) connector."""
from __future__ import annotations

from clientnest import ConfigField, ConfigSchema, PlatformRules, SocialConnector

__all__ = ["TwitterConnector"]


class TwitterConnector(SocialConnector):
    name = "twitter"
    display_name = "X (Twitter)"
    version = "0.1.0"
    capabilities = frozenset()
    config_schema = ConfigSchema((
        ConfigField("client_id", help="OAuth client id of the app registered on the platform"),
        ConfigField("client_secret", secret=True, help="OAuth client secret"),
        ConfigField("api_base", help="base URL of the platform API (a proxy or a sandbox)"),
    ))
    rules = PlatformRules(max_length=280, max_media=4, max_images=4, max_videos=1, image_types=("image/jpeg", "image/png", "image/gif", "image/webp"), max_image_bytes=5 * 1024 * 1024, max_video_bytes=512 * 1024 * 1024, max_thread=24)
