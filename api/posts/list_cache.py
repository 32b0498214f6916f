"""A short-lived cache of post list pages (``GET .../posts``).

Dashboards poll the posts list; most polls find nothing changed. A page is
kept for ``posts_list_cache_seconds`` (default 1 s; 0 turns the cache off),
keyed by workspace and query string, in Redis when it is configured (shared
by every API process) or in this process otherwise, where it holds at most
``posts_list_cache_max_bytes`` of pages.

What a cached page may miss, and for how long:

* a change made through the API: nothing, as a rule. Every successful write
  request to a workspace route (:func:`forget_after_write`) drops the
  workspace's pages once it has committed, so a client sees its own writes on
  its next read. Two exceptions, each bounded by the TTL: a read that raced
  with the write may store the page it made before the commit; and without
  Redis each API process has its own cache, which other processes' writes do
  not reach.
* a change made by the publishing engine (a target queued, published,
  failed): at most the TTL. ``GET .../posts/{pid}`` is never cached.

The access check runs on every request before the cache is consulted; a
page is the same for every member who may read it.
"""
from __future__ import annotations

import functools
import logging
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode

from flask import Flask, Response, current_app, request

from clientnest.queue import redis_connection
from clientnest.runtime import Runtime

from ..db_session import runtime

__all__ = ["ListCache", "MemoryListCache", "RedisListCache", "list_cache", "cached_page", "forget_after_write"]

F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger(__name__)

_STAMP = struct.Struct(">d")  # when the page was stored (time.time()), before its bytes


class ListCache(Protocol):
    ttl: float

    def get(self, workspace_id: int, key: str) -> bytes | None: ...

    def put(self, workspace_id: int, key: str, body: bytes) -> None: ...

    def forget(self, workspace_id: int) -> None: ...


