"""Benchmarks 2 and 3: posts end to end (dispatcher -> RQ -> connector over
HTTP -> fake platform -> recorded), beside no-op RQ jobs; lateness of posts
due at the same second."""
from __future__ import annotations

import statistics
import time
from datetime import datetime, timedelta
from typing import Any

from redis import Redis
from rq import Queue
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import func, insert, select

from clientnest.db import utcnow
from clientnest.models import Post, PostTarget, PublishAttempt, TargetStatus
from clientnest.queue import PUBLISH_QUEUE
from clientnest.runtime import Runtime

from .cpu import CpuMeter
from .env import BenchEnv, ConnectionSampler, rss_peak_kb, with_children

__all__ = ["noop_ceiling", "pipeline", "lateness", "seed_targets"]


def seed_targets(rt: Runtime, ws_id: int, account_ids: list[int], n: int, due: datetime,
                 scheduled_at: datetime | None = None) -> None:
    """``n`` posts with one target each, spread over the accounts, all due at ``due``."""
    scheduled_at = scheduled_at or due
    now = utcnow()
    with rt.db.transaction() as s:
        post_ids = list(s.execute(insert(Post).returning(Post.id, sort_by_parameter_order=True), [
            {"workspace_id": ws_id, "text": f"bench post {i} at {due.isoformat()}", "thread": [],
             "status": "scheduled", "scheduled_at": scheduled_at, "created_at": now, "updated_at": now}
            for i in range(n)
        ]).scalars())
        s.execute(insert(PostTarget), [
            {"post_id": pid, "workspace_id": ws_id, "account_id": account_ids[i % len(account_ids)],
             "platform": "fake", "status": "scheduled", "scheduled_at": scheduled_at, "next_attempt_at": due,
             "attempts": 0, "extra_ids": {}, "updated_at": now}
            for i, pid in enumerate(post_ids)
        ])


def _pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def noop_ceiling(env: BenchEnv, n: int, worker_pids: list[int]) -> dict[str, Any]:
    """No-op jobs through the same queue and the same running workers."""
    r = Redis.from_url(env.redis_url)
    q = Queue(PUBLISH_QUEUE, connection=r, serializer=JSONSerializer)
    cpu = CpuMeter({"workers": worker_pids}).start()
    t0 = time.perf_counter()
    for start in range(0, n, 1000):
        with r.pipeline() as pipe:
            q.enqueue_many([Queue.prepare_data("bench.jobs.noop", args=(i,), result_ttl=0)
                            for i in range(start, min(n, start + 1000))], pipeline=pipe)
            pipe.execute()
    started = StartedJobRegistry(queue=q)
    while q.count or started.count:
        time.sleep(0.02)
    elapsed = time.perf_counter() - t0
    failed = FailedJobRegistry(queue=q).count
    r.close()
    return {"jobs": n, "seconds": round(elapsed, 2), "jobs_per_second": round(n / elapsed, 1),
            "failed": failed, "cpu_seconds": cpu.stop()}


def _stats(rt: Runtime) -> dict[str, int]:
    with rt.db.session() as s:
        return dict(s.execute(select(PostTarget.status, func.count()).group_by(PostTarget.status)).all())


