"""The sandbox's media upload: ``POST /2/media/upload`` INIT, APPEND and
FINALIZE, and ``GET`` STATUS, with video processing in steps."""
from __future__ import annotations

import base64
import binascii
from typing import Any

from werkzeug.wrappers import Request, Response

from .base import RoutesBase
from .store import Media, User

__all__ = ["MediaRoutes", "MEDIA_TYPES", "MEDIA_LIMITS"]

MEDIA_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp", "video/mp4", "video/quicktime"}
MEDIA_LIMITS = {"photo": 5 * 1024 * 1024, "animated_gif": 15 * 1024 * 1024, "video": 512 * 1024 * 1024}


class MediaRoutes(RoutesBase):
    processing_steps: int
    check_after_secs: int

    def on_media(self, request: Request) -> Response:
        endpoint = f"{request.method} /2/media/upload"
        user, headers = self._auth(request, endpoint, "media.write")
        values = request.args if request.method == "GET" else request.form
        command = values.get("command", "")
        if request.method == "GET" and command != "STATUS":
            raise self._bad("command must be STATUS for GET", {"command": [command]}, headers)
        if command == "INIT":
            return self._media_init(values, user, headers)
        media = self.store.media.get(values.get("media_id", ""))
        if media is None or media.owner_id != user.id:
            raise self._bad("Invalid media_id", {"media_id": [values.get("media_id", "")]}, headers)
        if command == "APPEND":
            return self._media_append(request, media, headers)
        if command == "FINALIZE":
            return self._media_finalize(media, headers)
        if command == "STATUS":
            return self._media_status(media, headers)
        raise self._bad("command must be one of INIT, APPEND, FINALIZE, STATUS", {"command": [command]}, headers)

    def _media_init(self, values: Any, user: User, headers: dict[str, str]) -> Response:
        media_type = values.get("media_type", "")
        total = values.get("total_bytes", "")
        if media_type not in MEDIA_TYPES:
            raise self._bad(f"media_type {media_type!r} is not supported", {"media_type": [media_type]}, headers)
        if not total.isdigit() or int(total) <= 0:
            raise self._bad("total_bytes must be a positive integer", {"total_bytes": [total]}, headers)
        media = self.store.new_media(user.id, media_type, int(total))
        if media.total_bytes > MEDIA_LIMITS[media.type]:
            raise self._bad(f"File size exceeds {MEDIA_LIMITS[media.type]} bytes.", {"total_bytes": [total]}, headers)
        return self._json(200, {"data": {"id": media.id, "media_key": media.key, "expires_after_secs": 86400}}, headers)

    def _media_append(self, request: Request, media: Media, headers: dict[str, str]) -> Response:
        index = request.form.get("segment_index", "")
        if not index.isdigit() or int(index) > 999:
            raise self._bad("segment_index must be between 0 and 999", {"segment_index": [index]}, headers)
        upload = request.files.get("media")
        if upload is not None:
            chunk = upload.read()
        elif request.form.get("media_data"):
            try:
                chunk = base64.b64decode(request.form["media_data"])
            except binascii.Error:
                raise self._bad("media_data is not base64", {"media_data": []}, headers) from None
        else:
            raise self._bad("media is required", {"media": []}, headers)
        if len(chunk) > 5 * 1024 * 1024:
            raise self._bad("a segment may hold at most 5 MB", {"media": []}, headers)
        with self.store.lock:
            media.chunks[int(index)] = len(chunk)
            if int(index) == 0:
                media.head = chunk[:16]
        return Response(status=204, headers=headers)

    def _media_finalize(self, media: Media, headers: dict[str, str]) -> Response:
        if media.received != media.total_bytes:
            raise self._bad(f"File size mismatch: received {media.received} of {media.total_bytes} bytes",
                            {"media_id": [media.id]}, headers)
        data: dict[str, Any] = {"id": media.id, "media_key": media.key, "size": media.total_bytes,
                                "expires_after_secs": 86400}
        with self.store.lock:
            if media.type == "photo":
                media.state = "succeeded"
            else:
                media.state = "pending"
                media.steps_left = self.processing_steps
                data["processing_info"] = {"state": "pending", "check_after_secs": self.check_after_secs}
        return self._json(200, {"data": data}, headers)

    def _media_status(self, media: Media, headers: dict[str, str]) -> Response:
        with self.store.lock:
            if media.state in ("pending", "in_progress"):
                media.steps_left -= 1
                if media.steps_left > 0:
                    media.state = "in_progress"
                elif media.head.startswith(b"NOTAVIDEO"):
                    media.state = "failed"
                else:
                    media.state = "succeeded"
            info: dict[str, Any] = {"state": media.state}
            if media.state == "in_progress":
                info.update(check_after_secs=self.check_after_secs, progress_percent=50)
            elif media.state == "succeeded":
                info["progress_percent"] = 100
            elif media.state == "failed":
                info.update(progress_percent=100, error={
                    "code": 1, "name": "InvalidMedia", "message": "Invalid or Unsupported media, Reason: UnsupportedMedia."})
        return self._json(200, {"data": {"id": media.id, "media_key": media.key, "processing_info": info}}, headers)

