"""The control interface every connector sandbox implements: fault injection,
reset, and a few ways to act as the platform's other users.

A sandbox is a WSGI app. Besides the platform endpoints its connector uses, it
answers these routes, relative to its root (``/sandbox/<name>`` when mounted
in the embedded mode). They are never rate limited and never faulted.

=======  =====================  ==================================================
method   path                   what it does
=======  =====================  ==================================================
POST     ``/_sandbox/faults``   arm a fault (JSON below); ``201 {"id", ...}``
GET      ``/_sandbox/faults``   the armed faults; ``200 {"faults": [...]}``
DELETE   ``/_sandbox/faults``   disarm every fault; ``204``
POST     ``/_sandbox/reset``    forget every post, comment, token and fault; ``204``
POST     ``/_sandbox/comments`` ``{"post_id", "text", "reply_to"?}``: another user
                                comments on a post (or replies to a comment);
                                ``201 {"id"}``
POST     ``/_sandbox/metrics``  ``{"post_id", "metrics": {"likes": 3, ...}}`` with
                                :class:`~clientnest.PostMetrics` names; ``204``
                                (optional: ``404`` if the sandbox has no metrics)
POST     ``/_sandbox/tokens``   credentials a ``connect_with_token`` accepts;
                                ``201 {...}`` (optional; required without OAuth)
=======  =====================  ==================================================

A fault (``POST /_sandbox/faults``)::

    {"kind": "rate_limit", "retry_after": 30, "method": "POST", "path": "/2/tweets", "times": 1}

``kind``
    ``rate_limit``    the platform's 429 with its own reset headers, ``retry_after``
                      seconds from now;
    ``unavailable``   503 with ``Retry-After: <retry_after>``;
    ``server_error``  ``status`` (500, 502 or 504; default 500) with the platform's body;
    ``expired_token`` the platform's answer to an expired or revoked token;
    ``duplicate``     the platform's refusal of duplicate content (publish requests only);
    ``slow``          the request is carried out, then the answer waits ``delay`` seconds
                      (a client that times out cannot know the post exists);
    ``disconnect``    the request is carried out, then the connection is closed with no
                      answer (a reset after sending).

    ``{"status": N}`` alone is shorthand: 429 -> ``rate_limit``, 503 -> ``unavailable``,
    401 -> ``expired_token``, any other 5xx -> ``server_error``.
``method``, ``path``
    restrict the fault to requests with this method and a path starting with this prefix
    (relative to the sandbox root). Without them it hits the next API request.
``publish``
    ``true``: only the request that makes a post exist (the sandbox knows which one: X's
    ``POST /2/tweets``, Instagram's ``media_publish`` ...). ``duplicate`` implies it.
``times``
    how many matching requests it hits (default 1; ``0`` = until disarmed).

:class:`FaultSet` keeps the armed faults and :class:`SandboxControl` serves
the routes above; a sandbox supplies only the platform-specific parts (what a
429 or an expired token looks like on its platform).
"""
from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

__all__ = [
    "CONTROL_PREFIX",
    "FAULT_KINDS",
    "Fault",
    "FaultSet",
    "SandboxControl",
    "close_connection",
]

CONTROL_PREFIX = "/_sandbox/"
FAULT_KINDS = (
    "rate_limit", "unavailable", "server_error", "expired_token", "duplicate", "slow", "disconnect",
)
_STATUS_KIND = {429: "rate_limit", 503: "unavailable", 401: "expired_token"}


@dataclass
class Fault:
    """One armed fault; see the module docstring for the meaning of each field."""

    kind: str
    status: int | None = None
    retry_after: int = 60
    delay: float = 0.0
    method: str | None = None
    path: str | None = None
    publish: bool = False
    times: int = 1
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fault:
        """Validate a fault request. :raises ValueError: naming the bad field."""
        if not isinstance(data, Mapping):
            raise ValueError("body: expected a JSON object")
        unknown = sorted(set(data) - {"kind", "status", "retry_after", "delay", "method", "path", "publish", "times"})
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(unknown)}")
        status = data.get("status")
        if status is not None and (not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599):
            raise ValueError("status: expected an HTTP status code")
        kind = data.get("kind")
        if kind is None:
            if status is None:
                raise ValueError("kind: required unless status is given")
            kind = _STATUS_KIND.get(status, "server_error" if status >= 500 else None)
            if kind is None:
                raise ValueError(f"status: {status} has no fault kind; give kind")
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind: expected one of {', '.join(FAULT_KINDS)}")
        if kind == "server_error":
            status = status or 500
            if not 500 <= status <= 599:
                raise ValueError("status: a server_error needs a 5xx status")
        def number(name: str, default: float, kind_: type) -> Any:
            value = data.get(name, default)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name}: expected a non-negative number")
            return kind_(value)
        method = data.get("method")
        if method is not None and not isinstance(method, str):
            raise ValueError("method: expected a string")
        path = data.get("path")
        if path is not None and (not isinstance(path, str) or not path.startswith("/")):
            raise ValueError("path: expected a path starting with /")
        publish = data.get("publish", False)
        if not isinstance(publish, bool):
            raise ValueError("publish: expected true or false")
        return cls(
            kind=kind,
            status=status,
            retry_after=number("retry_after", 60, int),
            delay=number("delay", 0.0, float),
            method=method.upper() if method else None,
            path=path,
            publish=publish or kind == "duplicate",
            times=number("times", 1, int),
        )

    def matches(self, method: str, path: str, *, publish: bool) -> bool:
        if self.method and self.method != method.upper():
            return False
        if self.path and not path.startswith(self.path):
            return False
        if self.publish and not publish:
            return False
        return True

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class FaultSet:
    """The armed faults of one sandbox; thread-safe (the test server is threaded)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def arm(self, **spec: Any) -> Fault:
        """Python shortcut for ``POST /_sandbox/faults`` (same fields)."""
        return self.add(Fault.from_json(spec))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, method: str, path: str, *, publish: bool = False) -> Fault | None:
        """The first armed fault matching this request, used up by one (or ``None``)."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path, publish=publish):
                    if fault.times > 0:
                        fault.times -= 1
                        if fault.times == 0:
                            self._faults.remove(fault)
                    return fault
        return None


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


