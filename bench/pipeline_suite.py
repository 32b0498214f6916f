"""Benchmarks 2 and 3 with their processes: warm RQ workers, one scheduler."""
from __future__ import annotations

from typing import Any

from .env import BenchEnv
from .pipeline import lateness, noop_ceiling, pipeline

__all__ = ["run"]


def run(env: BenchEnv, args: Any, only: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    rt = env.runtime()
    try:
        ws_id, accounts = env.seed_accounts(rt, 20)
        workers = env.start_workers(args.workers)
        try:
            if "pipeline" in only:
                out["noop"] = noop_ceiling(env, args.targets, [w.pid for w in workers])
            scheduler = env.start_scheduler()
            try:
                if "pipeline" in only:
                    out["pipeline"] = pipeline(env, rt, ws_id, accounts, args.targets, workers, scheduler)
                if "lateness" in only:
                    out["lateness"] = lateness(env, rt, ws_id, accounts, 50)
            finally:
                env.stop([scheduler])
            if "pipeline" in only:
                # the same run with one target per RQ job: what grouping targets into jobs buys
                scheduler = env.start_scheduler(CLIENTNEST_PUBLISH_JOB_TARGETS="1")
                try:
                    out["pipeline_one_per_job"] = pipeline(env, rt, ws_id, accounts, args.targets, workers,
                                                           scheduler)
                finally:
                    env.stop([scheduler])
        finally:
            env.stop(workers)
        env.truncate(rt)
    finally:
        rt.close()
    return out
