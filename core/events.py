"""Live events: every committed change of a target's or a post's status,
for the web app's open streams (``GET /api/v1/workspaces/{wid}/events``).

Where they come from: every status change the engine (or the API) makes is
written with its audit row through
:func:`clientnest.engine.state.insert_audit_rows`, which hands the rows to
:func:`stage`. Staged events wait beside the transaction and are published
only once it has committed (a rolled-back change is never announced):

- on an ORM :class:`~sqlalchemy.orm.Session`, in ``session.info``, published by
  the session's ``after_commit`` event;
- on a Core :class:`~sqlalchemy.engine.Connection` (the publish job's hot
  path), in the pooled connection's ``info``: the ``commit`` event marks them
  committed and they are published when the connection goes back to the pool,
  right after the commit (``with engine.begin()`` closes it at once).

Where they go: the runtime's :class:`EventBus` (:func:`bus_for`), per
workspace:

- :class:`InProcessBus` (embedded mode): subscribers in this process;
- :class:`RedisBus` (production, ``settings.redis_url``): a Redis pub/sub
  channel per workspace, which every API process and ``clientnest events``
  server subscribes to, and a short Redis stream per workspace (the last
  :data:`REPLAY_SIZE` events, kept a day) so a reconnecting browser gets
  what it missed (``Last-Event-ID``).

A message is ``(id, event, data)``: ``event`` is ``"target"`` or ``"post"``;
``data`` is :func:`target_event` or :func:`post_event`'s dictionary. Ids
increase within a workspace and are opaque to clients.
"""
from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from .models import PostTarget

if TYPE_CHECKING:
    from redis import Redis

    from .runtime import Runtime

__all__ = [
    "Message",
    "EventBus",
    "Subscription",
    "InProcessBus",
    "RedisBus",
    "REPLAY_SIZE",
    "channel",
    "stream_key",
    "parse_wire",
    "replay",
    "stream_id_key",
    "valid_stream_id",
    "stage",
    "attach",
    "bus_for",
    "target_event",
    "post_event",
]

log = logging.getLogger(__name__)

#: events kept per workspace for a reconnecting client (Last-Event-ID)
REPLAY_SIZE = 500
#: how long Redis keeps a quiet workspace's recent events, seconds
_REPLAY_TTL = 24 * 3600
_KEY = "clientnest.events.pending"
_COMMITTED = "clientnest.events.committed"
_CHUNK = 1000
_T = PostTarget.__table__


@dataclass(frozen=True)
class Message:
    """One event as a stream sends it."""

    id: str
    event: str
    data: dict[str, Any]


# --- what an event says ------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def target_event(row: Any, frm: str | None) -> dict[str, Any]:
    """A target's event: its ids, its status and what goes with the status.

    :param row: the target's columns (id, post_id, account_id, platform,
        status, last_error, published_at, external_url).
    :param frm: the status it left.
    """
    data: dict[str, Any] = {
        "post_id": row.post_id, "target_id": row.id, "account_id": row.account_id,
        "platform": row.platform, "status": row.status, "from": frm,
    }
    if row.last_error:
        data["error"] = row.last_error  # {kind, message}: what GET .../posts shows as last_error
    if row.published_at is not None:
        data["published_at"] = _iso(row.published_at)
    if row.external_url:
        data["url"] = row.external_url
    return data


def post_event(post_id: int, frm: str | None, to: str) -> dict[str, Any]:
    """A post's event: its new status (derived from its targets)."""
    return {"post_id": post_id, "status": to, "from": frm}


_TARGET_COLUMNS = select(
    _T.c.id, _T.c.post_id, _T.c.account_id, _T.c.platform, _T.c.status, _T.c.last_error,
    _T.c.published_at, _T.c.external_url,
)