class SandboxControl:
    """Serves the ``/_sandbox/*`` routes for a sandbox.

    :param faults: the sandbox's armed faults.
    :param reset: forgets all state (faults are cleared here as well).
    :param add_comment: ``(post_id, text, reply_to) -> comment id``; raise
        :class:`KeyError` for an unknown post, :class:`ValueError` for bad input.
    :param set_metrics: ``(post_id, metrics) -> None`` with PostMetrics names, or ``None``.
    :param issue_token: ``() -> credentials mapping`` for ``connect_with_token``, or ``None``.
    """

    def __init__(
        self,
        faults: FaultSet,
        *,
        reset: Callable[[], None],
        add_comment: Callable[[str, str, str | None], str] | None = None,
        set_metrics: Callable[[str, Mapping[str, int]], None] | None = None,
        issue_token: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        self.faults = faults
        self._reset = reset
        self._add_comment = add_comment
        self._set_metrics = set_metrics
        self._issue_token = issue_token

    @staticmethod
    def is_control(path: str) -> bool:
        return path.startswith(CONTROL_PREFIX)

    def dispatch(self, request: Request) -> Response:
        """Answer one control request (``request.path`` under ``/_sandbox/``)."""
        route = request.path[len(CONTROL_PREFIX):].strip("/")
        method = request.method
        try:
            body = request.get_json(silent=True) if method == "POST" else None
            if method == "POST" and request.content_length and body is None:
                return _json(400, {"error": "body: expected JSON"})
            body = body or {}
            if route == "faults":
                if method == "POST":
                    fault = self.faults.add(Fault.from_json(body))
                    return _json(201, fault.to_json())
                if method == "GET":
                    return _json(200, {"faults": [f.to_json() for f in self.faults.list()]})
                if method == "DELETE":
                    self.faults.clear()
                    return Response(status=204)
            elif route == "reset" and method == "POST":
                self.faults.clear()
                self._reset()
                return Response(status=204)
            elif route == "comments" and method == "POST":
                if self._add_comment is None:
                    return _json(404, {"error": "this sandbox has no comments"})
                post_id, text = body.get("post_id"), body.get("text")
                if not isinstance(post_id, str) or not post_id:
                    raise ValueError("post_id: required string")
                if not isinstance(text, str) or not text:
                    raise ValueError("text: required string")
                reply_to = body.get("reply_to")
                if reply_to is not None and not isinstance(reply_to, str):
                    raise ValueError("reply_to: expected a string")
                return _json(201, {"id": self._add_comment(post_id, text, reply_to)})
            elif route == "metrics" and method == "POST":
                if self._set_metrics is None:
                    return _json(404, {"error": "this sandbox has no metrics control"})
                post_id, metrics = body.get("post_id"), body.get("metrics")
                if not isinstance(post_id, str) or not isinstance(metrics, Mapping):
                    raise ValueError("post_id and metrics: required")
                bad = [k for k, v in metrics.items() if not isinstance(v, int) or isinstance(v, bool) or v < 0]
                if bad:
                    raise ValueError(f"metrics: non-negative integers expected for {', '.join(bad)}")
                self._set_metrics(post_id, metrics)
                return Response(status=204)
            elif route == "tokens" and method == "POST":
                if self._issue_token is None:
                    return _json(404, {"error": "this sandbox issues no direct tokens"})
                return _json(201, dict(self._issue_token()))
            else:
                return _json(404, {"error": f"no control route {method} {request.path}"})
            return _json(405, {"error": f"{method} not allowed on {request.path}"})
        except KeyError as exc:
            return _json(404, {"error": f"not found: {exc.args[0] if exc.args else ''}"})
        except ValueError as exc:
            return _json(400, {"error": str(exc)})


def close_connection(environ: Mapping[str, Any]) -> bool:
    """Drop the client connection without an answer (a ``disconnect`` fault).

    Works under werkzeug's server (the test server and the embedded mode);
    returns ``False`` where the socket is out of reach, and the caller answers
    with a 502 instead, which the client classifies the same way.
    """
    sock = environ.get("werkzeug.socket")
    if sock is None:
        return False
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    return True
