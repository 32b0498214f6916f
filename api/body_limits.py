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
is cut off by werkzeug when reading passes the limit, also with 413.
"""
from __future__ import annotations

from flask import Flask, request
from flask_smorest import abort

from clientnest.settings import Settings

from .db_session import runtime

__all__ = ["init_app", "body_limit", "UPLOAD_ENDPOINTS", "MULTIPART_ALLOWANCE"]

#: endpoints whose body is a media upload (multipart/form-data)
UPLOAD_ENDPOINTS = frozenset({"media.MediaCollection"})
#: the blueprint of platform webhooks
WEBHOOK_BLUEPRINT = "webhooks"
#: room for the multipart envelope around a file of exactly media_max_bytes,
#: so the media service, not this check, explains a file that is too large
MULTIPART_ALLOWANCE = 64 * 1024


def body_limit(settings: Settings, endpoint: str | None, blueprint: str | None) -> int:
    """The most bytes a request body to ``endpoint`` may have."""
    if endpoint in UPLOAD_ENDPOINTS:
        return settings.media_max_bytes + MULTIPART_ALLOWANCE
    if blueprint == WEBHOOK_BLUEPRINT:
        return settings.webhook_max_bytes
    return settings.json_max_bytes


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} bytes"


def init_app(app: Flask) -> None:
    """Register the check; call it before other ``before_request`` hooks.
    (``MAX_CONTENT_LENGTH``, the app's default, is ``json_max_bytes``.)"""

    @app.before_request
    def _limit_body() -> None:
        limit = body_limit(runtime().settings, request.endpoint, request.blueprint)
        # werkzeug enforces it on every read of the body (form, JSON, stream)
        request.max_content_length = limit
        length = request.content_length
        if length is not None and length > limit:
            abort(413, message=f"request body is {length} bytes; this route accepts at most {_size(limit)}",
                  headers={"Connection": "close"})
