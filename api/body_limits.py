"""How large a request body each route accepts, decided in one place.

Every route but two kinds takes a small JSON body: ``json_max_bytes``
(default 1 MiB). Media uploads take ``media_max_bytes`` (default 512 MiB);
werkzeug's multipart parser writes their files to temporary files as they
arrive, so a large upload never sits in memory. Platform webhooks take
``webhook_max_bytes``.

The check runs before any view (and before anything reads the body): a
declared ``Content-Length`` over the route's limit is answered 413 at once,
the body left unread, and the connection closed so the server does not
read it to reuse the connection either. A body without a length (chunked)
is read through :class:`CappedStream`, which answers 413 as soon as more
than the limit has arrived. (werkzeug's own maximum would not do: it stops
reading at the limit and hands the view the first bytes as if they were the
whole body.)
"""
from __future__ import annotations

import io
import tempfile
from typing import IO

from flask import Flask, request
from flask import Request as FlaskRequest
from flask_smorest import abort

from clientnest.settings import Settings

from .db_session import runtime

__all__ = ["init_app", "body_limit", "CappedStream", "Request", "UPLOAD_ENDPOINTS", "MULTIPART_ALLOWANCE",
           "FILE_IN_MEMORY"]

#: endpoints whose body is a media upload (multipart/form-data)
UPLOAD_ENDPOINTS = frozenset({"media.MediaCollection"})
#: the blueprint of platform webhooks
WEBHOOK_BLUEPRINT = "webhooks"
#: room for the multipart envelope around a file of exactly media_max_bytes,
#: so the media service, not this check, explains a file that is too large
MULTIPART_ALLOWANCE = 64 * 1024
#: an uploaded file stays in memory up to this, then goes to a temporary
#: file (werkzeug's default keeps 500 KiB of each in memory)
FILE_IN_MEMORY = 64 * 1024


class Request(FlaskRequest):
    """The app's request class: multipart files spool to disk early."""

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> IO[bytes]:
        return tempfile.SpooledTemporaryFile(max_size=FILE_IN_MEMORY, mode="rb+")  # type: ignore[return-value]


def body_limit(settings: Settings, endpoint: str | None, blueprint: str | None) -> int:
    """The most bytes a request body to ``endpoint`` may have."""
    if endpoint in UPLOAD_ENDPOINTS:
        return settings.media_max_bytes + MULTIPART_ALLOWANCE
    if blueprint == WEBHOOK_BLUEPRINT:
        return settings.webhook_max_bytes
    return settings.json_max_bytes


class CappedStream(io.RawIOBase):
    """A body of unknown length that may not pass ``limit`` bytes: reading
    the byte after the limit raises 413, so nothing past it is read."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self._stream, self.limit, self.pos = stream, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf: bytearray | memoryview) -> int:  # type: ignore[override]
        want = min(len(buf), self.limit + 1 - self.pos)
        data = self._stream.read(want) if want > 0 else b""
        self.pos += len(data)
        if self.pos > self.limit:
            # the rest stays unread: the connection cannot serve another request
            abort(413, message=f"request body is longer than this route accepts (at most {_size(self.limit)})",
                  headers={"Connection": "close"})
        buf[:len(data)] = data
        return len(data)


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} bytes"


def init_app(app: Flask) -> None:
    """Register the check; call it before other ``before_request`` hooks.
    (``MAX_CONTENT_LENGTH``, the app's default, is ``json_max_bytes``.)"""
    app.request_class = Request

    @app.before_request
    def _limit_body() -> None:
        limit = body_limit(runtime().settings, request.endpoint, request.blueprint)
        length = request.content_length
        if length is not None and length > limit:
            abort(413, message=f"request body is {length} bytes; this route accepts at most {_size(limit)}",
                  headers={"Connection": "close"})
        if length is None and request.environ.get("wsgi.input_terminated"):
            # chunked: the server ends the stream; ours refuses the byte past the
            # limit, and werkzeug's maximum (one more) only ever lets ours decide
            request.environ["wsgi.input"] = CappedStream(request.environ["wsgi.input"], limit)
            request.max_content_length = limit + 1
        else:
            # a declared length within the limit: werkzeug reads at most that
            request.max_content_length = limit
