"""``clientnest worker`` and ``clientnest scheduler``.

* ``worker`` runs RQ :class:`~rq.SimpleWorker` processes on the publish and
  default queues. SimpleWorker runs each job in the worker process itself (no
  fork per job), so a worker keeps one pooled database connection, returned to
  the pool at the end of every job: thousands of jobs leave the connection
  count flat at one per worker. ``--processes N`` starts N of them.
* ``scheduler`` runs the dispatcher (:class:`~.dispatcher.Dispatcher`); any
  number may run at once. Without ``REDIS_URL`` it also runs the jobs on its
  in-process runner (a headless embedded engine).

The lead's CLI adds both with ``cli.add_command(worker)`` /
``cli.add_command(scheduler)``; ``python -m clientnest.engine.commands`` runs
them standalone. A :class:`~clientnest.runtime.Runtime` stored in the click
context (``ctx.obj``) is used if present; otherwise one is built from the
environment.
"""
from __future__ import annotations

import importlib
import logging
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Sequence
from typing import Any

import click

from ..errors import ConfigError
from ..queue import QUEUE_NAMES, InProcessJobQueue, get_queue
from ..runtime import Runtime, build_runtime, current, set_current
from ..settings import load_settings

__all__ = ["worker", "scheduler", "run_worker", "engine_runtime", "main"]

log = logging.getLogger(__name__)

_extra_option = click.option(
    "--extra-plugin", "extra_plugins", multiple=True, hidden=True,
    help="NAME=module:attr registered as a plugin (tests and benchmarks only)")


def _load_extra(specs: Sequence[str]) -> list[tuple[str, Any]]:
    out = []
    for spec in specs:
        name, _, target = spec.partition("=")
        module, _, attr = target.partition(":")
        if not (name and module and attr):
            raise click.BadParameter(f"expected NAME=module:attr, got {spec!r}", param_hint="--extra-plugin")
        out.append((name, getattr(importlib.import_module(module), attr)))
    return out


