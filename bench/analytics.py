"""Analytics benchmarks: the prediction's backtest, and the analytics reads,
rollup maintenance and export at scale on PostgreSQL.

``python -m bench.analytics`` writes ``bench/ANALYTICS_RESULTS.md`` (and
``.json``). Options::

    --posts N        post rollups (and posts and targets) in the scale test (default 1,000,000)
    --runs N         timed runs of each read (default 30)
    --snapshots N    snapshots stored through the real path for the maintenance rate (default 2,000)
    --only backtest,scale

``BENCH_DATABASE_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``):
a fresh database is created next to it and dropped at the end.

The scale data is written straight into the tables with ``generate_series``
(the rollups the reads use, and the posts and targets they join); raw
snapshots are not generated, because no analytics read touches them: their
cost is measured where it is paid, in the maintenance rate.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("ANALYTICS_RESULTS.md")
NOW = datetime(2026, 6, 10, 12, tzinfo=UTC)


def _runtime(url: str, data_dir: str) -> Any:
    from cryptography.fernet import Fernet

    from clientnest.runtime import build_runtime, set_current
    from clientnest.settings import load_settings

    rt = build_runtime(load_settings({"database_url": url, "data_dir": data_dir,
                                      "fernet_keys": Fernet.generate_key().decode(), "redis_url": ""}))
    set_current(rt)
    return rt


# -- backtest ---------------------------------------------------------------------------------

def backtest() -> dict[str, Any]:
    from clientnest.analytics.demo import DEMO_ACCOUNTS, generate_history
    from clientnest.analytics.predict import backtest as run
    from clientnest.analytics.predict import history
    from clientnest.migrate import upgrade
    from clientnest.models import Workspace

    d = tempfile.mkdtemp()
    url = f"sqlite:///{d}/backtest.db"
    upgrade(url)
    rt = _runtime(url, d)
    with rt.db.transaction() as s:
        ws = Workspace(name="backtest", timezone="UTC")
        s.add(ws)
        s.flush()
        stats = generate_history(s, ws.id, days=90, now=NOW, snapshot_hours=(168,), vault=rt.vault)
    rows = []
    with rt.db.session() as s:
        for spec, aid in zip(DEMO_ACCOUNTS, stats.account_ids, strict=True):
            r = run(history(s, aid))
            rows.append({"account": spec.name, "platform": spec.platform, **r.__dict__})
    rt.close()
    return {"accounts": rows}


# -- scale ------------------------------------------------------------------------------------

_GEN = """
INSERT INTO posts (id, workspace_id, text, link, thread, status, scheduled_at, created_at, updated_at)
SELECT g, CASE WHEN g % 10 = 0 THEN 1 ELSE 2 + g % 99 END, 'post number ' || g || ' #coffee', NULL, '[]',
       'published', :start + ((g / 100) % 90) * interval '1 day' + (g % 13 + 8) * interval '1 hour',
       now(), now()
FROM generate_series(1, :n) g;
INSERT INTO post_targets (id, post_id, workspace_id, account_id, platform, status, scheduled_at, published_at,
                          external_id, external_url, extra_ids, attempts, updated_at)
SELECT p.id, p.id, p.workspace_id, (p.workspace_id - 1) * 10 + 1 + (p.id / 10) % 10,
       (ARRAY['twitter','facebook','instagram','linkedin'])[1 + ((p.id / 10) % 10) % 4], 'published', p.scheduled_at,
       p.scheduled_at, 'x' || p.id, 'https://example.invalid/' || p.id, '{}', 1, now()
FROM posts p;
INSERT INTO post_rollups (target_id, workspace_id, account_id, post_id, platform, published_at, local_day,
                          local_weekday, local_hour, media_kind, text_length, hashtags, has_link, fetched_at,
                          snapshots, engagement_rate, impressions, reach, likes, comments, shares, saves, clicks,
                          video_views, engagements, rate_num, rate_den)
SELECT t.id, t.workspace_id, t.account_id, t.post_id, t.platform, t.published_at, t.published_at::date,
       extract(isodow from t.published_at)::int - 1, extract(hour from t.published_at)::int,
       (ARRAY['none','image','video'])[1 + t.id % 3], 30, 1, false, t.published_at + interval '7 days', 5,
       (20 + t.id % 17)::float / (1000 + t.id % 500), 1000 + t.id % 500, 700 + t.id % 300, 15 + t.id % 10,
       2 + t.id % 4, 1 + t.id % 3, NULL, t.id % 5, NULL, 20 + t.id % 17, 20 + t.id % 17, 1000 + t.id % 500
