"""The sandbox takes media as Instagram does: it downloads ``image_url`` or
``video_url`` when the container is created, with no credentials, and
refuses what it cannot download or what is not a photo or a video.

Only a digest of what was downloaded is kept (size and SHA-256), so tests
can check that the platform received the very bytes that were uploaded; the
body is streamed, never held whole in memory.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["Fetched", "fetch_media", "FETCH_TIMEOUT", "MAX_FETCH_BYTES"]

#: seconds the sandbox waits for a media URL (Instagram's own wait is not documented)
FETCH_TIMEOUT = 10.0
#: the sandbox stops downloading past this (Instagram's reels limit is 1 GB)
MAX_FETCH_BYTES = 1 << 30
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Fetched:
    """What downloading one media URL gave."""

    url: str
    ok: bool
    kind: str = ""  # image | video, from the bytes
    size: int = 0
    sha256: str = ""
    reason: str = ""  # why it failed, for the sandbox's own log and tests

    def digest(self) -> dict[str, Any]:
        return {"url": self.url, "size": self.size, "sha256": self.sha256, "kind": self.kind}


def _kind(head: bytes) -> str:
    if head.startswith(b"\xff\xd8\xff") or head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image"
    if head[4:8] == b"ftyp":
        return "video"
    return ""


def fetch_media(url: str, want: str, *, timeout: float = FETCH_TIMEOUT,
                transport: httpx.BaseTransport | None = None) -> Fetched:
    """Download ``url`` and say whether it is a ``want`` ("image" or "video")."""
    digest = hashlib.sha256()
    size, head = 0, b""
    try:
        with httpx.Client(timeout=timeout, follow_redirects=True, transport=transport) as client:
            with client.stream("GET", url) as resp:
                if resp.status_code != 200:
                    return Fetched(url, False, reason=f"HTTP {resp.status_code}")
                for chunk in resp.iter_bytes(_CHUNK):
                    if len(head) < 16:
                        head += chunk[:16]
                    size += len(chunk)
                    if size > MAX_FETCH_BYTES:
                        return Fetched(url, False, reason="too large")
                    digest.update(chunk)
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        return Fetched(url, False, reason=f"{type(exc).__name__}: {exc}")
    kind = _kind(head)
    if kind != want:
        return Fetched(url, False, kind=kind, size=size, reason=f"not a {want} ({kind or 'unknown bytes'})")
    return Fetched(url, True, kind=kind, size=size, sha256=digest.hexdigest())
