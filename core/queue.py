"""The job queue: RQ on Redis in production, an in-process runner when embedded.

Jobs are module-level functions taking ids (``clientnest.engine.jobs``),
named by their dotted path and serialised as JSON, so the same function runs
under an RQ worker on another machine or on a thread of the app. The queue
only *executes*: the database says what must happen (invariant 1), so a job
lost with Redis's data is enqueued again by the dispatcher from the database.

* :class:`RQJobQueue` (``settings.redis_url`` set): RQ with the JSON
  serializer; deterministic job ids let the dispatcher ask whether a job still
  exists (:meth:`JobQueue.missing`).
* :class:`InProcessJobQueue` (embedded): a thread pool running the same job
  functions; a job id already waiting or running is not submitted twice.

:func:`get_queue` returns the runtime's queue (built once, closed with it).
"""
from __future__ import annotations

import importlib
import logging
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis import Redis

    from .runtime import Runtime

__all__ = [
    "PUBLISH_QUEUE",
    "DEFAULT_QUEUE",
    "QUEUE_NAMES",
    "JobSpec",
    "JobQueue",
    "RQJobQueue",
    "InProcessJobQueue",
    "get_queue",
    "redis_connection",
    "job_runtime",
    "resolve",
]

log = logging.getLogger(__name__)

#: publish and reconcile jobs: the latency-sensitive work, served first
PUBLISH_QUEUE = "clientnest-publish"
#: everything else (token refresh ahead of expiry, metrics ...)
DEFAULT_QUEUE = "clientnest-default"
#: in the order a worker serves them
QUEUE_NAMES = (PUBLISH_QUEUE, DEFAULT_QUEUE)

#: RQ job statuses that mean "no job will run for this id any more"
_DEAD = frozenset({"finished", "failed", "stopped", "canceled"})


@dataclass(frozen=True)
class JobSpec:
    """One job to run.

    :param func: dotted path of a module-level function, e.g.
        ``clientnest.engine.jobs.publish_target``.
    :param args: JSON-serialisable positional arguments (ids).
    :param job_id: deterministic id: the same work always gets the same id.
    :param queue: :data:`PUBLISH_QUEUE` or :data:`DEFAULT_QUEUE`.
    :param timeout: seconds after which RQ stops the job (``None``: RQ default).
    :param at_front: put it before the jobs already waiting (work handed over
        by a job that ran out of time has waited its turn already).
    """

    func: str
    args: tuple[Any, ...]
    job_id: str
    queue: str = DEFAULT_QUEUE
    timeout: int | None = None
    at_front: bool = False


def resolve(path: str) -> Callable[..., Any]:
    """The function named by a dotted path."""
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


class JobQueue(ABC):
    """What the dispatcher needs from a queue."""

    @abstractmethod
    def enqueue_many(self, specs: Sequence[JobSpec]) -> None:
        """Enqueue jobs (one round trip where the backend allows)."""

    def enqueue(self, spec: JobSpec) -> None:
        self.enqueue_many([spec])

    @abstractmethod
    def missing(self, job_ids: Iterable[str], *, started_before: datetime | None = None) -> set[str]:
        """The ids among ``job_ids`` with no job waiting or running; with
        ``started_before``, a job that started before then counts as gone too
        (its worker died: a live publish job hands over the targets it has not
        started long before)."""

    def lost_data(self) -> bool:
        """Whether the queue lost what it held since the last call (Redis
        flushed, or restarted without persistence): the dispatcher then
        enqueues again at once what the database says is queued."""
        return False

    def close(self) -> None:
        """Release connections and threads."""


# -- RQ -------------------------------------------------------------------------


class RQJobQueue(JobQueue):
    """RQ on Redis with the JSON serializer.

    Successful jobs are deleted at once (``result_ttl=0``): their outcome is in
    the database. Failed jobs are kept a day for diagnosis.

    A marker key (``clientnest.engine.liveness.EPOCH_KEY``, no expiry) tells
    a Redis that lost its data: :meth:`lost_data` finds it gone (or replaced
    by another dispatcher that found it gone) and writes a new one.
    """


    def __init__(self, redis_url: str, *, failure_ttl: int = 24 * 3600) -> None:
        from redis import Redis
        from rq import Queue
        from rq.serializers import JSONSerializer

        self.connection: Redis = Redis.from_url(redis_url)
        self.failure_ttl = failure_ttl
        self.queues = {
            name: Queue(name, connection=self.connection, serializer=JSONSerializer)
            for name in QUEUE_NAMES
        }
        self._epoch: bytes | None = None

    def lost_data(self) -> bool:
        from .engine.liveness import EPOCH_KEY, note_loss

        seen = self.connection.get(EPOCH_KEY)
        if seen is None:
            # first: hold off declaring workers dead until they have beaten again
            note_loss(self.connection)
            mine = uuid.uuid4().hex.encode()
            # another dispatcher may write it first: then take its value
            self.connection.set(EPOCH_KEY, mine, nx=True)
            seen = self.connection.get(EPOCH_KEY) or mine
            lost = True  # gone: flushed, or a Redis never used (harmless: only missing jobs are enqueued)
        else:
            lost = self._epoch is not None and seen != self._epoch
        self._epoch = seen
        return lost

    def enqueue_many(self, specs: Sequence[JobSpec]) -> None:
        from rq import Queue

        if not specs:
            return
        by_queue: dict[str, list[JobSpec]] = {}
        for spec in specs:
            by_queue.setdefault(spec.queue, []).append(spec)
        with self.connection.pipeline() as pipe:
            for name, items in by_queue.items():
                self.queues[name].enqueue_many(
                    [
                        Queue.prepare_data(
                            s.func,
                            args=s.args,
                            job_id=s.job_id,
                            timeout=s.timeout,
                            result_ttl=0,
                            failure_ttl=self.failure_ttl,
                            at_front=s.at_front,
                        )
                        for s in items
                    ],
                    pipeline=pipe,
                )
            pipe.execute()

    def missing(self, job_ids: Iterable[str], *, started_before: datetime | None = None) -> set[str]:
        """Also gone: a job started by a worker whose heartbeat stopped
        (:mod:`clientnest.engine.liveness`; killed between taking the job and
        claiming its targets), without waiting for ``started_before``."""
        from rq.job import Job
        from rq.utils import str_to_date

        from .engine.liveness import dead_processes

        ids = list(job_ids)
        if not ids:
            return set()
        with self.connection.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hmget(Job.key_for(job_id), "status", "started_at", "worker_name")
            found = pipe.execute()
        out = set()
        running: dict[str, str] = {}  # job id -> the RQ worker running it
        for job_id, (raw_status, raw_started, raw_worker) in zip(ids, found, strict=True):
            status = raw_status.decode() if isinstance(raw_status, bytes) else raw_status
            if status is None or status in _DEAD:
                out.add(job_id)
            elif status == "started":
                if started_before is not None and raw_started and str_to_date(raw_started) < started_before:
                    out.add(job_id)
                elif raw_worker:
                    running[job_id] = raw_worker.decode() if isinstance(raw_worker, bytes) else raw_worker
        if running:
            dead = dead_processes(self.connection, set(running.values()))
            out |= {j for j, w in running.items() if w in dead}
        return out

    def close(self) -> None:
        self.connection.close()