FROM post_targets t;
INSERT INTO account_daily_rollups (account_id, day, workspace_id, platform, posts, impressions, reach, likes,
                                   comments, shares, saves, clicks, video_views, engagements, rate_num, rate_den,
                                   acct_followers, acct_impressions, acct_reach, acct_profile_views,
                                   acct_engagements)
SELECT r.account_id, r.local_day, min(r.workspace_id), min(r.platform), count(*), sum(r.impressions),
       sum(r.reach), sum(r.likes), sum(r.comments), sum(r.shares), NULL, sum(r.clicks), NULL, sum(r.engagements),
       sum(r.rate_num), sum(r.rate_den), 5000 + r.account_id, 3000, 2000, 40, 90
FROM post_rollups r GROUP BY r.account_id, r.local_day;
"""


def _pcts(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {"p50_ms": 1000 * statistics.median(s), "p95_ms": 1000 * s[min(len(s) - 1, int(0.95 * len(s)))],
            "max_ms": 1000 * s[-1]}


def scale(posts: int, runs: int, snapshots: int) -> dict[str, Any]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from clientnest.analytics import queries as q
    from clientnest.connector import PostMetrics
    from clientnest.migrate import upgrade
    from clientnest.models import SocialAccount, Workspace
    from clientnest.services.metrics import store_snapshot
    from clientnest.services.slots import workspace_zone
    from clientnest.settings import Settings

    raw = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    base = make_url(Settings(database_url=raw).resolved_database_url())
    name = f"cn_bench_analytics_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    out: dict[str, Any] = {"posts": posts}
    rt = None
    try:
        upgrade(url)
        rt = _runtime(url, tempfile.mkdtemp())
        t0 = time.perf_counter()
        with rt.db.transaction() as s:
            for w in range(1, 101):
                s.add(Workspace(id=w, name=f"ws{w}", timezone="UTC"))
            s.flush()
            creds = rt.vault.encrypt({"access_token": "x"})
            for a in range(1, 1001):
                s.add(SocialAccount(id=a, workspace_id=(a - 1) // 10 + 1, platform="twitter",
                                    external_id=f"a{a}", credentials_encrypted=creds))
        start = datetime.combine(NOW.date() - timedelta(days=89), datetime.min.time(), tzinfo=UTC)
        with rt.db.engine.begin() as c:
            for stmt in [x for x in _GEN.split(";") if x.strip()]:
                c.execute(text(stmt), {"start": start, "n": posts})
            for seq in ("posts_id_seq", "post_targets_id_seq"):
                c.execute(text(f"SELECT setval('{seq}', :n)"), {"n": posts})
            c.execute(text("ANALYZE"))
        out["load_seconds"] = time.perf_counter() - t0
        with rt.db.session() as s:
            out["rows"] = {t: s.scalar(text(f"SELECT count(*) FROM {t}")) for t in
                           ("posts", "post_targets", "post_rollups", "account_daily_rollups")}
        zone = workspace_zone("UTC")
        period = q.Period(NOW.date() - timedelta(days=89), NOW.date(), zone)
        f = q.Filters()
        reads = {
            "summary (90 days, with the previous period)": lambda s: q.summary(s, 1, period, f),
            "timeseries (90 days, by day)": lambda s: q.timeseries(s, 1, period, f, "impressions", "day"),
            "top-posts (90 days, top 10 by engagement rate)":
                lambda s: q.top_posts(s, 1, period, f, "engagement_rate", 10),
            "summary of a small workspace": lambda s: q.summary(s, 2, period, f),
        }
        timings = {}
        with rt.db.session() as s:
            for label, fn in reads.items():
                fn(s)  # warm
                samples = []
                for _ in range(runs):
                    t = time.perf_counter()
                    fn(s)
                    samples.append(time.perf_counter() - t)
                timings[label] = _pcts(samples)
            out["plans"] = {
                "summary": "\n".join(r[0] for r in s.execute(text(
                    "EXPLAIN ANALYZE SELECT sum(posts), sum(impressions) FROM account_daily_rollups "
                    "WHERE workspace_id = 1 AND day BETWEEN :a AND :b"), {"a": period.start, "b": period.end})),
                "top_posts": "\n".join(r[0] for r in s.execute(text(
                    "EXPLAIN ANALYZE SELECT target_id FROM post_rollups WHERE workspace_id = 1 AND local_day "
                    "BETWEEN :a AND :b AND engagement_rate IS NOT NULL ORDER BY engagement_rate DESC, "
                    "published_at DESC LIMIT 10"), {"a": period.start, "b": period.end})),
            }
        out["reads"] = timings
        # rollup maintenance through the real path: one snapshot per transaction, as the job does
        cpu0, t0 = time.process_time(), time.perf_counter()
        for i in range(snapshots):
            tid = 1 + (i * 7919) % posts
            with rt.db.transaction() as s:
                store_snapshot(s, workspace_id=(1 if tid % 10 == 0 else 2 + tid % 99), target_id=tid,
                               metrics=PostMetrics(external_id="x", impressions=2000 + i, likes=30 + i % 7,
                                                   comments=3, shares=2, clicks=1), fetched_at=NOW)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        # the same transactions with the snapshot insert alone (what storing cost before the rollups)
        from clientnest.models import MetricSnapshot

        cpu1, t1 = time.process_time(), time.perf_counter()
        for i in range(snapshots):
            tid = 1 + (i * 7919) % posts
            with rt.db.transaction() as s:
                s.add(MetricSnapshot(workspace_id=(1 if tid % 10 == 0 else 2 + tid % 99), target_id=tid,
                                     fetched_at=NOW, impressions=2000 + i, likes=30))
                s.flush()
        wall1, cpu1 = time.perf_counter() - t1, time.process_time() - cpu1
        out["maintenance"] = {"snapshots": snapshots, "per_second": snapshots / wall,
                              "client_cpu_ms_per_snapshot": 1000 * cpu / snapshots,
                              "insert_only_per_second": snapshots / wall1,
                              "insert_only_client_cpu_ms": 1000 * cpu1 / snapshots}
        # export: memory while streaming 10 % and all of workspace 1's rows
        mem = {}
        for share in (0.1, 1.0):
            limit = int(posts / 10 * share)
            with rt.db.session() as s:
                tracemalloc.start()
                t0 = time.perf_counter()
                n = 0
                for chunk in q.csv_chunks((r for i, r in zip(range(limit), q.export_rows(s, 1, period, f))),
                                          q.EXPORT_COLUMNS):
                    n += chunk.count("\n")
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                mem[f"{limit} rows"] = {"lines": n, "seconds": time.perf_counter() - t0,
                                        "python_heap_peak_kb": peak // 1024}
        out["export"] = mem
        out["process_peak_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    finally:
        if rt is not None:
            rt.close()
        with admin.connect() as c:
            c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
    return out


# -- report -----------------------------------------------------------------------------------

def report(results: dict[str, Any]) -> str:
    lines = ["# Analytics benchmark results", "",
             f"Produced by `python -m bench.analytics` at {results['at']} in {results['seconds']:.1f} s. "
             "Raw figures: `ANALYTICS_RESULTS.json`.", "",
             f"Machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}; "
             f"load average at start {results['load']}. The machine is shared with other work: wall-clock "
             "figures include its noise.", ""]
    bt = results.get("backtest")
    if bt:
        lines += ["## Prediction backtest (demo history, 90 days)", "",
                  "Each account's posts in time order: the model is fitted on the first 70 % and predicts the "
                  "last 30 %; the baseline predicts the account's median rate of the first 70 %. Errors on the "
                  "engagement rate: mean absolute error of its log (a factor: 0.22 means about 25 % off) and mean "
                  "absolute percentage error; coverage is the share of test posts inside the 80 % interval.", "",
                  "| account | train / test posts | model MAE (log) | baseline MAE (log) | model MAPE | "
                  "baseline MAPE | 80 % interval coverage | beats the baseline |",
                  "|---|---|---:|---:|---:|---:|---:|---|"]
        for r in bt["accounts"]:
            lines.append(f"| {r['account']} ({r['platform']}) | {r['train']} / {r['test']} | "
                         f"{r['model_mae_log']:.3f} | {r['baseline_mae_log']:.3f} | {r['model_mape']:.1%} | "
                         f"{r['baseline_mape']:.1%} | {r['interval_coverage']:.0%} | "
                         f"{'yes' if r['model_mae_log'] < r['baseline_mae_log'] else '**no**'} |")
        lines += ["", "The demo history plants a slot effect (X: Tuesday 14:00, x2.2) and an image effect (x1.4) "
                  "under log-normal noise (sd 0.25). The model beats the median where an effect is strong and "
                  "there are enough posts; on the two small accounts (under 45 training posts, only the image "
                  "effect) it does not. The API says so in `posts_in_history` and refuses under 30 posts. The 80 % "
                  "intervals come from out-of-fold residuals; on these small test sets their coverage is read "
                  "from the table, not assumed (below 80 % means too narrow).", ""]
    sc = results.get("scale")
    if sc:
        lines += ["## Reads, maintenance and export at scale (PostgreSQL)", "",
                  f"{sc['rows']['post_rollups']:,} published posts (posts, targets and post rollups) over 90 days, "
                  f"1,000 accounts in 100 workspaces; workspace 1 holds 10 % of the posts "
                  f"({sc['rows']['post_rollups'] // 10:,}), the others about 0.9 % each; "
                  f"{sc['rows']['account_daily_rollups']:,} account-day rollups. Loaded in {sc['load_seconds']:.0f} s. "
                  "Reads call the service functions the API calls (no HTTP).", "",
                  "| read (workspace 1 unless said) | p50 | p95 | max | target p95 |", "|---|---:|---:|---:|---|"]
        for label, t in sc["reads"].items():
            lines.append(f"| {label} | {t['p50_ms']:.1f} ms | {t['p95_ms']:.1f} ms | {t['max_ms']:.1f} ms | "
                         f"< 100 ms: {'met' if t['p95_ms'] < 100 else '**not met**'} |")
        m = sc["maintenance"]
        lines += ["", f"Rollup maintenance through `store_snapshot` (snapshot + post rollup + post-day + account-day "
                  f"upserts, one transaction each, one process): **{m['per_second']:.0f} snapshots/s**, "
                  f"{m['client_cpu_ms_per_snapshot']:.2f} ms of client CPU per snapshot "
                  f"({m['snapshots']:,} snapshots). The same transactions storing the snapshot alone (no "
                  f"rollups): {m['insert_only_per_second']:.0f}/s, {m['insert_only_client_cpu_ms']:.2f} ms CPU. "
                  f"Target 1,000/s: "
                  f"{'met' if m['per_second'] >= 1000 else '**not met** (one process; several workers were not measured). The rollups add about three times the client CPU of the bare insert: five statements through SQLAlchemy per snapshot'}.",
                  "", "Export (CSV, streamed from a server-side cursor):", "",
                  "| rows | seconds | Python heap peak |", "|---|---:|---:|"]
        for label, e in sc["export"].items():
            lines.append(f"| {label} | {e['seconds']:.2f} | {e['python_heap_peak_kb']:,} KB |")
        lines += ["", f"Peak RSS of the whole benchmark process: {sc['process_peak_rss_kb']:,} KB.", "",
                  "Plans (`EXPLAIN ANALYZE`):", "", "```", sc["plans"]["summary"], "```", "", "```",
                  sc["plans"]["top_posts"], "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.analytics")
    p.add_argument("--posts", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--snapshots", type=int, default=2000)
    p.add_argument("--only", default="backtest,scale")
    p.add_argument("--out", type=Path, default=OUT)
    a = p.parse_args(argv)
    only = set(a.only.split(","))
    t0 = time.perf_counter()
    results: dict[str, Any] = {}
    previous = a.out.with_suffix(".json")
    if only != {"backtest", "scale"} and previous.exists():
        results.update(json.loads(previous.read_text()))  # a partial run keeps the other part's figures
    results.update({"at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "load": " ".join(f"{x:.2f}" for x in os.getloadavg())})
    if "backtest" in only:
        results["backtest"] = backtest()
    if "scale" in only:
        results["scale"] = scale(a.posts, a.runs, a.snapshots)
    results["seconds"] = time.perf_counter() - t0
    a.out.write_text(report(results))
    a.out.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str))
    print(a.out.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
