"""Run the benchmarks of issues 3, 9 and 12 and write bench/RESULTS.md.

``python -m bench.run`` (``make bench``). PostgreSQL, Redis, gunicorn and RQ
workers on loopback; load from separate processes. Options::

    --only api,pipeline,lateness,dispatcher,events,bodies,kills   run a subset; the sections
                         not run are kept from the previous RESULTS.json (the
                         report says which run each comes from)
    --workers N          RQ worker processes (default 3: the best of 2-6 measured on 2 cores)
    --targets N          pipeline size (default 5000)
    --rows N --due N     dispatcher table size and due rows (1,000,000 / 100,000)
    --seconds S          duration of each API load phase (default 10)
    --kill-posts N       posts of the kill benchmark (default 60, due over 45 s)
    --out PATH           where to write the report (default bench/RESULTS.md)

Environment: ``BENCH_DATABASE_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``; a fresh database is created
next to it and dropped at the end) and ``BENCH_REDIS_URL`` (default
``redis://127.0.0.1:6379/15``; only that DB is flushed).

Every phase is bounded in time; the whole run stops by itself.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .env import BenchEnv
from .report import write_report

ALL = ("pipeline", "lateness", "dispatcher", "api", "events", "bodies", "kills")
#: the keys of RESULTS.json each benchmark writes
_SECTIONS = {"pipeline": ("pipeline", "noop", "pipeline_one_per_job"), "lateness": ("lateness",),
             "dispatcher": ("dispatcher",), "api": ("api", "api_notes"), "kills": ("kills",),
             "bodies": ("bodies",), "events": ("events",)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.run")
    p.add_argument("--only", default=",".join(ALL))
    p.add_argument("--workers", type=int, default=3)
    p.add_argument("--targets", type=int, default=5000)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--due", type=int, default=100_000)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--kill-posts", type=int, default=60)
    p.add_argument("--out", default=str(Path(__file__).with_name("RESULTS.md")))
    args = p.parse_args(argv)
    only = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = set(only) - set(ALL)
    if unknown:
        p.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")

    command = "python -m bench.run" + ("" if argv is None and len(sys.argv) == 1 else
                                       " " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])))
    pg = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    started = time.monotonic()
    results: dict[str, Any] = {
        "command": command,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "loadavg_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "config": {"workers": args.workers, "targets": args.targets, "rows": args.rows, "due": args.due,
                   "seconds": args.seconds, "kill_posts": args.kill_posts},
    }
    env = BenchEnv.create(pg, redis_url)
    try:
        results["machine"].update(_versions(env))
        env.start_fake()
        if {"pipeline", "lateness"} & set(only):
            from .pipeline_suite import run as run_pipeline

            results.update(run_pipeline(env, args, only))
        if "dispatcher" in only:
            from .dispatcher import run as run_dispatcher

            results["dispatcher"] = run_dispatcher(env, args.rows, args.due)
        if "api" in only:
            from .api import run as run_api

            results["api"] = run_api(env, args.seconds)
        if "bodies" in only:
            from .bodies import run as run_bodies

            results["bodies"] = run_bodies(env)
        if "events" in only:
            from .events import run as run_events

            results["events"] = run_events(env, args.seconds)
        if "kills" in only:  # last: it leaves slow-call faults on the fake platform
            from .kills import run as run_kills

            results["kills"] = run_kills(env, posts=args.kill_posts, workers=args.workers)
    finally:
        env.close()
    results["total_seconds"] = round(time.monotonic() - started, 1)
    out = Path(args.out)
    _keep_earlier(results, out.with_suffix(".json"), only)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str))
    write_report(results, out)
    print(f"wrote {out} ({results['total_seconds']} s)")
    return 0


def _keep_earlier(results: dict[str, Any], previous: Path, only: list[str]) -> None:
    """Record which run each section comes from (``origins``); a subset run
    keeps the other benchmarks' figures from the previous results."""
    here = {"command": results["command"], "started_at": results["started_at"]}
    results["origins"] = {name: here for name in only}
    if set(only) == set(ALL) or not previous.exists():
        return
    prev = json.loads(previous.read_text())
    prev_origin = {"command": prev.get("command"), "started_at": prev.get("started_at")}
    for name in ALL:
        if name in only:
            continue
        keys = [k for k in _SECTIONS[name] if k in prev]
        for k in keys:
            results[k] = prev[k]
        if keys:
            results["origins"][name] = prev.get("origins", {}).get(name, prev_origin)


def _versions(env: BenchEnv) -> dict[str, str]:
    from redis import Redis
    from sqlalchemy import create_engine, text

    eng = create_engine(env.db_url)
    with eng.connect() as c:
        pg = c.execute(text("SHOW server_version")).scalar()
    eng.dispose()
    r = Redis.from_url(env.redis_url)
    redis_version = r.info("server")["redis_version"]
    r.close()
    return {"postgresql": str(pg), "redis": str(redis_version)}


if __name__ == "__main__":
    sys.exit(main())
