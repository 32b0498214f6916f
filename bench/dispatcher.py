"""Benchmark 4: claim and enqueue 100,000 due targets out of 1,000,000
scheduled rows; show the claim query's plan."""
from __future__ import annotations

import time
from typing import Any

from redis import Redis
from sqlalchemy import text

from clientnest.db import utcnow
from clientnest.engine.dispatcher import _PG_CLAIM, Dispatcher
from clientnest.queue import PUBLISH_QUEUE, RQJobQueue

from .env import BenchEnv

__all__ = ["run"]


class TimedDispatcher(Dispatcher):
    """Splits the time of a claim round: the claim statement, Redis."""

    claim_s = 0.0
    enqueue_s = 0.0

    def claim(self, s: Any, status: str, now: Any, limit: int) -> Any:
        t = time.perf_counter()
        try:
            return super().claim(s, status, now, limit)
        finally:
            self.claim_s += time.perf_counter() - t

    def _enqueue(self, claimed: Any) -> None:
        t = time.perf_counter()
        try:
            super()._enqueue(claimed)
        finally:
            self.enqueue_s += time.perf_counter() - t


def _seed(env: BenchEnv, rt: Any, rows: int, due: int, ws: int, accounts: list[int]) -> float:
    t = time.perf_counter()
    with rt.db.engine.begin() as c:
        c.execute(text("""
            INSERT INTO posts (workspace_id, text, thread, status, scheduled_at, created_at, updated_at)
            SELECT :ws, 'bench post ' || g, '[]'::json, 'scheduled',
                   CASE WHEN g <= :due THEN now() - (g % 3600) * interval '1 second'
                        ELSE now() + interval '1 hour' + (g % 2592000) * interval '1 second' END,
                   now(), now()
            FROM generate_series(1, :rows) AS g
        """), {"ws": ws, "due": due, "rows": rows})
        c.execute(text("""
            INSERT INTO post_targets (post_id, workspace_id, account_id, platform, status, scheduled_at,
                                      next_attempt_at, attempts, extra_ids, updated_at)
            SELECT p.id, p.workspace_id, (:accounts)[1 + p.id % :n], 'fake', 'scheduled', p.scheduled_at,
                   p.scheduled_at, 0, '{}'::json, now()
            FROM posts p
        """), {"accounts": accounts, "n": len(accounts)})
    with rt.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE posts"))
        c.execute(text("VACUUM ANALYZE post_targets"))
    return time.perf_counter() - t


def _plan(rt: Any, limit: int) -> str:
    """EXPLAIN ANALYZE of one claim round, rolled back."""
    with rt.db.engine.connect() as c:
        tx = c.begin()
        stmt = _PG_CLAIM.compile(dialect=c.dialect)
        sql = "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + str(stmt)
        params = {"status": "scheduled", "now": utcnow(), "limit": limit}
        rows = c.exec_driver_sql(sql, {k: params[k] for k in params}).all()
        tx.rollback()
    return "\n".join(r[0] for r in rows)


def _reset(rt: Any, env: BenchEnv) -> None:
    with rt.db.engine.begin() as c:
        c.execute(text("UPDATE post_targets SET status = 'scheduled', queued_at = NULL WHERE status = 'queued'"))
        c.execute(text("UPDATE posts SET status = 'scheduled' WHERE status <> 'scheduled'"))
        c.execute(text("TRUNCATE audit_events"))
    with rt.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE post_targets"))
        c.execute(text("VACUUM ANALYZE posts"))
    env.flush_redis()


def _round(rt: Any, env: BenchEnv, batch: int, due: int) -> dict[str, Any]:
    queue = RQJobQueue(env.redis_url)
    d = TimedDispatcher(rt, queue, batch_size=batch)
    rounds = 0
    t = time.perf_counter()
    while d.dispatch_due():
        rounds += 1
    total = time.perf_counter() - t
    r = Redis.from_url(env.redis_url)
    in_redis = r.llen(f"rq:queue:{PUBLISH_QUEUE}")
    r.close()
    queue.close()
    with rt.db.engine.connect() as c:
        queued = c.execute(text("SELECT count(*) FROM post_targets WHERE status = 'queued'")).scalar()
    return {
        "batch_size": batch, "rounds": rounds, "seconds": round(total, 2),
        "targets_per_second": round(due / total, 0),
        "claim_sql_s": round(d.claim_s, 2), "enqueue_redis_s": round(d.enqueue_s, 2),
        "audit_and_post_status_s": round(total - d.claim_s - d.enqueue_s, 2),
        "queued_in_db": queued, "jobs_in_redis": in_redis,
    }


def run(env: BenchEnv, rows: int = 1_000_000, due: int = 100_000) -> dict[str, Any]:
    rt = env.runtime()
    try:
        env.truncate(rt)
        ws, accounts = env.seed_accounts(rt, 10)
        seed_s = _seed(env, rt, rows, due, ws, accounts)
        plan = _plan(rt, 500)
        out: dict[str, Any] = {"rows": rows, "due": due, "seed_seconds": round(seed_s, 1), "plan": plan, "runs": []}
        for i, batch in enumerate((500, 5000)):
            if i:
                _reset(rt, env)
            out["runs"].append(_round(rt, env, batch, due))
        env.truncate(rt)
        env.flush_redis()
        return out
    finally:
        rt.close()
