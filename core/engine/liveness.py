"""Worker liveness: tell a dead ``clientnest worker`` from a slow one in seconds.

A target a worker holds is ``publishing`` under a lease of
``publish_lease_seconds`` (120 s by default): long enough for any platform
call, so a worker killed mid-call would leave its targets waiting out the
whole lease. Each worker process therefore beats in Redis while it runs
(:class:`Heartbeat`: a key that expires :data:`ALIVE_TTL` seconds after the
last beat), and every attempt records which process made it and whether that
process beats (:func:`worker_name`). The dispatcher asks
:func:`dead_processes` about the holders of ``publishing`` targets; a beating
holder whose key is gone is dead, and its targets go to ``unknown`` at once
(the connector's lookup then decides, exactly as after a lease: never a
blind retry).

Redis losing its data (flush, restart without persistence) removes every
key at once, and live workers need a beat to come back. So nobody is
declared dead while the queue's marker key (:data:`EPOCH_KEY`) is missing or
for :data:`ALIVE_TTL` + 2 beats after a loss was noticed
(:func:`note_loss`) or after Redis started (a restart from a snapshot keeps
the marker but not the short-lived keys); the marker and the keys are read in one ``MULTI``, so a
flush cannot fall between the reads. A process that does not beat (the
in-process runner, a test calling the job functions) records no heartbeat
mark and is left to its lease.

A worker beats under its RQ worker name too, which RQ records on the job it
runs: a job taken by a worker that died before claiming its targets is then
known to be gone (:meth:`clientnest.queue.RQJobQueue.missing`; a wrong
"gone" there only enqueues a job twice, which is harmless).

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
    "EPOCH_KEY",
    "note_loss",
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
_PREFIX = "clientnest:worker:"
#: the job queue's marker: gone means Redis lost its data (see RQJobQueue.lost_data)
EPOCH_KEY = "clientnest:queue:epoch"
#: set for a while after a loss was noticed: live workers have not beaten again yet
_LOSS_KEY = "clientnest:worker:recent-loss"
#: what an attempt's worker name ends with when its process beats
_BEATS = " (heartbeat)"

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
    """What an attempt records as its worker: the process, the thread, and
    whether the process beats (only then may it be declared dead)."""
    mark = _BEATS if _beating is not None else ""
    return f"{process_id()}/{threading.current_thread().name}"[:255 - len(mark)] + mark


def holder_process(worker: str | None) -> str | None:
    """The process of an attempt's ``worker`` if that process beats, else
    ``None`` (it never beat, or the row predates heartbeats)."""
    if not worker or not worker.endswith(_BEATS):
        return None
    return worker.partition("/")[0]


def _alive_key(name: str) -> str:
    return f"{_PREFIX}{name}:alive"


def note_loss(redis: Redis) -> None:
    """Redis lost its data: declare nobody dead until live workers have
    beaten again (Redis's own clock times it: no skew between hosts)."""
    redis.set(_LOSS_KEY, "1", ex=ALIVE_TTL + int(2 * BEAT_SECONDS) + 1)


def dead_processes(redis: Redis, names: Iterable[str]) -> set[str]:
    """The processes (or RQ worker names) among ``names`` whose heartbeat
    key is gone; none while a loss of Redis's data is recent or unnoticed."""
    ids = sorted(set(names))
    if not ids:
        return set()
    with redis.pipeline(transaction=True) as pipe:
        pipe.info("server")
        pipe.exists(EPOCH_KEY)
        pipe.exists(_LOSS_KEY)
        for name in ids:
            pipe.exists(_alive_key(name))
        server, epoch, loss, *alive = pipe.execute()
    # a Redis restarted from a snapshot keeps the marker but not the
    # short-lived keys: wait until live workers have beaten again
    restarted = int(server.get("uptime_in_seconds", 0)) < ALIVE_TTL + 2 * BEAT_SECONDS
    if not epoch or loss or restarted:
        return set()
    return {name for name, up in zip(ids, alive, strict=True) if not up}


class Heartbeat:
    """A daemon thread beating for this process every :data:`BEAT_SECONDS`.

    A failed beat (Redis down) is logged once per outage and tried again on
    the next beat. :meth:`stop` removes the keys: a worker stops cleanly only
    between jobs (RQ's warm shutdown), holding no target.
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
                    pipe.set(_alive_key(name), "1", ex=self.ttl)
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
            self.redis.delete(*(_alive_key(name) for name in self.names))
        except Exception:  # Redis down: the keys expire by themselves
            pass


def may_call_platform() -> bool:
    """False when this process beats and its beats have not reached Redis for
    so long that a dispatcher may already take it for dead: its targets are
    (or will be) reconciled by another worker, so it must not call the
    platform for them now."""
    hb = _beating
    return hb is None or hb.fresh()
