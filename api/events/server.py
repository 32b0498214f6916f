"""The events server (``clientnest events``): the workspace event streams,
on asyncio, beside the API.

gunicorn's sync workers serve one request at a time; an event stream stays
open as long as a dashboard does, so 200 dashboards would hold 200 workers.
This server holds each stream as a coroutine instead: an open stream costs a
queue and a socket, and every stream of a workspace is fed from one Redis
pub/sub subscription per server (:class:`RedisHub`). The reverse proxy sends
``/api/v1/workspaces/*/events`` here and everything else to gunicorn.

It answers the same path with the same credentials as the API (a bearer
token or the session cookie, checked against the database with
:func:`clientnest.api.security.find_caller`; a non-member gets 404), and the
same messages (:mod:`.stream`).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

from aiohttp import web

from clientnest.events import (
    REPLAY_SIZE,
    EventBus,
    Message,
    Subscription,
    bus_for,
    channel,
    parse_wire,
    stream_id_key,
    stream_key,
    valid_stream_id,
)
from clientnest.runtime import Runtime

from ..cookies import SESSION_COOKIE
from ..security import AuthFailure, find_caller
from .stream import CLOSING, HEADERS, HEARTBEAT, OPENING, PATH_TEMPLATE, encode

__all__ = ["build_app", "run", "RedisHub", "BusHub", "BackgroundServer"]

log = logging.getLogger(__name__)

#: events waiting for one slow client at most; past that its stream is ended
#: (the browser reconnects with Last-Event-ID and gets the kept ones)
_QUEUE_SIZE = 1000
#: a pub/sub connection must be subscribed to something before it is read
_IDLE_CHANNEL = "clientnest:events:-"
_END = None  # put on a queue: end that stream

#: a message and its SSE text, encoded once for every stream that gets it
Item = tuple[Message, str]
Queue = asyncio.Queue[Item | None]


class RedisHub:
    """One Redis pub/sub connection for every stream of this server: a
    workspace's channel is subscribed while one of its streams is open."""

    def __init__(self, url: str) -> None:
        import redis.asyncio as aioredis

        self.redis = aioredis.Redis.from_url(url)
        self.pubsub = self.redis.pubsub()
        self._queues: dict[int, set[Queue]] = {}
        self._confirmed: dict[str, asyncio.Event] = {}
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.pubsub.subscribe(_IDLE_CHANNEL)
        self._reader = asyncio.create_task(self._read(), name="events-redis-reader")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self.end_all()
        await self.pubsub.aclose()
        await self.redis.aclose()

    def end_all(self) -> None:
        for queues in self._queues.values():
            for q in queues:
                _end(q)

    async def _read(self) -> None:
        while True:
            try:
                raw = await self.pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Redis went away: end the streams (browsers reconnect and
                # replay from their Last-Event-ID once Redis is back)
                log.warning("events: Redis pub/sub failed (%s); ending %d streams", exc,
                            sum(len(q) for q in self._queues.values()))
                self.end_all()
                await asyncio.sleep(1.0)
                continue
            if raw is None:
                continue
            name = raw["channel"].decode() if isinstance(raw["channel"], bytes) else raw["channel"]
            if raw["type"] == "subscribe":
                confirmed = self._confirmed.pop(name, None)
                if confirmed is not None:
                    confirmed.set()
            elif raw["type"] == "message":
                wid = int(name.rsplit(":", 1)[1])
                msg = parse_wire(raw["data"])
                item = (msg, encode([msg]))
                for q in list(self._queues.get(wid, ())):
                    _offer(q, item)

    async def listen(self, wid: int) -> Queue:
        """A queue of ``wid``'s events, fed from the moment this returns."""
        q: Queue = asyncio.Queue(maxsize=_QUEUE_SIZE)
        queues = self._queues.get(wid)
        if queues is None:
            queues = self._queues[wid] = {q}
            name = channel(wid)
            confirmed = self._confirmed[name] = asyncio.Event()
            await self.pubsub.subscribe(name)
        else:
            queues.add(q)
            confirmed = self._confirmed.get(channel(wid), asyncio.Event())
            if channel(wid) not in self._confirmed:
                confirmed.set()  # subscribed long ago
        try:
            await asyncio.wait_for(confirmed.wait(), timeout=5.0)
        except BaseException:
            await self.unlisten(wid, q)
            raise
        return q

    async def unlisten(self, wid: int, q: Queue) -> None:
        queues = self._queues.get(wid)
        if queues is None:
            return
        queues.discard(q)
        if not queues:
            del self._queues[wid]
            self._confirmed.pop(channel(wid), None)
            with contextlib.suppress(Exception):
                await self.pubsub.unsubscribe(channel(wid))

    async def replay(self, wid: int, last_id: str) -> list[Message]:
        import json

        rows = await self.redis.xrange(stream_key(wid), min=f"({last_id}", max="+", count=REPLAY_SIZE)
        out = []
        for mid, fields in rows:
            obj = json.loads(fields[b"m"])
            out.append(Message(mid.decode(), obj["event"], obj["data"]))
        return out

    def streams(self) -> int:
        return sum(len(q) for q in self._queues.values())


class BusHub:
    """The same interface over a process's own :class:`EventBus` (the
    embedded mode's in-process bus: tests, a single-process setup). Each
    stream's subscription is read on a thread."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self._pumps: dict[int, tuple[Subscription, asyncio.Task[None]]] = {}
        self._queues: dict[int, Queue] = {}

    async def start(self) -> None:
        pass

    def end_all(self) -> None:
        for q in self._queues.values():
            _end(q)

    async def close(self) -> None:
        self.end_all()
        for sub, task in list(self._pumps.values()):
            task.cancel()
            sub.close()

    async def listen(self, wid: int, last_id: str | None = None) -> Queue:
        q: Queue = asyncio.Queue(maxsize=_QUEUE_SIZE)
        sub = await asyncio.to_thread(self.bus.subscribe, wid, last_id)

        async def pump() -> None:
            while True:
                for msg in await asyncio.to_thread(sub.get, 0.5):
                    _offer(q, (msg, encode([msg])))

        self._pumps[id(q)] = (sub, asyncio.create_task(pump()))
        self._queues[id(q)] = q
        return q

    async def unlisten(self, wid: int, q: Queue) -> None:
        self._queues.pop(id(q), None)
        pair = self._pumps.pop(id(q), None)
        if pair is not None:
            pair[1].cancel()
            pair[0].close()

    async def replay(self, wid: int, last_id: str) -> list[Message]:
        return []  # the bus's subscription replays by itself (see listen)

    def streams(self) -> int:
        return len(self._pumps)


RUNTIME = web.AppKey("runtime", Runtime)
HUB = web.AppKey("hub", RedisHub | BusHub)


def _offer(q: Queue, item: Item) -> None:
    try:
        q.put_nowait(item)
    except asyncio.QueueFull:
        _end(q)


def _end(q: Queue) -> None:
    """End a stream: its queue is emptied and closed."""
    while not q.empty():
        q.get_nowait()
    q.put_nowait(_END)


def _error(status: int, message: str, **headers: str) -> web.Response:
    from http import HTTPStatus

    return web.json_response({"code": status, "status": HTTPStatus(status).phrase, "message": message},
                             status=status, headers=headers)


def _token(request: web.Request) -> str | None:
    """The bearer token, or the session cookie when there is no Authorization header."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return request.cookies.get(SESSION_COOKIE) or None


def _member(rt: Runtime, token: str, wid: int) -> bool:
    """Whether the token is valid and its user a member of ``wid`` (blocking:
    run on a thread). :raises AuthFailure: a bad token."""
    with rt.db.engine.connect() as conn:
        return find_caller(conn, token, wid).member_of is not None


async def _events(request: web.Request) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    hub = request.app[HUB]
    wid = int(request.match_info["wid"])
    token = _token(request)
    unauthorized = {"WWW-Authenticate": 'Bearer realm="clientnest"'}
    if token is None:
        return _error(401, "missing bearer token: send 'Authorization: Bearer <token>' "
                           "(or sign in with POST /api/v1/auth/session for a session cookie)", **unauthorized)
    try:
        member = await asyncio.to_thread(_member, rt, token, wid)
    except AuthFailure as exc:
        return _error(401, str(exc), **unauthorized)
    except Exception as exc:  # the database is unreachable
        log.warning("events: cannot check credentials: %s", type(exc).__name__)
        return _error(503, "live events are unavailable for a moment; retry", **{"Retry-After": "3"})
    if not member:
        return _error(404, f"workspace {wid} not found")

    last_id = request.headers.get("Last-Event-ID")
    q: Queue | None = None
    try:
        if isinstance(hub, BusHub):
            q = await hub.listen(wid, last_id)
            backlog: list[Message] = []
        else:
            q = await hub.listen(wid)
            # listening first, then reading what was missed: nothing falls between
            backlog = await hub.replay(wid, last_id) if valid_stream_id(last_id) else []
    except Exception as exc:  # Redis unreachable: the browser retries by itself
        log.warning("events: cannot open a stream of workspace %s: %s", wid, exc)
        if q is not None:
            await hub.unlisten(wid, q)
        return _error(503, "live events are unavailable for a moment; retry", **{"Retry-After": "3"})
    seen = stream_id_key(backlog[-1].id) if backlog else None
    settings = rt.settings
    resp = web.StreamResponse(headers={**HEADERS, "Content-Type": "text/event-stream"})
    loop = asyncio.get_running_loop()
    try:
        await resp.prepare(request)
        await resp.write((OPENING + encode(backlog)).encode())
        next_check = loop.time() + settings.events_recheck_seconds
        while True:
            try:
                # asyncio.timeout, not wait_for: no task per wait (this runs per stream per event)
                async with asyncio.timeout(settings.events_heartbeat_seconds):
                    first = await q.get()
            except TimeoutError:
                await resp.write(HEARTBEAT.encode())
            else:
                batch: list[Item] = []
                ended = first is _END
                if first is not None:
                    batch.append(first)
                while not ended and not q.empty():
                    more = q.get_nowait()
                    if more is None:
                        ended = True
                    else:
                        batch.append(more)
                if seen is not None:  # already sent from the backlog
                    batch = [it for it in batch if stream_id_key(it[0].id) > seen]
                if batch:
                    await resp.write("".join(text for _, text in batch).encode())
                if ended:
                    break
            if loop.time() >= next_check:
                try:
                    allowed = await asyncio.to_thread(_member, rt, token, wid)
                except AuthFailure:
                    allowed = False
                except Exception:  # the database blinked: check again next time
                    allowed = True
                if not allowed:
                    await resp.write(CLOSING.encode())
                    break
                next_check = loop.time() + settings.events_recheck_seconds
    except (ConnectionResetError, ConnectionError):
        pass  # the client went away
    finally:
        await hub.unlisten(wid, q)
    return resp


async def _healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def build_app(runtime: Runtime) -> web.Application:
    """The events server's app: the stream route and ``/healthz``."""
    app = web.Application()
    app[RUNTIME] = runtime

    async def start(app: web.Application) -> None:
        url = runtime.settings.redis_url
        hub: RedisHub | BusHub = RedisHub(url) if url else BusHub(bus_for(runtime))
        await hub.start()
        app[HUB] = hub

    async def end_streams(app: web.Application) -> None:
        # before the server waits for its handlers: an idle stream would
        # otherwise notice only at its next heartbeat
        app[HUB].end_all()

    async def stop(app: web.Application) -> None:
        await app[HUB].close()

    app.on_startup.append(start)
    app.on_shutdown.append(end_streams)
    app.on_cleanup.append(stop)
    app.router.add_get(PATH_TEMPLATE.replace("{wid}", r"{wid:\d+}"), _events)
    app.router.add_get("/healthz", _healthz)
    return app


def run(runtime: Runtime, host: str, port: int) -> None:
    """Serve until interrupted (``clientnest events``)."""
    web.run_app(build_app(runtime), host=host, port=port, print=None, shutdown_timeout=5.0)


class BackgroundServer:
    """The events server on a thread of its own event loop (tests, benchmarks)."""

    def __init__(self, runtime: Runtime, host: str = "127.0.0.1", port: int = 0) -> None:
        self.runtime, self.host, self.port = runtime, host, port
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="events-server", daemon=True)
        self._runner: web.AppRunner | None = None
        self.app: web.Application | None = None

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self.app = build_app(self.runtime)
        self._runner = web.AppRunner(self.app, handle_signals=False)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, self.host, self.port)
        self._loop.run_until_complete(site.start())
        server = site._server
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> BackgroundServer:
        self._thread.start()
        if not self._ready.wait(20):
            raise RuntimeError("the events server did not start")
        return self

    def streams(self) -> int:
        assert self.app is not None
        return self.app[HUB].streams()

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(20)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(20)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