def engine_runtime(extra_plugins: Sequence[str] = ()) -> tuple[Runtime, bool]:
    """The runtime from the click context, or one built from the environment;
    the flag says whether it was built here (and must be closed here)."""
    ctx = click.get_current_context(silent=True)
    rt = ctx.find_object(Runtime) if ctx is not None else None
    owned = rt is None
    if rt is None:
        rt = build_runtime(load_settings(), extra_plugins=_load_extra(extra_plugins))
        logging.basicConfig(level=rt.settings.log_level,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    set_current(rt)
    return rt, owned


def _worker_class() -> type:
    from rq import SimpleWorker
    from rq.exceptions import InvalidJobOperation

    class EngineWorker(SimpleWorker):
        """SimpleWorker that checks no job left a database connection out, and
        takes a job whose record Redis lost (flushed while it ran) quietly."""

        def execute_job(self, job: Any, queue: Any) -> None:
            try:
                super().execute_job(job, queue)
            finally:
                pool = current().db.engine.pool
                out = pool.checkedout() if hasattr(pool, "checkedout") else 0
                if out:
                    log.error("job %s left %d database connection(s) checked out", job.id, out)

        def _record_kept(self, job: Any) -> bool:
            # RQ writes a few fields (ended_at ...) back after the job ran, so
            # after a flush the hash may exist again, but without a status
            return self.connection.hget(job.key, "status") is not None

        def handle_job_success(self, job: Any, queue: Any, started_job_registry: Any, execution: Any) -> None:
            # RQ reads the job's status back from Redis to clean it up; after a
            # flush there is nothing to read. The outcome is in the database.
            try:
                super().handle_job_success(job, queue, started_job_registry, execution)
            except InvalidJobOperation:
                if self._record_kept(job):
                    raise
                log.info("job %s finished; Redis no longer holds its record (flushed?), nothing to clean up",
                         job.id)

        def handle_job_failure(self, job: Any, queue: Any, started_job_registry: Any = None, exc_string: str = "",
                               execution: Any = None) -> None:
            try:
                super().handle_job_failure(job, queue, started_job_registry, exc_string, execution)
            except InvalidJobOperation:
                if self._record_kept(job):
                    raise
                log.info("job %s failed; Redis no longer holds its record (flushed?), nothing to clean up",
                         job.id)

    return EngineWorker


def _redacted(url: str) -> str:
    """Host, port and DB of a Redis URL: never its password in a log line."""
    from redis.connection import parse_url

    try:
        opts = parse_url(url)
    except ValueError:
        return "REDIS_URL"
    return f"{opts.get('host', 'localhost')}:{opts.get('port', 6379)}/{opts.get('db', 0)}"


def wait_for_redis(conn: Any, url: str, *, stop: threading.Event | None = None,
                   first: float = 1.0, at_most: float = 30.0) -> bool:
    """Ping Redis until it answers, one log line per failed try, waiting
    ``first`` seconds and doubling up to ``at_most``. ``False`` if ``stop``
    was set (or Ctrl-C pressed) meanwhile."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    stop = stop or threading.Event()
    wait, tries = first, 0
    while not stop.is_set():
        try:
            conn.ping()
            if tries:
                log.warning("Redis at %s answers again", _redacted(url))
            return True
        except (RedisConnectionError, RedisTimeoutError) as exc:
            tries += 1
            log.warning("Redis at %s is unreachable (%s: %s); try %d, next in %.0f s",
                        _redacted(url), type(exc).__name__, exc, tries, wait)
        try:
            stop.wait(wait)
        except KeyboardInterrupt:
            return False
        wait = min(at_most, wait * 2)
    return False


def run_worker(runtime: Runtime, *, queues: Sequence[str] = QUEUE_NAMES, burst: bool = False,
               max_jobs: int | None = None, name: str | None = None) -> bool:
    """Run one RQ worker in this process until stopped (or, with ``burst``,
    until the queues are empty). Returns whether it ran any job.

    Redis down at start: wait and retry (one log line per try) rather than
    exit. While it runs the process beats in Redis (:mod:`.liveness`), so a
    dispatcher notices within seconds if it dies holding targets."""
    if not runtime.settings.redis_url:
        raise ConfigError("`clientnest worker` needs REDIS_URL; the embedded mode runs jobs in the app")
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from rq.serializers import JSONSerializer

    from .liveness import Heartbeat

    set_current(runtime)
    url = runtime.settings.redis_url
    conn = Redis.from_url(url)
    # RQ records the name of the worker running a job: beating under that
    # name too lets a dispatcher tell that a started job's worker is dead
    name = name or uuid.uuid4().hex
    heartbeat: Heartbeat | None = None
    try:
        while True:
            if not wait_for_redis(conn, url):
                return False
            worker = _worker_class()(list(queues), connection=conn, serializer=JSONSerializer, name=name)
            heartbeat = heartbeat or Heartbeat(conn, aliases=(name,)).start()
            try:
                return worker.work(burst=burst, max_jobs=max_jobs, logging_level=runtime.settings.log_level,
                                   with_scheduler=False)
            except (RedisConnectionError, RedisTimeoutError) as exc:
                # lost between the ping and the worker's registration: wait again
                log.warning("Redis at %s went away while the worker started (%s)", _redacted(url),
                            type(exc).__name__)
    finally:
        if heartbeat is not None:
            heartbeat.stop()
        conn.close()


def _spawn(processes: int, argv: list[str]) -> int:
    """Run ``processes`` single-process workers and wait for them; SIGTERM and
    SIGINT are passed on (RQ then finishes the current job and stops)."""
    procs = [subprocess.Popen([sys.executable, "-m", "clientnest.engine.commands", *argv]) for _ in range(processes)]

    def forward(signum: int, _frame: Any) -> None:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return max(p.wait() for p in procs)


@click.command("worker")
@click.option("--queue", "-q", "queues", multiple=True, help="queue to serve (repeatable; default: all)")
@click.option("--processes", "-n", type=click.IntRange(min=1), default=1, show_default=True,
              help="worker processes to run")
@click.option("--burst", is_flag=True, help="stop when the queues are empty")
@click.option("--max-jobs", type=click.IntRange(min=1), help="stop after this many jobs")
@click.option("--name", help="worker name (default: RQ's)")
@_extra_option
def worker(queues: tuple[str, ...], processes: int, burst: bool, max_jobs: int | None, name: str | None,
           extra_plugins: tuple[str, ...]) -> None:
    """Run RQ workers for publishing and the other jobs."""
    if processes > 1:
        argv = ["worker", *sum((["-q", q] for q in queues), [])]
        argv += ["--burst"] if burst else []
        argv += ["--max-jobs", str(max_jobs)] if max_jobs else []
        argv += sum((["--extra-plugin", e] for e in extra_plugins), [])
        sys.exit(_spawn(processes, argv))
    rt, owned = engine_runtime(extra_plugins)
    try:
        run_worker(rt, queues=queues or QUEUE_NAMES, burst=burst, max_jobs=max_jobs, name=name)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if owned:
            rt.close()


@click.command("scheduler")
@click.option("--interval", type=float, help="seconds between rounds (default: dispatch_interval_seconds)")
@click.option("--once", is_flag=True, help="run one round, then exit")
@_extra_option
def scheduler(interval: float | None, once: bool, extra_plugins: tuple[str, ...]) -> None:
    """Run the dispatcher: claim due posts and enqueue their jobs (safe to run several)."""
    from .dispatcher import Dispatcher

    rt, owned = engine_runtime(extra_plugins)
    queue = get_queue(rt)
    if isinstance(queue, InProcessJobQueue):
        click.echo("no REDIS_URL: jobs run in this process", err=True)
    dispatcher = Dispatcher(rt, queue)
    try:
        if once:
            stats = dispatcher.tick(force=True)
            if isinstance(queue, InProcessJobQueue):
                queue.drain(timeout=rt.settings.publish_lease_seconds * 2)
            click.echo(f"expired={stats.expired} claimed={stats.claimed} requeued={stats.requeued} "
                       f"refreshes={stats.refreshes}")
            return
        stop = threading.Event()

        def on_signal(_signum: int, _frame: Any) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        log.info("scheduler %d started", os.getpid())
        dispatcher.run(stop, interval)
    finally:
        if owned:
            rt.close()


@click.group()
def main() -> None:
    """Engine commands (standalone entry; the product CLI is ``clientnest``)."""


main.add_command(worker)
main.add_command(scheduler)

if __name__ == "__main__":
    main()
