"""Benchmark 5: faults in production mode. Posts fall due steadily while a
worker is SIGKILLed every few seconds (the one holding most targets, as soon
as one holds any; a new one is started at once) and Redis is flushed once; every platform call is
slow, so a killed worker dies holding targets.

Measured from the database after the run:

* kill -> reconcile: for each target a killed worker held, from the kill to
  the start of its next attempt (the lookup that decides: never a blind
  resend); and kill -> ``unknown`` (the dispatcher noticing);
* flush -> picked up: for each target queued when Redis was flushed, from the
  flush to the start of its attempt;
* lost / duplicated / stuck, and lateness (published_at - scheduled_at).
"""
from __future__ import annotations

import signal
import statistics
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from typing import Any

import httpx
from redis import Redis
from sqlalchemy import and_, select

from clientnest.db import utcnow
from clientnest.models import AuditEvent, PostTarget, PublishAttempt, TargetStatus
from clientnest.runtime import Runtime

from .env import FAKE_PLUGIN, BenchEnv
from .pipeline import _pct, _stats, seed_targets

__all__ = ["run"]

FINAL = (TargetStatus.PUBLISHED, TargetStatus.FAILED, TargetStatus.UNCONFIRMED)


def _spawn_worker(env: BenchEnv) -> subprocess.Popen:
    return env._spawn([sys.executable, "-m", "clientnest.engine.commands", "worker", "--extra-plugin", FAKE_PLUGIN,
                       "--name", f"kill-{uuid.uuid4().hex[:6]}"])


def _held(rt: Runtime, pids: list[int]) -> dict[int, list[tuple[int, int]]]:
    """(target, attempt number) each process holds: publishing, attempt made by it."""
    with rt.db.session() as s:
        rows = s.execute(
            select(PostTarget.id, PostTarget.attempts, PublishAttempt.worker)
            .join(PublishAttempt, and_(PublishAttempt.target_id == PostTarget.id,
                                       PublishAttempt.number == PostTarget.attempts))
            .where(PostTarget.status == TargetStatus.PUBLISHING)).all()
    out: dict[int, list[tuple[int, int]]] = {pid: [] for pid in pids}
    for r in rows:
        holder = (r.worker or "").partition("/")[0]
        for pid in pids:
            if f":{pid}:" in holder:
                out[pid].append((r.id, r.attempts))
    return out


def _queued(rt: Runtime) -> list[int]:
    with rt.db.session() as s:
        return list(s.scalars(select(PostTarget.id).where(PostTarget.status == TargetStatus.QUEUED)))


def _summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    return {"n": len(values), "median": round(statistics.median(values), 2), "p95": round(_pct(values, 95), 2),
            "max": round(max(values), 2)}


