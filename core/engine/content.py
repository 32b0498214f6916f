"""What a target publishes: the connector's :class:`PostContent` built from
the post and the target (text override, media, thread, first comment)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..connector import MediaItem, PostContent
from ..models import Media, PostMedia

__all__ = ["build_content", "idempotency_key", "load_media"]


def idempotency_key(target_id: int) -> str:
    """Stable across every retry of one target, different for every target."""
    return f"cn-t{target_id}"


def load_media(runtime: Any, session: Session, post_id: int) -> list[MediaItem]:
    """The post's media, in order, as the connector sees them."""
    # imported only when a post has media: storage drivers stay unloaded for text posts
    from ..services.media import media_item

    rows = session.scalars(
        select(Media).join(PostMedia, PostMedia.media_id == Media.id)
        .where(PostMedia.post_id == post_id).order_by(PostMedia.position)
    ).all()
    return [media_item(runtime, m) for m in rows]


def build_content(
    target_id: int,
    *,
    text: str,
    text_override: str | None,
    link: str | None,
    thread: Sequence[str] | None,
    first_comment: str | None,
    media: Sequence[MediaItem] = (),
) -> PostContent:
    return PostContent(
        text=text_override if text_override is not None else (text or ""),
        media=list(media),
        link=link,
        thread=list(thread or []),
        first_comment=first_comment,
        key=idempotency_key(target_id),
    )
