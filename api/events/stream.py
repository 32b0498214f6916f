"""The event stream's wire format (Server-Sent Events), shared by the API
route and the events server.

A stream opens with a ``retry:`` hint and a ``: connected`` comment (sent
once the stream is subscribed: an event committed after it arrives), then
sends each event as::

    id: <opaque id, increasing>
    event: target | post
    data: <JSON on one line>

and a ``: heartbeat`` comment on a quiet stream. A client reconnecting with
``Last-Event-ID`` first gets the kept events it missed.
"""
from __future__ import annotations

import json
from collections.abc import Iterable

from clientnest.events import Message

__all__ = ["RETRY_MS", "OPENING", "HEARTBEAT", "CLOSING", "encode", "HEADERS", "PATH_TEMPLATE"]

#: how long a browser waits before reconnecting (EventSource does it by itself)
RETRY_MS = 3000
OPENING = f"retry: {RETRY_MS}\n: connected\n\n"
HEARTBEAT = ": heartbeat\n\n"
#: sent before the server ends a stream whose credentials no longer hold
CLOSING = ": signed out\n\n"
PATH_TEMPLATE = "/api/v1/workspaces/{wid}/events"
HEADERS = {
    "Cache-Control": "no-cache",
    # nginx and others buffer responses by default; an event must not wait
    "X-Accel-Buffering": "no",
}


def encode(messages: Iterable[Message]) -> str:
    return "".join(
        f"id: {m.id}\nevent: {m.event}\ndata: {json.dumps(m.data, separators=(',', ':'))}\n\n" for m in messages
    )
