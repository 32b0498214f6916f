"""GET /api/v1/workspaces/{wid}/events, served by the API process.

In the embedded mode the threaded server gives each open stream a thread of
its own. Outside it the API's workers are synchronous (gunicorn), and a
stream would hold one for as long as a dashboard stays open, so the route
answers 503 there and the reverse proxy sends the path to ``clientnest
events`` (:mod:`.server`) instead; ``api_serves_events`` turns streaming on
anyway (for example a threaded single-process deployment).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from flask import Response, request
from flask_smorest import abort

from clientnest.events import Subscription, bus_for
from clientnest.models import Role
from clientnest.runtime import Runtime

from ..db_session import runtime
from ..extensions import Blueprint
from ..security import AuthFailure, credentials, find_caller, workspace_access
from .stream import CLOSING, HEADERS, HEARTBEAT, OPENING, RETRY_MS, encode

__all__ = ["blp", "still_allowed"]

log = logging.getLogger(__name__)

blp = Blueprint("events", __name__, url_prefix="/api/v1", description="Live updates (Server-Sent Events)")

_DESCRIPTION = f"""A Server-Sent Events stream (`text/event-stream`) of the workspace's status changes,
as they are committed:

- `event: target`, data `{{post_id, target_id, account_id, platform, status, from, error?, published_at?, url?}}`
  whenever a target's status changes (queued, publishing, published, failed, unknown, held, scheduled, canceled);
  `error` is the target's `last_error` (`{{kind, message}}`);
- `event: post`, data `{{post_id, status, from}}` when a post's derived status changes.

Each event has an `id:`; reconnect with `Last-Event-ID` to get the recent events missed (the browser's
EventSource does this by itself, after the `retry: {RETRY_MS}` hint). A `: heartbeat` comment comes on a
quiet stream. The stream ends when the session or token stops being valid or the caller leaves the workspace.
Authenticate with a bearer token or the session cookie (GET needs no CSRF header). In production this path
is served by the events server (`clientnest events`); the API itself answers 503 there."""


def still_allowed(rt: Runtime, token: str, wid: int) -> bool:
    """Whether ``token`` is still valid and its user still a member of ``wid``."""
    try:
        with rt.db.engine.connect() as conn:
            return find_caller(conn, token, wid).member_of is not None
    except AuthFailure:
        return False
    except Exception:  # the database blinked: the stream goes on, checked again next time
        log.warning("events: could not check a stream's credentials again", exc_info=True)
        return True


def _stream(rt: Runtime, sub: Subscription, token: str, wid: int) -> Iterator[str]:
    settings = rt.settings
    next_check = time.monotonic() + settings.events_recheck_seconds
    try:
        yield OPENING
        while True:
            messages = sub.get(timeout=settings.events_heartbeat_seconds)
            yield encode(messages) if messages else HEARTBEAT
            if time.monotonic() >= next_check:
                if not still_allowed(rt, token, wid):
                    yield CLOSING
                    return
                next_check = time.monotonic() + settings.events_recheck_seconds
    finally:
        sub.close()  # the client went away (or the server stops): unsubscribe


@blp.route("/workspaces/<int:wid>/events", methods=["GET"])
@blp.doc(description=_DESCRIPTION, parameters=[{
    "in": "header", "name": "Last-Event-ID", "required": False, "schema": {"type": "string"},
    "description": "the id of the last event received: the stream starts with the recent ones after it",
}])
@blp.response(200, {"type": "string", "description": "text/event-stream"}, content_type="text/event-stream",
              description="the event stream (never ends by itself)")
@blp.alt_response(503, response="SERVICE_UNAVAILABLE", description="served by the events server in this deployment")
def events(wid: int) -> Any:
    """Live status changes of the workspace's posts and targets (Server-Sent Events)."""
    workspace_access(Role.VIEWER)
    rt = runtime()
    if not (rt.settings.embedded or rt.settings.api_serves_events):
        abort(503, message="live events are served by the events server here (clientnest events); "
                           "the reverse proxy routes /api/v1/workspaces/{wid}/events to it",
              headers={"Retry-After": str(RETRY_MS // 1000)})
    token, _by_cookie = credentials()
    # subscribed before the response starts: nothing committed after this is missed
    sub = bus_for(rt).subscribe(wid, last_id=request.headers.get("Last-Event-ID"))
    # the request's database connection goes back to the pool when this
    # returns (the stream itself needs none)
    return Response(_stream(rt, sub, token, wid), mimetype="text/event-stream", headers=HEADERS)