class MemoryListCache:
    """This process's pages, bounded by bytes: at most ``max_bytes`` of page
    bodies (the oldest page goes first) and never a page past its TTL.

    Pages are kept in the order they were stored; with one TTL for all that
    is also the order they expire in, so dropping expired pages only looks at
    the front. It happens on every ``get`` and ``put``: an idle cache keeps at
    most ``max_bytes`` until its next use. A page larger than ``max_bytes`` is
    not kept at all.
    """

    def __init__(self, ttl: float, *, max_bytes: int = 32 * 1024 * 1024,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_bytes = max_bytes
        self._clock = clock
        self._pages: OrderedDict[tuple[int, str], tuple[float, bytes]] = OrderedDict()
        self._by_workspace: dict[int, set[str]] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """Bytes of page bodies held now."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._pages)

    def _drop(self, item: tuple[int, str]) -> None:
        _, body = self._pages.pop(item)
        self._bytes -= len(body)
        keys = self._by_workspace[item[0]]
        keys.discard(item[1])
        if not keys:
            del self._by_workspace[item[0]]

    def _expire(self, now: float) -> None:
        while self._pages:
            item, (stored, _) = next(iter(self._pages.items()))
            if now - stored <= self.ttl:
                break
            self._drop(item)

    def get(self, workspace_id: int, key: str) -> bytes | None:
        with self._lock:
            self._expire(self._clock())
            found = self._pages.get((workspace_id, key))
        return None if found is None else found[1]

    def put(self, workspace_id: int, key: str, body: bytes) -> None:
        with self._lock:
            self._expire(self._clock())
            item = (workspace_id, key)
            if item in self._pages:
                self._drop(item)
            if len(body) > self.max_bytes:
                return
            while self._bytes + len(body) > self.max_bytes:
                self._drop(next(iter(self._pages)))
            self._pages[item] = (self._clock(), body)
            self._by_workspace.setdefault(workspace_id, set()).add(key)
            self._bytes += len(body)

    def forget(self, workspace_id: int) -> None:
        with self._lock:
            for key in list(self._by_workspace.get(workspace_id, ())):
                self._drop((workspace_id, key))


class RedisListCache:
    """Pages in one Redis hash per workspace (a hit is one ``HGET``); each
    value starts with the time it was stored, checked against the TTL on
    read. The hash itself expires soon after its newest page.

    Redis failing never fails a request: a read is a miss, a write is
    skipped (logged). A page that could not be dropped expires with its TTL."""

    def __init__(self, redis: Any, ttl: float) -> None:
        self.ttl = ttl
        self.redis = redis

    @staticmethod
    def _key(workspace_id: int) -> str:
        return f"clientnest:posts-list:{workspace_id}"

    def get(self, workspace_id: int, key: str) -> bytes | None:
        from redis.exceptions import RedisError

        try:
            raw = self.redis.hget(self._key(workspace_id), key)
        except RedisError as exc:
            log.warning("posts list cache: Redis read failed, answering from the database (%s)", exc)
            return None
        if raw is None or len(raw) < _STAMP.size:
            return None
        (stored,) = _STAMP.unpack_from(raw)
        if time.time() - stored > self.ttl:
            return None
        return bytes(raw[_STAMP.size:])

    def put(self, workspace_id: int, key: str, body: bytes) -> None:
        from redis.exceptions import RedisError

        name = self._key(workspace_id)
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.hset(name, key, _STAMP.pack(time.time()) + body)
                pipe.pexpire(name, max(1, int(self.ttl * 2000)))
                pipe.execute()
        except RedisError as exc:
            log.warning("posts list cache: Redis write failed, page not kept (%s)", exc)

    def forget(self, workspace_id: int) -> None:
        from redis.exceptions import RedisError

        try:
            self.redis.delete(self._key(workspace_id))
        except RedisError as exc:
            log.warning("posts list cache: could not drop workspace %s's pages; they expire within %s s (%s)",
                        workspace_id, self.ttl, exc)


_build_lock = threading.Lock()


def list_cache(rt: Runtime) -> ListCache | None:
    """The runtime's page cache, or ``None`` when ``posts_list_cache_seconds`` is 0."""
    ttl = rt.settings.posts_list_cache_seconds
    if ttl <= 0:
        return None
    cache = rt.extras.get("posts_list_cache")
    if cache is None:
        with _build_lock:
            cache = rt.extras.get("posts_list_cache")
            if cache is None:
                if rt.settings.redis_url:
                    cache = RedisListCache(redis_connection(rt), ttl)
                else:
                    cache = MemoryListCache(ttl, max_bytes=rt.settings.posts_list_cache_max_bytes)
                rt.extras["posts_list_cache"] = cache
    return cache


def _page_key() -> str:
    """The query string, normalised: the same page whatever the order of its parameters."""
    return urlencode(sorted(request.args.items(multi=True)))


def cached_page(fn: F) -> F:
    """Serve a list page from the cache, or make it and keep it (200s only).
    Goes below the access check and above the argument parsing: a query
    string is only ever cached after it was parsed and answered."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        cache = list_cache(runtime())
        if cache is None:
            return fn(*args, **kwargs)
        wid, key = kwargs["wid"], _page_key()
        body = cache.get(wid, key)
        if body is not None:
            return current_app.response_class(body, mimetype="application/json")
        resp = fn(*args, **kwargs)
        if isinstance(resp, Response) and resp.status_code == 200:
            cache.put(wid, key, resp.get_data())
        return resp

    return wrapper  # type: ignore[return-value]


def forget_after_write(app: Flask) -> None:
    """Drop a workspace's cached pages after every successful write request
    to one of its routes (posts, accounts, media ...): one rule for all."""

    @app.after_request
    def _forget(resp: Response) -> Response:
        wid = (request.view_args or {}).get("wid")
        if wid is not None and request.method not in ("GET", "HEAD", "OPTIONS") and resp.status_code < 400:
            cache = list_cache(runtime())
            if cache is not None:
                cache.forget(wid)
        return resp
