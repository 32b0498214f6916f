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

    class EngineWorker(SimpleWorker):
        """SimpleWorker that checks no job left a database connection out."""

        def execute_job(self, job: Any, queue: Any) -> None:
            try:
                super().execute_job(job, queue)
            finally:
                pool = current().db.engine.pool
                out = pool.checkedout() if hasattr(pool, "checkedout") else 0
                if out:
                    log.error("job %s left %d database connection(s) checked out", job.id, out)

    return EngineWorker


def run_worker(runtime: Runtime, *, queues: Sequence[str] = QUEUE_NAMES, burst: bool = False,
               max_jobs: int | None = None, name: str | None = None) -> bool:
    """Run one RQ worker in this process until stopped (or, with ``burst``,
    until the queues are empty). Returns whether it ran any job."""
    if not runtime.settings.redis_url:
        raise ConfigError("`clientnest worker` needs REDIS_URL; the embedded mode runs jobs in the app")
    from redis import Redis
    from rq.serializers import JSONSerializer

    set_current(runtime)
    conn = Redis.from_url(runtime.settings.redis_url)
    worker = _worker_class()(list(queues), connection=conn, serializer=JSONSerializer, name=name)
    try:
        return worker.work(burst=burst, max_jobs=max_jobs, logging_level=runtime.settings.log_level,
                           with_scheduler=False)
    finally:
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