def run(env: BenchEnv, posts: int = 60, seconds: float = 45.0, kill_every: float = 4.0, workers: int = 3,
        call_delay: float = 0.5, timeout: float = 300.0) -> dict[str, Any]:
    """Run last: the slow-call faults it queues on the fake platform may
    outlive it (the fake has no endpoint to clear them)."""
    rt = env.runtime()
    try:
        ws_id, accounts = env.seed_accounts(rt, 20)
        env.truncate(rt)
        # every publish call is slow: the platform creates the post, then answers late
        httpx.post(f"{env.fake_url}/_fake/faults", json={"op": "publish", "kind": "slow", "times": posts * 3,
                                                          "delay": call_delay}, timeout=10).raise_for_status()
        procs = env.start_workers(workers)
        scheduler = env.start_scheduler()
        # warm up: one post through scheduler and workers, so that start-up
        # time is not counted as lateness
        seed_targets(rt, ws_id, accounts, 1, utcnow())
        deadline = time.monotonic() + 120
        while _stats(rt).get(TargetStatus.PUBLISHED, 0) < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        env.truncate(rt, ("post_targets", "posts", "audit_events", "publish_attempts"))
        before = env.fake_stats()
        start = utcnow() + timedelta(seconds=3)
        step = seconds / posts
        for i in range(posts):  # due one after the other
            seed_targets(rt, ws_id, accounts, 1, start + timedelta(seconds=i * step))
        kills: list[dict[str, Any]] = []
        flush: dict[str, Any] = {}
        redis = Redis.from_url(env.redis_url)
        try:
            while utcnow() < start:
                time.sleep(0.05)
            t0 = time.monotonic()
            next_kill = t0 + kill_every
            flush_at = t0 + seconds / 2
            while time.monotonic() - t0 < seconds:
                time.sleep(0.1)
                if not flush and time.monotonic() >= flush_at:
                    flush = {"at": utcnow(), "queued": _queued(rt)}
                    redis.flushdb()  # the benchmark's Redis DB only
                if time.monotonic() >= next_kill:
                    # kill the worker holding most targets, as soon as one holds any: killing an
                    # idle (or still starting) worker would measure nothing
                    held = _held(rt, [p.pid for p in procs])
                    if not any(held.values()):
                        continue
                    i = max(range(len(procs)), key=lambda j: len(held[procs[j].pid]))
                    p = procs[i]
                    p.send_signal(signal.SIGKILL)
                    p.wait(10)
                    at = utcnow()
                    env.procs.remove(p)
                    kills.append({"at": at, "pid": p.pid, "held": _held(rt, [p.pid])[p.pid]})
                    procs[i] = _spawn_worker(env)
                    next_kill = time.monotonic() + kill_every
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                stats = _stats(rt)
                if sum(v for k, v in stats.items() if k in FINAL) >= posts:
                    break
                time.sleep(0.2)
        finally:
            redis.close()
            env.stop([scheduler, *procs])
        stats = _stats(rt)
        fake = env.fake_stats()
        to_reconcile, to_unknown, outcomes = [], [], {}
        with rt.db.session() as s:
            for k in kills:
                for tid, number in k["held"]:
                    nxt = s.execute(select(PublishAttempt.started_at, PublishAttempt.kind, PublishAttempt.outcome)
                                    .where(PublishAttempt.target_id == tid, PublishAttempt.number == number + 1)
                                    ).first()
                    if nxt is not None:
                        to_reconcile.append((nxt.started_at - k["at"]).total_seconds())
                        key = f"{nxt.kind}:{nxt.outcome}"
                        outcomes[key] = outcomes.get(key, 0) + 1
                    seen = s.scalar(select(AuditEvent.created_at).where(
                        AuditEvent.object_type == "post_target", AuditEvent.object_id == str(tid),
                        AuditEvent.action == "target.unknown", AuditEvent.created_at >= k["at"])
                        .order_by(AuditEvent.created_at).limit(1))
                    if seen is not None:
                        to_unknown.append((seen - k["at"]).total_seconds())
            picked_up, requeued = [], []
            for tid in flush.get("queued", []):
                first = s.scalar(select(PublishAttempt.started_at).where(
                    PublishAttempt.target_id == tid, PublishAttempt.started_at >= flush["at"])
                    .order_by(PublishAttempt.started_at).limit(1))
                if first is not None:
                    picked_up.append((first - flush["at"]).total_seconds())
                again = s.scalar(select(AuditEvent.created_at).where(
                    AuditEvent.object_type == "post_target", AuditEvent.object_id == str(tid),
                    AuditEvent.action == "target.queued", AuditEvent.created_at >= flush["at"])
                    .order_by(AuditEvent.created_at).limit(1))
                if again is not None:
                    requeued.append((again - flush["at"]).total_seconds())
            rows = s.execute(select(PostTarget.published_at, PostTarget.scheduled_at)
                             .where(PostTarget.status == TargetStatus.PUBLISHED)).all()
            reasons = [e.data.get("reason") for e in s.scalars(select(AuditEvent).where(
                AuditEvent.action == "target.unknown"))]
        late = [(r.published_at - r.scheduled_at).total_seconds() for r in rows]
        held = sum(len(k["held"]) for k in kills)
        return {
            "posts": posts, "seconds": seconds, "kill_every_s": kill_every, "workers": workers,
            "call_delay_s": call_delay, "kills": len(kills), "targets_held_by_killed_workers": held,
            "kill_to_reconcile_s": _summary(to_reconcile),
            "kill_to_unknown_s": _summary(to_unknown),
            "next_attempt_after_kill": outcomes,
            "unknown_reasons": {r: reasons.count(r) for r in set(reasons)},
            "flush_queued_targets": len(flush.get("queued", [])),
            "flush_to_attempt_s": _summary(picked_up),
            "flush_to_requeue_s": _summary(requeued),
            "statuses": stats,
            "lost_or_stuck": posts - sum(v for k, v in stats.items() if k in FINAL),
            "not_published": sum(v for k, v in stats.items() if k != TargetStatus.PUBLISHED),
            "platform_posts_created": fake["posts"] - before["posts"],
            "duplicated_keys": fake["duplicated_keys"] - before["duplicated_keys"],
            "lateness_s": {"median": round(statistics.median(late), 2) if late else None,
                           "p99": round(_pct(late, 99), 2) if late else None,
                           "max": round(max(late), 2) if late else None},
        }
    finally:
        env.truncate(rt)
        rt.close()