# -- in-process -------------------------------------------------------------------

_local = threading.local()


@contextmanager
def _bound(runtime: Runtime | None) -> Iterator[None]:
    previous = getattr(_local, "runtime", None)
    _local.runtime = runtime
    try:
        yield
    finally:
        _local.runtime = previous


def job_runtime() -> Runtime:
    """The runtime a job runs under: the in-process runner's, or the process's
    (:func:`clientnest.runtime.current`, built from the environment in a worker)."""
    rt = getattr(_local, "runtime", None)
    if rt is not None:
        return rt
    from .runtime import current

    return current()


class InProcessJobQueue(JobQueue):
    """A thread pool executing the job functions in this process (embedded mode).

    :param runtime: bound to each job (see :func:`job_runtime`), so the jobs of
        one app never act on another app's database.
    :param threads: pool size (``settings.job_threads``).
    """

    def __init__(self, runtime: Runtime | None, threads: int = 4) -> None:
        self.runtime = runtime
        self._executor = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="cn-job")
        self._live: dict[str, datetime | None] = {}  # job id -> when it started (None: waiting)
        self._cond = threading.Condition()
        self._closed = False
        self.completed = 0
        self.failed = 0

    def enqueue_many(self, specs: Sequence[JobSpec]) -> None:
        for spec in specs:
            with self._cond:
                if self._closed:
                    raise RuntimeError("the in-process job runner is stopped")
                if spec.job_id in self._live:
                    continue  # the same work is already waiting or running
                self._live[spec.job_id] = None
            self._executor.submit(self._run, spec)

    def _run(self, spec: JobSpec) -> None:
        with self._cond:
            self._live[spec.job_id] = datetime.now(UTC)
        ok = False
        try:
            with _bound(self.runtime):
                resolve(spec.func)(*spec.args)
            ok = True
        except Exception:  # a failed job is logged; the database still says what is due
            log.exception("job %s failed", spec.job_id)
        finally:
            with self._cond:
                self._live.pop(spec.job_id, None)
                if ok:
                    self.completed += 1
                else:
                    self.failed += 1
                self._cond.notify_all()

    def missing(self, job_ids: Iterable[str], *, started_before: datetime | None = None) -> set[str]:
        with self._cond:
            return {j for j in job_ids if j not in self._live or (
                started_before is not None and (started := self._live[j]) is not None and started < started_before)}

    def pending(self) -> int:
        with self._cond:
            return len(self._live)

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until no job is waiting or running; ``False`` on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._live:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self) -> None:
        with self._cond:
            self._closed = True
        # Jobs not started yet are dropped: their targets stay queued in the
        # database and are enqueued again after the grace period.
        self._executor.shutdown(wait=True, cancel_futures=True)


# -- per runtime -------------------------------------------------------------------

_build_lock = threading.Lock()


def get_queue(runtime: Runtime) -> JobQueue:
    """The runtime's queue: RQ when ``settings.redis_url`` is set, else in-process."""
    q = runtime.extras.get("queue")
    if q is None:
        with _build_lock:
            q = runtime.extras.get("queue")
            if q is None:
                if runtime.settings.redis_url:
                    q = RQJobQueue(runtime.settings.redis_url)
                else:
                    q = InProcessJobQueue(runtime, runtime.settings.job_threads)
                runtime.extras["queue"] = q
    return q


class _RedisHolder:
    def __init__(self, url: str) -> None:
        from redis import Redis

        self.client = Redis.from_url(url)

    def close(self) -> None:
        self.client.close()


def redis_connection(runtime: Runtime) -> Redis:
    """A Redis client for locks and queue checks (production mode only)."""
    if not runtime.settings.redis_url:
        raise RuntimeError("no Redis in the embedded mode")
    holder = runtime.extras.get("redis")
    if holder is None:
        with _build_lock:
            holder = runtime.extras.get("redis")
            if holder is None:
                holder = runtime.extras["redis"] = _RedisHolder(runtime.settings.redis_url)
    return holder.client
