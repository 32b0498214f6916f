"""Chunked media upload to X's v2 endpoint: INIT, APPEND, FINALIZE, STATUS.

``POST {upload_base}/2/media/upload`` with ``command=INIT`` (``media_type``,
``total_bytes``, ``media_category``) answers ``{"data": {"id", "media_key",
"expires_after_secs"}}``; each ``APPEND`` sends one chunk (``media``,
``segment_index``; X takes at most 5 MB per chunk); ``FINALIZE`` answers the
same envelope, with ``processing_info`` for video and animated GIFs, which we
then poll with ``GET ...?command=STATUS&media_id=..`` every
``check_after_secs`` until ``succeeded`` or ``failed``. The older v1.1 shape
(``media_id_string``) is accepted too. The v2 endpoint takes OAuth 2.0 user
tokens with the ``media.write`` scope.

Nothing is published during an upload, so a failure here can never make a
post exist: ambiguous failures (a 500, a timeout) become :class:`NotSentError`,
and the worst case is an orphan upload, which X discards when it expires.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from clientnest import MediaItem
from clientnest.errors import AmbiguousError, NotSentError, PermanentError

from .client import XClient
from .errors import PLATFORM

__all__ = ["media_category", "upload_media", "MAX_CHUNK_BYTES"]

MAX_CHUNK_BYTES = 5 * 1024 * 1024
UPLOAD_PATH = "/2/media/upload"


def media_category(item: MediaItem) -> str:
    if item.kind == "video":
        return "tweet_video"
    if item.kind == "gif" or item.content_type == "image/gif":
        return "tweet_gif"
    return "tweet_image"


def _data(body: Any) -> dict[str, Any]:
    if isinstance(body, dict) and isinstance(body.get("data"), dict):
        return body["data"]
    return body if isinstance(body, dict) else {}


def _media_id(body: Any) -> str:
    data = _data(body)
    value = data.get("id") or data.get("media_id_string") or data.get("media_id")
    if not value:
        raise NotSentError("X's media upload answered without a media id", platform=PLATFORM)
    return str(value)


def upload_media(
    client: XClient,
    token: str,
    item: MediaItem,
    *,
    chunk_bytes: int,
    processing_timeout: float,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> str:
    """Upload one media item; return X's media id, ready to attach."""
    if item.read is None:
        raise PermanentError(f"media {item.id} has no content to upload", platform=PLATFORM)
    payload = item.read()
    try:
        return _upload(client, token, item, payload, chunk_bytes, processing_timeout, sleep, monotonic)
    except AmbiguousError as exc:
        raise NotSentError(
            f"media upload failed before anything was posted: {exc.message}",
            platform=PLATFORM, status=exc.status, code=exc.code, retry_at=exc.retry_at,
        ) from None


def _upload(
    client: XClient,
    token: str,
    item: MediaItem,
    payload: bytes,
    chunk_bytes: int,
    processing_timeout: float,
    sleep: Callable[[float], None],
    monotonic: Callable[[], float],
) -> str:
    init = client.request_json("POST", UPLOAD_PATH, token=token, upload=True, data={
        "command": "INIT",
        "media_type": item.content_type,
        "total_bytes": str(len(payload)),
        "media_category": media_category(item),
    })
    media_id = _media_id(init)
    size = max(1, min(chunk_bytes, MAX_CHUNK_BYTES))
    for index, start in enumerate(range(0, len(payload), size)):
        client.request(
            "POST", UPLOAD_PATH, token=token, upload=True,
            data={"command": "APPEND", "media_id": media_id, "segment_index": str(index)},
            files={"media": ("blob", payload[start:start + size], "application/octet-stream")},
        )
    final = client.request_json("POST", UPLOAD_PATH, token=token, upload=True,
                                data={"command": "FINALIZE", "media_id": media_id})
    info = _data(final).get("processing_info")
    started, waited = monotonic(), 0.0
    while isinstance(info, dict) and info.get("state") in ("pending", "in_progress"):
        advised = info.get("check_after_secs")
        wait = max(0.0, float(advised)) if isinstance(advised, (int, float)) else 1.0
        # the larger of the clock and the waits asked for: either may run ahead
        if max(monotonic() - started, waited) + wait > processing_timeout:
            raise NotSentError(
                f"X was still processing media {item.id} after {processing_timeout:.0f} s",
                platform=PLATFORM, retry_at=datetime.now(UTC) + timedelta(seconds=max(wait, 60)),
            )
        sleep(wait)
        waited += wait
        status = client.request_json("GET", UPLOAD_PATH, token=token, upload=True,
                                     params={"command": "STATUS", "media_id": media_id})
        info = _data(status).get("processing_info")
    if isinstance(info, dict) and info.get("state") == "failed":
        err = info.get("error") or {}
        message = err.get("message") or err.get("name") or "X could not process the media"
        raise PermanentError(f"media {item.id}: {message}", platform=PLATFORM, code=err.get("code"), raw=info)
    return media_id
