"""What a target publishes: the connector's :class:`PostContent` built from
the post and the target (text override, media, thread, first comment)."""
from __future__ import annotations

from typing import Any

from ..connector import PostContent
from ..models import Post, PostTarget

__all__ = ["build_content", "idempotency_key"]


def idempotency_key(target_id: int) -> str:
    """Stable across every retry of one target, different for every target."""
    return f"cn-t{target_id}"


def build_content(runtime: Any, target: PostTarget, post: Post) -> PostContent:
    media = []
    if post.media_links:
        # imported only when needed: storage drivers are not loaded for text posts
        from ..services.media import media_item

        media = [media_item(runtime, link.media) for link in post.media_links]
    return PostContent(
        text=target.text_override if target.text_override is not None else post.text,
        media=media,
        link=post.link,
        thread=list(post.thread or []),
        first_comment=post.first_comment,
        key=idempotency_key(target.id),
    )