def _events_of(executor: Session | Connection, rows: Sequence[dict[str, Any]]) -> list[tuple[int, str, dict[str, Any]]]:
    """``(workspace_id, event, data)`` for the status changes among audit rows."""
    changed: dict[int, tuple[int, str]] = {}  # target id -> (workspace, from)
    out: list[tuple[int, str, dict[str, Any]]] = []
    posts: list[tuple[int, str, dict[str, Any]]] = []
    for r in rows:
        action = r.get("action", "")
        if r.get("object_type") == "post_target" and action.startswith("target."):
            # the first "from" of a target in this batch; its row gives the rest
            changed.setdefault(int(r["object_id"]), (r["workspace_id"], r["data"].get("from")))
        elif action == "post.status_changed":
            posts.append((r["workspace_id"], "post",
                          post_event(int(r["object_id"]), r["data"].get("from"), r["data"]["to"])))
    if changed:
        # one read of the targets as this transaction leaves them (its own
        # changes included), for what the audit rows do not carry
        ids = sorted(changed)
        for i in range(0, len(ids), _CHUNK):
            for t in executor.execute(_TARGET_COLUMNS.where(_T.c.id.in_(ids[i:i + _CHUNK]))):
                ws, frm = changed[t.id]
                out.append((ws, "target", target_event(t, frm)))
    return out + posts  # targets first: a post's status follows from them


# --- after the commit ----------------------------------------------------------------

_runtimes: weakref.WeakKeyDictionary[Engine, weakref.ref[Runtime]] = weakref.WeakKeyDictionary()


