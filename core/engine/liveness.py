"""Worker liveness: tell a dead ``clientnest worker`` from a slow one in seconds.

A target a worker holds is ``publishing`` under a lease of
``publish_lease_seconds`` (120 s by default): long enough for any platform
call, so a worker killed mid-call would leave its targets waiting out the
whole lease. Each worker process therefore beats in Redis while it runs
(:class:`Heartbeat`), and every attempt records which process made it
(:func:`worker_name`). The dispatcher asks :func:`dead_processes` about the
holders of ``publishing`` targets; a holder that beat before and has stopped
beating is dead, and its targets go to ``unknown`` at once (the connector's
lookup then decides, exactly as after a lease: never a blind retry).

Two keys per process, written together in one transaction:

* ``alive`` expires :data:`ALIVE_TTL` seconds after the last beat;
* ``seen`` lives for a day: it says this process beats at all.

A worker beats under its RQ worker name too, which RQ records on the job it
runs: a job taken by a worker that died before claiming its targets is then
known to be gone (:meth:`clientnest.queue.RQJobQueue.missing`).

"Dead" is ``seen`` without ``alive``. A process that never beat (the
in-process runner, a test calling the job functions) is never declared dead,
and neither is anyone after Redis lost its data (both keys gone): for them
the lease still decides, as before. Both keys are read in one ``MULTI`` so a
flush cannot fall between the two reads.

A process stalled for longer than :data:`ALIVE_TTL` (stopped, starved of CPU,
cut off from Redis) is taken for dead too. That is why its targets are
reconciled rather than resent, and why a worker that could not beat for
that long starts no new platform call (:func:`may_call_platform`).
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis import Redis

__all__ = [
    "BEAT_SECONDS",
    "ALIVE_TTL",
    "Heartbeat",
    "process_id",
    "worker_name",
    "holder_process",
    "dead_processes",
    "may_call_platform",
]

log = logging.getLogger(__name__)

#: how often a worker process beats
BEAT_SECONDS = 1.0
#: a process that has not beaten for this long is taken for dead (several
#: missed beats: a busy machine delays a thread by milliseconds, not seconds)
ALIVE_TTL = 5
#: how long Redis remembers that a process beats at all
SEEN_TTL = 24 * 3600

_PREFIX = "clientnest:worker:"

_ident: tuple[int, str] | None = None
_ident_lock = threading.Lock()
_beating: Heartbeat | None = None


def process_id() -> str:
    """``host:pid:token`` of this process; the random token keeps a later
    process that reuses the pid from passing for this one."""
    global _ident
    pid = os.getpid()
    with _ident_lock:
        if _ident is None or _ident[0] != pid:  # new after a fork
            _ident = (pid, f"{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:8]}")
        return _ident[1]


def worker_name() -> str:
    """What an attempt records as its worker: the process, then the thread."""
    return f"{process_id()}/{threading.current_thread().name}"[:255]


def holder_process(worker: str | None) -> str | None:
    """The process part of an attempt's ``worker`` (``None`` for rows written
    before processes were named this way)."""
    if not worker or "/" not in worker:
        return None
    return worker.partition("/")[0]


def _keys(pid: str) -> tuple[str, str]:
    return f"{_PREFIX}{pid}:alive", f"{_PREFIX}{pid}:seen"


def dead_processes(redis: Redis, processes: Iterable[str]) -> set[str]:
    """The processes among ``processes`` that beat once and have stopped."""
    ids = sorted(set(processes))
    if not ids:
        return set()
    with redis.pipeline(transaction=True) as pipe:
        for pid in ids:
            alive, seen = _keys(pid)
            pipe.exists(alive)
            pipe.exists(seen)
        found = pipe.execute()
    return {pid for i, pid in enumerate(ids) if found[2 * i + 1] and not found[2 * i]}


class Heartbeat:
    """A daemon thread beating for this process every :data:`BEAT_SECONDS`.

    A failed beat (Redis down) is logged once per outage and tried again on
    the next beat; :meth:`stop` removes both keys (a worker that stops cleanly
    has handed its targets back or finished them).
    """

    def __init__(self, redis: Redis, *, every: float = BEAT_SECONDS, ttl: int = ALIVE_TTL,
                 aliases: Iterable[str] = ()) -> None:
        self.redis = redis
        self.every = every
        self.ttl = ttl
        self.pid = process_id()
        #: other names this process is known by (its RQ worker's name), beaten for alike
        self.names = (self.pid, *aliases)
        self.last_beat = 0.0  # monotonic time of the last beat that reached Redis
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def beat(self) -> bool:
        try:
            with self.redis.pipeline(transaction=True) as pipe:
                for name in self.names:
                    alive, seen = _keys(name)
                    pipe.set(alive, "1", ex=self.ttl)
                    pipe.set(seen, "1", ex=SEEN_TTL)
                pipe.execute()
        except Exception as exc:  # Redis down: the next beat tries again
            if not self._failing:
                log.warning("worker heartbeat failed (%s); retrying every %.0f s", type(exc).__name__, self.every)
            self._failing = True
            return False
        if self._failing:
            log.info("worker heartbeat restored")
        self._failing = False
        self.last_beat = time.monotonic()
        return True

    def start(self) -> Heartbeat:
        global _beating
        self.beat()
        self._thread = threading.Thread(target=self._run, name="cn-heartbeat", daemon=True)
        self._thread.start()
        _beating = self
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.beat()

    def fresh(self) -> bool:
        """Whether the last beat is recent enough that nobody takes us for dead."""
        return time.monotonic() - self.last_beat < self.ttl - self.every

    def stop(self) -> None:
        global _beating
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.every + 1)
        if _beating is self:
            _beating = None
        try:
            self.redis.delete(*(k for name in self.names for k in _keys(name)))
        except Exception:  # Redis down: the keys expire by themselves
            pass


def may_call_platform() -> bool:
    """False when this process beats and its beats have not reached Redis for
    so long that a dispatcher may already take it for dead: its targets are
    (or will be) reconciled by another worker, so it must not call the
    platform for them now."""
    hb = _beating
    return hb is None or hb.fresh()
