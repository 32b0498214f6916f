"""The Facebook Pages connector."""
from __future__ import annotations

from clientnest import ConfigField, ConfigSchema, PlatformRules, SocialConnector

__all__ = ["FacebookConnector"]


class FacebookConnector(SocialConnector):
    name = "facebook"
    display_name = "Facebook Pages"
    version = "0.1.0"
    capabilities = frozenset()
    config_schema = ConfigSchema((
        ConfigField("client_id", help="OAuth client id of the app registered on the platform"),
        ConfigField("client_secret", secret=True, help="OAuth client secret"),
        ConfigField("api_base", help="base URL of the platform API (a proxy or a sandbox)"),
    ))
    rules = PlatformRules(max_length=63206, max_media=10, max_images=10, max_videos=1, image_types=("image/jpeg", "image/png", "image/gif"), max_image_bytes=10 * 1024 * 1024, max_video_bytes=1024 * 1024 * 1024, first_comment=True)