def stage(executor: Session | Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Turn the status changes among audit ``rows`` into events, published
    once ``executor``'s transaction commits. Never raises: live updates must
    not cost a status change."""
    try:
        engine = _engine_of(executor) if isinstance(executor, Session) else executor.engine
        if engine is None or engine not in _runtimes:
            return
        events = _events_of(executor, rows)
        if events:
            executor.info.setdefault(_KEY, []).extend(events)
    except Exception:
        log.exception("live events: could not stage %d status changes", len(rows))


def _deliver(engine: Engine | None, events: list[tuple[int, str, dict[str, Any]]]) -> None:
    if not events or engine is None:
        return
    ref = _runtimes.get(engine)
    rt = ref() if ref is not None else None
    if rt is None:
        return
    by_ws: dict[int, list[tuple[str, dict[str, Any]]]] = {}
    for ws, kind, data in events:
        by_ws.setdefault(ws, []).append((kind, data))
    bus = bus_for(rt)
    for ws, items in by_ws.items():
        try:
            bus.publish(ws, items)
        except Exception as exc:  # Redis down: the change stands, the live update is lost
            log.warning("live events: publishing %d events of workspace %s failed: %s", len(items), ws, exc)


def _engine_of(session: Session) -> Engine | None:
    try:
        bind = session.get_bind()
    except Exception:
        return None
    return bind.engine if isinstance(bind, Connection) else bind if isinstance(bind, Engine) else None


@event.listens_for(Session, "after_commit")
def _session_committed(session: Session) -> None:
    events = session.info.pop(_KEY, None)
    if events:
        _deliver(_engine_of(session), events)


@event.listens_for(Session, "after_transaction_end")
def _session_ended(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(_KEY, None)  # rolled back (or closed) before a commit


@event.listens_for(Engine, "commit")
def _connection_commits(conn: Connection) -> None:
    staged = conn.info.pop(_KEY, None)
    if staged:
        conn.info.setdefault(_COMMITTED, []).extend(staged)


@event.listens_for(Engine, "rollback")
def _connection_rolls_back(conn: Connection) -> None:
    conn.info.pop(_KEY, None)


def _on_pool_events(engine: Engine) -> None:
    """Pool events are per engine: published at check-in (after the commit),
    dropped when the connection broke (the commit's outcome is unknown)."""
    def checkin(_dbapi: Any, record: Any) -> None:
        record.info.pop(_KEY, None)
        events = record.info.pop(_COMMITTED, None)
        if events:
            _deliver(engine, events)

    def invalidate(_dbapi: Any, record: Any, _exc: Any) -> None:
        record.info.pop(_KEY, None)
        record.info.pop(_COMMITTED, None)

    event.listen(engine, "checkin", checkin)
    event.listen(engine, "invalidate", invalidate)
    event.listen(engine, "soft_invalidate", invalidate)


def attach(runtime: Runtime) -> None:
    """Publish the status changes committed through ``runtime``'s database
    on its bus (called when the runtime is built)."""
    engine = runtime.db.engine
    if engine not in _runtimes:
        _on_pool_events(engine)
    _runtimes[engine] = weakref.ref(runtime)


# --- buses ------------------------------------------------------------------------------


class Subscription:
    """What one open stream reads: :meth:`get` waits for the next messages."""

    def get(self, timeout: float) -> list[Message]:
        """The messages that came since the last call, waiting up to
        ``timeout`` seconds for one (an empty list then)."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class EventBus:
    """Publishes a workspace's events and opens subscriptions to them."""

    def publish(self, workspace_id: int, events: Sequence[tuple[str, dict[str, Any]]]) -> None:
        raise NotImplementedError

    def subscribe(self, workspace_id: int, last_id: str | None = None) -> Subscription:
        """A subscription; with ``last_id`` it first yields the kept events
        that came after that one."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class _QueueSubscription(Subscription):
    def __init__(self, bus: InProcessBus, workspace_id: int) -> None:
        self._bus, self.workspace_id = bus, workspace_id
        self.queue: queue.SimpleQueue[Message] = queue.SimpleQueue()

    def get(self, timeout: float) -> list[Message]:
        try:
            out = [self.queue.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                out.append(self.queue.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        self._bus._unsubscribe(self)


class InProcessBus(EventBus):
    """The embedded mode's bus: subscribers are threads of this process."""

    def __init__(self, replay_size: int = REPLAY_SIZE) -> None:
        self._lock = threading.Lock()
        self._next = 1
        self._subs: dict[int, set[_QueueSubscription]] = {}
        self._recent: dict[int, deque[Message]] = {}
        self._replay_size = replay_size

    def publish(self, workspace_id: int, events: Sequence[tuple[str, dict[str, Any]]]) -> None:
        with self._lock:
            recent = self._recent.setdefault(workspace_id, deque(maxlen=self._replay_size))
            subs = list(self._subs.get(workspace_id, ()))
            for kind, data in events:
                msg = Message(str(self._next), kind, data)
                self._next += 1
                recent.append(msg)
                for sub in subs:
                    sub.queue.put(msg)

    def subscribe(self, workspace_id: int, last_id: str | None = None) -> Subscription:
        sub = _QueueSubscription(self, workspace_id)
        with self._lock:
            self._subs.setdefault(workspace_id, set()).add(sub)
            if last_id is not None and last_id.isdigit():
                for msg in self._recent.get(workspace_id, ()):
                    if int(msg.id) > int(last_id):
                        sub.queue.put(msg)
        return sub

    def _unsubscribe(self, sub: _QueueSubscription) -> None:
        with self._lock:
            subs = self._subs.get(sub.workspace_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[sub.workspace_id]

    def subscribers(self, workspace_id: int) -> int:
        with self._lock:
            return len(self._subs.get(workspace_id, ()))


def channel(workspace_id: int) -> str:
    """The Redis pub/sub channel of a workspace's events."""
    return f"clientnest:events:{workspace_id}"


def stream_key(workspace_id: int) -> str:
    """The Redis stream keeping a workspace's recent events."""
    return f"clientnest:events:{workspace_id}:recent"


# One round trip per commit: each event is added to the workspace's stream
# (which gives it its id) and published with that id.
_PUBLISH_SCRIPT = """
for i = 3, #ARGV do
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'm', ARGV[i])
  redis.call('PUBLISH', KEYS[2], id .. ' ' .. ARGV[i])
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return #ARGV - 2
"""
_SUBSCRIBE_TIMEOUT = 5.0
_STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


def _payload(kind: str, data: dict[str, Any]) -> str:
    return json.dumps({"event": kind, "data": data}, separators=(",", ":"))


def parse_wire(raw: bytes | str) -> Message:
    """A message as published on a channel: ``<id> <json>``."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    mid, _, body = text.partition(" ")
    obj = json.loads(body)
    return Message(mid, obj["event"], obj["data"])


def stream_id_key(mid: str) -> tuple[int, int]:
    ms, _, seq = mid.partition("-")
    return int(ms), int(seq or 0)


def valid_stream_id(mid: str | None) -> bool:
    return bool(mid) and _STREAM_ID.match(mid or "") is not None


def replay(client: Redis, workspace_id: int, last_id: str) -> list[Message]:
    """The kept events after ``last_id`` (a Redis stream id)."""
    out = []
    for mid, fields in client.xrange(stream_key(workspace_id), min=f"({last_id}", max="+", count=REPLAY_SIZE):
        obj = json.loads(fields[b"m"])
        out.append(Message(mid.decode(), obj["event"], obj["data"]))
    return out


class _RedisSubscription(Subscription):
    def __init__(self, client: Redis, workspace_id: int, last_id: str | None) -> None:
        self._pubsub = client.pubsub()
        self._pubsub.subscribe(channel(workspace_id))
        # wait for Redis to confirm: an event published once this returns is
        # heard (a stream says "connected" only after this)
        deadline = time.monotonic() + _SUBSCRIBE_TIMEOUT
        while True:
            confirm = self._pubsub.get_message(timeout=max(0.0, deadline - time.monotonic()))
            if confirm is not None and confirm["type"] == "subscribe":
                break
            if time.monotonic() >= deadline:
                self._pubsub.close()
                raise TimeoutError("Redis did not confirm the subscription")
        # subscribed first, then read what was missed: nothing falls in between
        self._backlog = replay(client, workspace_id, last_id) if valid_stream_id(last_id) else []
        self._seen = stream_id_key(self._backlog[-1].id) if self._backlog else (0, 0)

    def get(self, timeout: float) -> list[Message]:
        if self._backlog:
            out, self._backlog = self._backlog, []
            return out
        out: list[Message] = []
        wait = timeout
        while True:
            raw = self._pubsub.get_message(timeout=wait)
            if raw is None:
                return out
            if raw["type"] != "message":
                continue
            msg = parse_wire(raw["data"])
            if stream_id_key(msg.id) > self._seen:  # not already sent from the backlog
                out.append(msg)
            wait = 0.0

    def close(self) -> None:
        self._pubsub.close()


class RedisBus(EventBus):
    """Production: Redis pub/sub per workspace, recent events in a Redis stream."""

    def __init__(self, url: str) -> None:
        from redis import Redis

        self.client: Redis = Redis.from_url(url)
        self._script = self.client.register_script(_PUBLISH_SCRIPT)

    def publish(self, workspace_id: int, events: Sequence[tuple[str, dict[str, Any]]]) -> None:
        if events:
            self._script(keys=[stream_key(workspace_id), channel(workspace_id)],
                         args=[REPLAY_SIZE, _REPLAY_TTL, *(_payload(k, d) for k, d in events)])

    def subscribe(self, workspace_id: int, last_id: str | None = None) -> Subscription:
        return _RedisSubscription(self.client, workspace_id, last_id)

    def close(self) -> None:
        self.client.close()


_build_lock = threading.Lock()


def bus_for(runtime: Runtime) -> EventBus:
    """The runtime's bus: Redis when ``settings.redis_url`` is set, else in-process."""
    bus = runtime.extras.get("events")
    if bus is None:
        with _build_lock:
            bus = runtime.extras.get("events")
            if bus is None:
                bus = RedisBus(runtime.settings.redis_url) if runtime.settings.redis_url else InProcessBus()
                runtime.extras["events"] = bus
    return bus
