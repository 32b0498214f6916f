"""Uploading images (Images API) and videos (Videos API) before a post."""
from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from clientnest.errors import AmbiguousError, NotSentError, PermanentError

from . import urns
from .client import LinkedInClient
from .errors import PLATFORM

__all__ = ["upload_image", "upload_video", "wait_for_video"]

_OCTETS = {"Content-Type": "application/octet-stream"}


def upload_image(client: LinkedInClient, token: str, owner: str, data: bytes, *, timeout: float) -> str:
    """``initializeUpload`` then ``PUT`` the bytes; the ``urn:li:image``."""
    init = client.json(client.send(
        "POST", client.api("/rest/images", (("action", "initializeUpload"),)), token,
        json={"initializeUploadRequest": {"owner": owner}},
    ))
    value = init.get("value") or {}
    upload_url, image = value.get("uploadUrl"), value.get("image")
    if not upload_url or not image:
        raise AmbiguousError("LinkedIn's image initializeUpload answer lacks uploadUrl or image", platform=PLATFORM)
    client.send("PUT", str(upload_url), token, content=data, headers=_OCTETS, timeout=timeout, restli=False)
    return str(image)


def upload_video(client: LinkedInClient, token: str, owner: str, data: bytes, *, timeout: float,
                 wait_seconds: float, poll_seconds: float) -> str:
    """``initializeUpload``, ``PUT`` each part LinkedIn asks for, then
    ``finalizeUpload`` with the parts' ETags, and wait until ``AVAILABLE``;
    the ``urn:li:video``."""
    init = client.json(client.send(
        "POST", client.api("/rest/videos", (("action", "initializeUpload"),)), token,
        json={"initializeUploadRequest": {
            "owner": owner, "fileSizeBytes": len(data), "uploadCaptions": False, "uploadThumbnail": False,
        }},
    ))
    value = init.get("value") or {}
    video = value.get("video")
    parts = sorted(value.get("uploadInstructions") or [], key=lambda p: int(p.get("firstByte", 0)))
    if not video or not parts:
        raise AmbiguousError("LinkedIn's video initializeUpload answer lacks video or uploadInstructions",
                             platform=PLATFORM)
    etags: list[str] = []
    for part in parts:
        first, last = int(part["firstByte"]), int(part["lastByte"])
        response = client.send("PUT", str(part["uploadUrl"]), token, content=data[first:last + 1],
                               headers=_OCTETS, timeout=timeout, restli=False)
        etag = response.headers.get("etag")
        if not etag:
            raise AmbiguousError("LinkedIn accepted a video part but sent no ETag", platform=PLATFORM)
        etags.append(etag)
    client.send("POST", client.api("/rest/videos", (("action", "finalizeUpload"),)), token, json={
        "finalizeUploadRequest": {"video": video, "uploadToken": value.get("uploadToken", ""),
                                  "uploadedPartIds": etags},
    })
    wait_for_video(client, token, str(video), wait_seconds=wait_seconds, poll_seconds=poll_seconds)
    return str(video)


def wait_for_video(client: LinkedInClient, token: str, video: str, *, wait_seconds: float,
                   poll_seconds: float) -> None:
    """LinkedIn processes a video after ``finalizeUpload``; a post may use it
    once it is ``AVAILABLE``. Still processing at the deadline: not sent, the
    post was never created."""
    deadline = time.monotonic() + wait_seconds
    while True:
        data = client.json(client.send("GET", client.api(f"/rest/videos/{urns.encode(video)}"), token))
        status = data.get("status")
        if status == "AVAILABLE":
            return
        if status == "PROCESSING_FAILED":
            reason = data.get("processingFailureReason") or "no reason given"
            raise PermanentError(f"LinkedIn could not process the video: {reason}", platform=PLATFORM)
        if time.monotonic() >= deadline:
            raise NotSentError(f"the video was still {status or 'processing'} after {wait_seconds:.0f}s",
                               platform=PLATFORM, retry_at=datetime.now(UTC) + timedelta(minutes=5))
        time.sleep(poll_seconds)