def _wait_all(rt: Runtime, n: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with rt.db.session() as s:
            done = s.scalar(select(func.count()).select_from(PostTarget).where(
                PostTarget.status.in_([TargetStatus.PUBLISHED, TargetStatus.FAILED])))
        if done >= n:
            return True
        time.sleep(0.1)
    return False


def pipeline(env: BenchEnv, rt: Runtime, ws_id: int, account_ids: list[int], n: int,
             workers: list[Any], scheduler: Any, timeout: float = 300) -> dict[str, Any]:
    """``n`` targets due at one moment, published by the running scheduler and workers."""
    env.truncate(rt)
    before = env.fake_stats()
    due = utcnow() + timedelta(seconds=3)
    seed_targets(rt, ws_id, account_ids, n, due)
    sampler = ConnectionSampler(env.admin_url, env.dbname)
    idle_connections = sampler.count()
    cpu = CpuMeter({"workers": [w.pid for w in workers], "scheduler": [scheduler.pid],
                    "fake platform": with_children(env._fake.pid) if env._fake else []})
    while utcnow() < due:
        time.sleep(0.01)
    cpu.start()
    with sampler:
        finished = _wait_all(rt, n, timeout)
    cpu_used = cpu.stop()
    after_connections = sampler.count()
    sampler.close()
    stats = _stats(rt)
    with rt.db.session() as s:
        last = s.scalar(select(func.max(PostTarget.published_at)))
        jobs = s.scalar(select(func.count(func.distinct(PostTarget.job_id))))
        first_claim = s.scalar(select(func.min(PostTarget.queued_at)))
        attempts = s.execute(select(PublishAttempt.started_at, PublishAttempt.finished_at, PostTarget.queued_at)
                             .join(PostTarget, PostTarget.id == PublishAttempt.target_id)).all()
    fake = env.fake_stats()
    wall = (last - due).total_seconds() if last else float("nan")
    queue_wait = [(a.started_at - a.queued_at).total_seconds() for a in attempts if a.queued_at]
    in_job = [(a.finished_at - a.started_at).total_seconds() for a in attempts if a.finished_at]
    return {
        "targets": n,
        "jobs": jobs,
        "finished": finished,
        "statuses": stats,
        "seconds_due_to_last_published": round(wall, 2),
        "posts_per_second": round(n / wall, 1) if wall == wall and wall > 0 else None,
        "first_claim_after_due_s": round((first_claim - due).total_seconds(), 3) if first_claim else None,
        "platform_posts_created": fake["posts"] - before["posts"],
        "duplicated_keys": fake["duplicated_keys"] - before["duplicated_keys"],
        "publish_requests": fake["counts"].get("publish", 0) - before["counts"].get("publish", 0),
        "stuck": sum(v for k, v in stats.items() if k not in (TargetStatus.PUBLISHED, TargetStatus.FAILED)),
        "worker_peak_rss_mb": [round((rss_peak_kb(w.pid) or 0) / 1024, 1) for w in workers],
        "db_connections": {"idle_before": idle_connections, "peak_during": max(sampler.samples or [0]),
                           "after": after_connections},
        "queue_wait_s_median": round(statistics.median(queue_wait), 3) if queue_wait else None,
        "attempt_s_median": round(statistics.median(in_job), 4) if in_job else None,
        "attempt_s_p99": round(_pct(in_job, 99), 4) if in_job else None,
        "cpu_seconds": cpu_used,
    }


def lateness(env: BenchEnv, rt: Runtime, ws_id: int, account_ids: list[int], n: int = 50,
             timeout: float = 60) -> dict[str, Any]:
    """``n`` posts scheduled for the same second: published_at - scheduled_at."""
    env.truncate(rt)
    now = utcnow()
    due = now.replace(microsecond=0) + timedelta(seconds=4)
    seed_targets(rt, ws_id, account_ids, n, due, scheduled_at=due)
    finished = _wait_all(rt, n, timeout + 4)
    with rt.db.session() as s:
        rows = s.execute(select(PostTarget.published_at, PostTarget.scheduled_at, PostTarget.queued_at)
                         .where(PostTarget.status == TargetStatus.PUBLISHED)).all()
    late = [(r.published_at - r.scheduled_at).total_seconds() for r in rows]
    claim = [(r.queued_at - r.scheduled_at).total_seconds() for r in rows if r.queued_at]
    return {
        "posts": n, "finished": finished, "published": len(rows),
        "lateness_s_median": round(statistics.median(late), 3) if late else None,
        "lateness_s_p99": round(_pct(late, 99), 3) if late else None,
        "lateness_s_max": round(max(late), 3) if late else None,
        "claim_after_due_s_median": round(statistics.median(claim), 3) if claim else None,
        "statuses": _stats(rt),
    }
