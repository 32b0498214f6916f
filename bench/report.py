"""Write bench/RESULTS.md from the measured results (and keep the raw JSON beside it)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["write_report"]


def _cpu_table(cpu: dict[str, float], per: int | None = None, unit: str = "post") -> list[str]:
    ours = {k: v for k, v in cpu.items() if k not in ("machine",)}
    rows = ["| component | CPU seconds | " + (f"ms per {unit} |" if per else "|"),
            "|---|---:|" + ("---:|" if per else "")]
    for k, v in sorted(ours.items(), key=lambda kv: -kv[1]):
        rows.append(f"| {k} | {v:.2f} | " + (f"{v / per * 1000:.2f} |" if per else ""))
    other = cpu.get("machine", 0) - sum(ours.values())
    rows.append(f"| other processes on the machine | {max(other, 0):.2f} | " + (f"{max(other, 0) / per * 1000:.2f} |" if per else ""))
    rows.append(f"| **whole machine (all cores)** | {cpu.get('machine', 0):.2f} | " + (f"{cpu.get('machine', 0) / per * 1000:.2f} |" if per else ""))
    return rows


def _pipeline_reading(pipe: dict[str, Any], noop: dict[str, Any]) -> list[str]:
    """A few sentences computed from the figures: what one post costs."""
    c, n = pipe["cpu_seconds"], pipe["targets"]
    per = {k: v / n * 1000 for k, v in c.items()}
    rq = noop["cpu_seconds"].get("workers", 0) / noop["jobs"] * 1000
    per_job = n / max(pipe.get("jobs") or n, 1)
    ours = sum(v for k, v in c.items() if k != "machine")
    return [
        "",
        f"Reading: a post costs about {per.get('workers', 0):.1f} ms of worker CPU, of which about "
        f"{rq / per_job:.1f} ms is RQ's own work ({rq:.1f} ms per job, the no-op run's worker CPU per job, shared "
        f"by {per_job:.1f} targets per job) and the rest the publish job "
        f"(its share of the job's claim transaction, its own record transaction of Core statements, one HTTP call "
        f"through httpx, Fernet decryption of the "
        f"credentials); PostgreSQL adds {per.get('postgres', 0):.1f} ms, the fake platform "
        f"{per.get('fake platform', 0):.1f} ms, Redis {per.get('redis', 0):.1f} ms and the scheduler "
        f"{per.get('scheduler', 0):.2f} ms. In all {ours / n * 1000:.1f} ms of CPU per post on a "
        f"{c.get('machine', 0) / max(pipe['seconds_due_to_last_published'], 1e-9):.2f}-core-busy machine: the run "
        "is CPU-bound, so posts/s is about (cores available) / (CPU per post).",
        "",
    ]


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**not met**")


def write_report(results: dict[str, Any], out: Path) -> None:
    m = results["machine"]
    L: list[str] = [
        "# Benchmark results",
        "",
        f"Produced by `{results['command']}` (`make bench`) at {results['started_at']} in "
        f"{results['total_seconds']} s. Raw figures: `{out.with_suffix('.json').name}`.",
        "",
        f"Machine: {m['cpus']} CPUs, {m['platform']}, Python {m['python']}, PostgreSQL {m.get('postgresql')}, "
        f"Redis {m.get('redis')}; everything on loopback. Load average when the run started: "
        f"{results.get('loadavg_at_start', '?')}.",
        "",
        "Only measured numbers are shown. The machine is shared: the \"other processes\" rows of the CPU "
        "tables show how much of it something else used during each run.",
        "",
    ]
    earlier: dict[str, list[str]] = {}
    for name, origin in (results.get("origins") or {}).items():
        if origin.get("started_at") != results["started_at"]:
            earlier.setdefault(f"`{origin.get('command')}` at {origin.get('started_at')}", []).append(name)
    if earlier:
        L += ["Kept from earlier runs (not re-run this time): " + "; ".join(
            f"{', '.join(names)} from {run}" for run, names in earlier.items()) + ".", ""]
    pipe, noop, late, disp, api = (results.get(k) for k in ("pipeline", "noop", "lateness", "dispatcher", "api"))

    # -- summary -----------------------------------------------------------------------
    L += ["## Summary", "", "| benchmark | target | measured | verdict |", "|---|---|---|---|"]
    if api:
        ph = api["phases"]
        ratio = api["list_vs_trivial_throughput"]
        L.append(f"| 1. API list vs trivial throughput | >= 40 % | {ratio * 100:.1f} % "
                 f"({ph['list_closed']['rps']} vs {ph['trivial_closed']['rps']} req/s; pages from the 1 s page "
                 f"cache) | {_verdict(ratio >= 0.4)} |")
        uncached = api["list_uncached_vs_trivial_throughput"]
        L.append(f"| 1. (comparison) list with the page cache off | - | {uncached * 100:.1f} % "
                 f"({ph['list_uncached_closed']['rps']} req/s), p99 at 200 req/s "
                 f"{ph['list_uncached_200rps']['p99_ms']} ms | n/a |")
        p99 = ph["list_200rps"]["p99_ms"]
        L.append(f"| 1. API list p99 at 200 req/s | < 50 ms | {p99} ms (achieved {ph['list_200rps']['rps']} req/s) "
                 f"| {_verdict(p99 < 50 and ph['list_200rps']['rps'] >= 195)} |")
    if pipe and noop:
        pps = pipe["posts_per_second"] or 0
        L.append(f"| 2. pipeline posts/s | >= 200 | {pps} | {_verdict(pps >= 200)} |")
        L.append(f"| 2. pipeline vs no-op RQ ceiling | >= 50 % | {pps / noop['jobs_per_second'] * 100:.1f} % "
                 f"(ceiling {noop['jobs_per_second']} jobs/s) | {_verdict(pps >= noop['jobs_per_second'] / 2)} |")
        L.append(f"| 2. stuck / duplicated | 0 / 0 | {pipe['stuck']} / {pipe['duplicated_keys']} "
                 f"| {_verdict(pipe['stuck'] == 0 and pipe['duplicated_keys'] == 0)} |")
        one = results.get("pipeline_one_per_job")
        if one:
            opps = one["posts_per_second"] or 0
            L.append(f"| 2. (comparison) one target per RQ job | - | {opps} posts/s, "
                     f"{opps / noop['jobs_per_second'] * 100:.1f} % of the ceiling, stuck / duplicated "
                     f"{one['stuck']} / {one['duplicated_keys']} | n/a |")
    if late:
        L.append(f"| 3. lateness p99 (50 posts, same second) | < 2 s | {late['lateness_s_p99']} s "
                 f"| {_verdict(late['lateness_s_p99'] is not None and late['lateness_s_p99'] < 2)} |")
    kills = results.get("kills")
    if kills:
        kr = kills["kill_to_reconcile_s"]
        L.append(f"| 5. worker SIGKILLed mid-publish every >= {kills['kill_every_s']:g} s: kill to reconcile, max | < 15 s | "
                 f"{kr.get('max')} s (median {kr.get('median')} s, {kr['n']} targets held by "
                 f"{kills['kills']} killed workers) | {_verdict(kr['n'] > 0 and kr['max'] < 15)} |")
        fq = kills.get("flush_to_requeue_s", {})
        L.append(f"| 5. Redis flushed: flush to the queued targets enqueued again, max | - | {fq.get('max')} s "
                 f"({fq.get('n')} targets) | n/a |")
        L.append(f"| 5. lost / duplicated / stuck under faults | 0 / 0 / 0 | {kills['not_published']} / "
                 f"{kills['duplicated_keys']} / {kills['lost_or_stuck']} | "
                 f"{_verdict(kills['not_published'] == 0 and kills['duplicated_keys'] == 0)} |")
    bodies = results.get("bodies")
    if bodies:
        for name, c in bodies["configs"].items():
            worst = c["max_round_growth_mb"]
            L.append(f"| 5. peak RSS growth, {bodies['concurrency']} concurrent {bodies['body_mb']} MB bodies to each "
                     f"kind of route ({name}) | < {bodies['target_mb']} MB | largest round {worst} MB; whole run "
                     f"{c['peak_rss_growth_mb']} MB ({c['baseline_peak_rss_mb']} -> {c['final_peak_rss_mb']} MB) "
                     f"| {_verdict(worst < bodies['target_mb'])} |")
    if disp:
        r0 = disp["runs"][0]
        L.append(f"| 4. claim + enqueue {disp['due']:,} of {disp['rows']:,} | index used | {r0['seconds']} s "
                 f"(batch {r0['batch_size']}) | {_verdict('ix_targets_due' in disp['plan'])} |")
    events = results.get("events")
    if events:
        alone, loaded = events["latency_streams_only"], events["latency_with_api_load"]
        complete = all(x["deliveries"] == x["deliveries_expected"] for x in (alone, loaded))
        L.append(f"| 6. status change to event, p99, {events['streams']} open streams | < 1 s | "
                 f"{alone['p99_ms']} ms ({alone['deliveries']:,} of {alone['deliveries_expected']:,} deliveries); "
                 f"{loaded['p99_ms']} ms with the API at 200 req/s | "
                 f"{_verdict(complete and max(alone['p99_ms'], loaded['p99_ms']) < 1000)} |")
        w, wo = events["list_200rps_with_streams"], events["list_200rps_without_streams"]
        L.append(f"| 6. API list p99 at 200 req/s, {events['streams']} streams open vs none | < 50 ms, as without | "
                 f"{w['p99_ms']} ms vs {wo['p99_ms']} ms (achieved {w['rps']} / {wo['rps']} req/s) | "
                 f"{_verdict(w['p99_ms'] < 50 and w['rps'] >= 195)} |")
    L.append("")

    # -- pipeline ------------------------------------------------------------------------
    if pipe and noop:
        cfg = results["config"]
        L += [
            "## 2. Pipeline: due posts to published, end to end",
            "",
            f"{pipe['targets']:,} targets (one per post, spread over 20 accounts) due at one moment; "
            f"`clientnest scheduler` (one process) claims them, {cfg['workers']} `clientnest worker` processes "
            "(RQ SimpleWorker, JSON serializer) publish them with the fake connector, which makes a real HTTP "
            "call to the fake platform (its own process: gunicorn, one gthread worker, keep-alive). Timed from the "
            "due moment "
            "to the platform's time of the last post. The dispatcher groups the targets it claims into publish "
            f"jobs of up to `publish_job_targets` (default 10; this run: {pipe['targets']:,} targets in "
            f"{pipe.get('jobs')} jobs); each target is still claimed, called and recorded on its own.",
            "",
            "| measure | value |", "|---|---:|",
            f"| posts per second, end to end | **{pipe['posts_per_second']}** |",
            f"| seconds from due to last published | {pipe['seconds_due_to_last_published']} |",
            f"| no-op RQ jobs per second, same Redis, same {cfg['workers']} workers | {noop['jobs_per_second']} |",
            f"| posts created on the platform / publish requests it received | "
            f"{pipe['platform_posts_created']} / {pipe['publish_requests']} |",
            f"| duplicated posts (same idempotency key twice) | {pipe['duplicated_keys']} |",
            f"| targets not published (stuck) | {pipe['stuck']} |",
            f"| final statuses | {pipe['statuses']} |",
            f"| worker peak RSS (MB) | {', '.join(str(x) for x in pipe['worker_peak_rss_mb'])} |",
            f"| DB connections: idle workers before / peak during / after | "
            f"{pipe['db_connections']['idle_before']} / {pipe['db_connections']['peak_during']} / "
            f"{pipe['db_connections']['after']} |",
            f"| first claim after the due moment (s) | {pipe['first_claim_after_due_s']} |",
            f"| median wait in the queue (s) | {pipe['queue_wait_s_median']} |",
            f"| one attempt, claim to recorded outcome: median / p99 (s) | "
            f"{pipe['attempt_s_median']} / {pipe['attempt_s_p99']} |",
            "",
            "Where the time goes (CPU seconds during the run, per component):",
            "",
            *_cpu_table(pipe["cpu_seconds"], pipe["targets"]),
            "",
            *_pipeline_reading(pipe, noop),
            "No-op ceiling run (same workers):",
            "",
            *_cpu_table(noop["cpu_seconds"], noop["jobs"], unit="job"),
            "",
        ]
        one = results.get("pipeline_one_per_job")
        if one:
            L += [
                "For comparison, the same run with one target per RQ job (`CLIENTNEST_PUBLISH_JOB_TARGETS=1`): "
                f"**{one['posts_per_second']} posts/s** ({one['jobs']} jobs), stuck {one['stuck']}, duplicated "
                f"{one['duplicated_keys']}, final statuses {one['statuses']}.",
                "",
                *_cpu_table(one["cpu_seconds"], one["targets"]),
                "",
            ]
    if late:
        L += [
            "## 3. Lateness: 50 posts due at the same second",
            "",
            "`published_at` (the platform's time of the post) minus `scheduled_at`, same scheduler and workers.",
            "",
            "| measure | seconds |", "|---|---:|",
            f"| median | {late['lateness_s_median']} |",
            f"| p99 | **{late['lateness_s_p99']}** |",
            f"| max | {late['lateness_s_max']} |",
            f"| median claim after the due second | {late['claim_after_due_s_median']} |",
            f"| published | {late['published']} of {late['posts']} |",
            "",
        ]
    if disp:
        L += [
            f"## 4. Dispatcher: claim and enqueue {disp['due']:,} due targets out of {disp['rows']:,} scheduled rows",
            "",
            f"Rows made with `generate_series` in {disp['seed_seconds']} s, then `VACUUM ANALYZE`. The dispatcher "
            "runs in the benchmark process against the real database and Redis (no workers), round after round "
            "until nothing is due; each round claims, writes one audit event per target, refreshes the posts' "
            "status, records each target's job (jobs of up to 10 targets) and enqueues the jobs in one Redis "
            "pipeline.",
            "",
            "| batch size | rounds | seconds | targets/s | claim SQL (s) | audit, post status, job ids (s) | Redis enqueue (s) "
            "| queued in DB | jobs in Redis |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in disp["runs"]:
            L.append(f"| {r['batch_size']} | {r['rounds']} | {r['seconds']} | {r['targets_per_second']:.0f} | "
                     f"{r['claim_sql_s']} | {r['audit_and_post_status_s']} | {r['enqueue_redis_s']} | "
                     f"{r['queued_in_db']:,} | {r['jobs_in_redis']:,} |")
        L += ["", "Plan of one claim round (`EXPLAIN (ANALYZE, BUFFERS)`, batch 500, rolled back):", "", "```",
              disp["plan"], "```", ""]
    if api:
        L += [
            "## 1. API",
            "",
            f"Server: {api['server']}, PostgreSQL and Redis on loopback. Load: {api['load']}, from a separate "
            f"process. {api['seeded_posts']:,} posts in the workspace; `POST` creates a post scheduled 30 days "
            "ahead on one account.",
            "",
            "| phase | req/s | p50 ms | p95 ms | p99 ms | max ms | errors | gunicorn CPU s | postgres CPU s |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, ph in api["phases"].items():
            cpu = ph.get("cpu_seconds", {})
            L.append(f"| {name} | {ph['rps']} | {ph['p50_ms']} | {ph['p95_ms']} | {ph['p99_ms']} | {ph['max_ms']} | "
                     f"{ph['errors']} | {cpu.get('gunicorn workers', '')} | {cpu.get('postgres', '')} |")
        L.append("")
        L += ["The `list_uncached_*` phases ran on a second server started with "
              "`CLIENTNEST_POSTS_LIST_CACHE_SECONDS=0`: every request queries and serialises its page.", ""]
        for kind, prof in api["profile_list"].items():
            L += [
                f"Where a list request's time goes, page cache {'on (hits)' if kind == 'cached' else 'off'}: the "
                f"same app in the benchmark process (Flask test client), {prof['requests']} requests of "
                f"`GET .../posts?limit=50`: {prof['cpu_ms_per_request_unprofiled']} ms of CPU per request without "
                "the profiler; under cProfile (which inflates every figure about equally):",
                "",
                "| part | calls per request | profiled ms per request |", "|---|---:|---:|",
                *[f"| {k} | {v['calls_per_request']} | {v['profiled_ms_per_request']} |"
                  for k, v in prof["frames"].items()],
                "",
            ]
        notes = results.get("api_notes")
        if notes:
            L += [notes, ""]
    if bodies:
        L += _bodies_section(bodies)
    if events:
        L += _events_section(events, results.get("origins", {}).get("events"))
    if (out.parent / "ANALYTICS_RESULTS.md").exists():
        # written by its own command (make bench-analytics: a large PostgreSQL data set)
        L += ["## 7. Analytics", "", "Analytics queries, rollup maintenance, export memory and the prediction's "
              "backtest are measured by `make bench-analytics`; their results are in "
              "[ANALYTICS_RESULTS.md](ANALYTICS_RESULTS.md).", ""]
    L += _notes(results)
    if kills:
        L += _kills_section(kills, results.get("origins", {}).get("kills"))
    out.write_text("\n".join(L))


def _kills_section(k: dict[str, Any], origin: dict[str, Any] | None) -> list[str]:
    kr, ku, fl, late = k["kill_to_reconcile_s"], k["kill_to_unknown_s"], k["flush_to_attempt_s"], k["lateness_s"]
    cmd = f" (`{origin['command']}` at {origin['started_at']})" if origin else ""
    return [
        "## 5. Faults: workers killed with SIGKILL, Redis flushed",
        "",
        f"Measured by `bench/kills.py`{cmd}. {k['posts']} posts fall due one after the other over "
        f"{k['seconds']:g} s; {k['workers']} `clientnest worker` processes and one `clientnest scheduler` with the "
        f"default settings (lease 120 s, `reconcile_delay_seconds` 5 s, re-enqueue grace 60 s). Every publish "
        f"call is slow (the fake platform creates the post, then answers after {k['call_delay_s']:g} s), so a "
        f"worker dies holding targets. At least {k['kill_every_s']:g} s apart, the worker holding most targets (as "
        "soon as one holds any) is killed with SIGKILL and a new one started; half-way Redis (the benchmark's DB) "
        "is flushed once. Kill-to-attempt includes waiting for a worker: restarted workers need several "
        "seconds to start on this machine.",
        "",
        "| measure | value |", "|---|---:|",
        f"| workers killed | {k['kills']} |",
        f"| targets they held (publishing) | {k['targets_held_by_killed_workers']} |",
        f"| kill to `unknown` (dispatcher notices the missing heartbeat): median / p95 / max (s) | "
        f"{ku.get('median')} / {ku.get('p95')} / {ku.get('max')} |",
        f"| kill to the next attempt (the lookup): median / p95 / max (s) | "
        f"**{kr.get('median')} / {kr.get('p95')} / {kr.get('max')}** |",
        f"| what that next attempt was | {k['next_attempt_after_kill']} |",
        f"| why targets went `unknown` | {k['unknown_reasons']} |",
        f"| targets queued when Redis was flushed | {k['flush_queued_targets']} |",
        f"| flush to their jobs enqueued again: median / p95 / max (s) | "
        f"{k.get('flush_to_requeue_s', {}).get('median')} / {k.get('flush_to_requeue_s', {}).get('p95')} / "
        f"{k.get('flush_to_requeue_s', {}).get('max')} |",
        f"| flush to their attempt: median / p95 / max (s) | {fl.get('median')} / {fl.get('p95')} / "
        f"{fl.get('max')} |",
        f"| lateness of all posts: median / p99 / max (s) | {late['median']} / {late['p99']} / {late['max']} |",
        f"| final statuses | {k['statuses']} |",
        f"| posts created on the platform | {k['platform_posts_created']} |",
        f"| duplicated posts (same idempotency key twice) | {k['duplicated_keys']} |",
        f"| lost or stuck | {k['lost_or_stuck']} |",
        "",
        "Before the heartbeat a killed worker's targets waited out the whole 120 s lease (the last post of "
        "the 1,000-post fault run went out 122-138 s late) and a flush left queued targets to the 60 s "
        "grace (lateness up to 194 s). Now the dispatcher sees a dead worker within the 5 s heartbeat TTL "
        "and its targets are due for the lookup `reconcile_delay_seconds` after the worker's death (so about 1 s "
        "after being noticed); a flush is noticed on the next round.",
        "",
    ]


def _bodies_section(b: dict[str, Any]) -> list[str]:
    lim = b["limits"]
    L = [
        f"## 5. Large bodies: {b['concurrency']} concurrent {b['body_mb']} MB bodies to each kind of route",
        "",
        f"Server: {b['server']}: every request of a round in the same process. Limits: JSON routes "
        f"{lim['json_max_bytes'] // 1024} KiB, webhooks {lim['webhook_max_bytes'] // 1024} KiB, uploads "
        f"{lim['media_max_bytes'] // (1024 * 1024)} MiB. Bodies sent from raw sockets a megabyte at a time; a "
        "client stops writing once the server has answered. Peak RSS is the worker's `VmHWM`, read after a "
        "warm-up (20 small requests of each kind at once) and after each round (rounds in the order shown). "
        "The uploads are MP4 files, accepted and stored, then deleted.",
        "",
    ]
    for name, c in b["configs"].items():
        L += [
            f"Allocator: {name}.",
            "",
            "| route kind | path | answers | answered before the body was sent | MB sent (all 20) | seconds "
            "| worker peak RSS before -> after (MB) | growth (MB) |",
            "|---|---|---|---:|---:|---:|---|---:|",
        ]
        for kind, r in c["rounds"].items():
            L.append(f"| {kind} | `{r['path']}` | {r['statuses']} | {r['answered_before_body_sent']} | "
                     f"{r['mb_sent_total']} | {r['seconds']} | {r['peak_rss_before_mb']} -> "
                     f"{r['peak_rss_after_mb']} | {r['peak_rss_growth_mb']} |")
        L += ["", f"Whole run: worker peak RSS {c['baseline_peak_rss_mb']} MB after the warm-up, "
              f"{c['final_peak_rss_mb']} MB at the end: **{c['peak_rss_growth_mb']} MB** of growth.", ""]
    first = next(iter(b["configs"].values()))
    sample = {n: r["sample_answer"] for n, r in first["rounds"].items() if r["sample_answer"]}
    if sample:
        L += ["Answers (first 300 bytes of one per round):", "", "```",
              *[f"{n}: {a.strip()}" for n, a in sample.items()], "```", ""]
    return L


def _events_section(ev: dict[str, Any], origin: dict[str, Any] | None) -> list[str]:
    alone, loaded = ev["latency_streams_only"], ev["latency_with_api_load"]
    w, wo = ev["list_200rps_with_streams"], ev["list_200rps_without_streams"]
    cmd = f" (`{origin['command']}` at {origin['started_at']})" if origin else ""
    L = ["## 6. Live events: 200 open dashboards", ""]
    L += [
        f"Measured by `bench/events.py`{cmd}; load average when it started: {ev.get('loadavg_at_start', '?')}.",
        "",
    ]
    L += [
        f"Server: {ev['server']}. {ev['streams']} Server-Sent Events streams held open by one separate "
        "process (aiohttp client), as many browsers would. Status changes are committed by the benchmark "
        f"through the engine's own path (`engine.state.refresh_post`: audit rows, then the post-commit publish), "
        f"{ev['change_rate']:.0f} per second; latency runs from just before a change's transaction starts to "
        "the moment a stream reads its event, over every (change, stream) pair.",
        "",
        "| phase | changes | deliveries (expected) | p50 ms | p99 ms | max ms | commit p50 / p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, x in (("200 streams, no other load", alone), ("200 streams, API list at 200 req/s", loaded)):
        L.append(f"| {name} | {x['changes']} | {x['deliveries']:,} ({x['deliveries_expected']:,}) | {x['p50_ms']} | "
                 f"{x['p99_ms']} | {x['max_ms']} | {x['commit_ms_p50']} / {x['commit_ms_p99']} |")
    L += [
        "",
        "`GET .../posts?limit=50` at 200 req/s (benchmark 1's load generator, its own process), the same "
        "status changes going on in both runs:",
        "",
        "| run | req/s | p50 ms | p95 ms | p99 ms | max ms | errors | gunicorn CPU s | events server CPU s | "
        "stream clients CPU s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, x in (("no stream open", wo), (f"{ev['streams']} streams open", w)):
        cpu = x.get("cpu_seconds", {})
        L.append(f"| {name} | {x['rps']} | {x['p50_ms']} | {x['p95_ms']} | {x['p99_ms']} | {x['max_ms']} | "
                 f"{x['errors']} | {cpu.get('gunicorn workers', '')} | {cpu.get('events server', '')} | "
                 f"{cpu.get('stream clients', '')} |")
    cpu = alone.get("cpu_seconds", {})
    L += [
        "",
        f"Streams only ({alone['changes']} changes over {ev['seconds']} s): events server "
        f"{cpu.get('events server', '?')} CPU s, Redis {cpu.get('redis', '?')} CPU s, gunicorn "
        f"{cpu.get('gunicorn workers', '?')} CPU s (its workers hold no stream). "
        + ", ".join(f"{k}: {v}" for k, v in ev.get("memory", {}).items()) + ".",
        "",
        "Reading: a stream is a coroutine and a socket in the events server, not a gunicorn worker, so the "
        f"API's {ev['gunicorn_workers']} sync workers stay free for requests while {ev['streams']} dashboards "
        "listen; one Redis subscription per workspace feeds all of a server's streams. Served by the API's "
        f"sync workers instead, {ev['streams']} streams would hold {ev['streams']} workers for as long as the "
        f"dashboards stay open: with {ev['gunicorn_workers']} workers, stream {ev['gunicorn_workers'] + 1} "
        "would already leave no worker for any other request. On this one machine the streams still cost CPU "
        f"beside the API: in the run with streams open the events server used "
        f"{w.get('cpu_seconds', {}).get('events server', 0) / ev['seconds']:.2f} of a core and the stream "
        f"clients (browsers on other machines, in real use) {w.get('cpu_seconds', {}).get('stream clients', 0) / ev['seconds']:.2f}, "
        "out of the 2 cores the API, PostgreSQL, Redis and the load generator share (with other work on the "
        "machine: compare the load average above); that, not a held worker, is what the list latency "
        "difference measures here.",
        "",
    ]
    return L


def _notes(results: dict[str, Any]) -> list[str]:
    """Why a target is met or not, computed from this run's figures."""
    cpus = results["machine"]["cpus"]
    out = ["## Reading the figures", ""]
    pipe, noop, api = results.get("pipeline"), results.get("noop"), results.get("api")
    if pipe and noop:
        c, n = pipe["cpu_seconds"], pipe["targets"]
        post_ms = sum(v for k, v in c.items() if k not in ("machine", "bench process")) / n * 1000
        nc, nn = noop["cpu_seconds"], noop["jobs"]
        noop_ms = sum(v for k, v in nc.items() if k not in ("machine", "bench process")) / nn * 1000
        out += [
            f"- Pipeline: every component runs on the same {cpus} cores, so throughput is bounded by "
            f"{cpus} / (CPU per post) = {cpus} / {post_ms:.1f} ms = {cpus / post_ms * 1000:.0f} posts/s; the run "
            f"reached {pipe['posts_per_second']}. A no-op RQ job costs {noop_ms:.1f} ms of CPU in all (worker and "
            f"Redis), so on one machine the post/no-op throughput ratio is about {noop_ms:.1f} / {post_ms:.1f} = "
            f"{noop_ms / post_ms * 100:.0f} %. With one target per job a post would pay RQ's whole per-job cost "
            "on top of its own (see the comparison run); grouping targets into jobs shares it. In production "
            "PostgreSQL, Redis and the platform run elsewhere and only the workers' share stays on the worker "
            "machines.",
            f"- Exactly once: the platform received {pipe['publish_requests']} publish requests for "
            f"{pipe['targets']} targets and holds {pipe['duplicated_keys']} duplicated idempotency keys; "
            f"{pipe['stuck']} targets were left in flight.",
            f"- Connections: {pipe['db_connections']['idle_before']} before the run (workers open theirs at their "
            f"first job), "
            f"peak {pipe['db_connections']['peak_during']} during it, {pipe['db_connections']['after']} after: "
            "each SimpleWorker keeps one pooled connection and returns it after every job.",
        ]
    if api:
        ph = api["phases"]
        def per_req(name: str) -> float:
            return ph[name]["cpu_seconds"].get("gunicorn workers", 0) / max(ph[name]["requests"], 1) * 1000

        def pg_req(name: str) -> float:
            return ph[name]["cpu_seconds"].get("postgres", 0) / max(ph[name]["requests"], 1) * 1000

        lst, raw, triv = per_req("list_closed"), per_req("list_uncached_closed"), per_req("trivial_closed")
        out += [
            f"- API: a list page from the page cache costs {lst:.2f} ms of gunicorn CPU and {pg_req('list_closed'):.2f} "
            f"ms of PostgreSQL CPU per request (the token and membership query, one Redis `HGET`), `/healthz` "
            f"{triv:.2f} ms; the throughput ratio follows ({ph['list_closed']['rps']} vs "
            f"{ph['trivial_closed']['rps']} req/s). A page made afresh costs {raw:.2f} ms of gunicorn CPU and "
            f"{pg_req('list_uncached_closed'):.2f} ms of PostgreSQL CPU (two more queries, 50 posts to JSON): "
            f"{ph['list_uncached_closed']['rps']} req/s. A page is kept 1 s, so a dashboard polling a busy "
            "workspace mostly hits; a write through the API drops the workspace's pages at once.",
            f"- API: `GET /api/v1/me` (the token query, then the caller's workspaces through the ORM) costs "
            f"{per_req('auth_closed'):.2f} ms of gunicorn CPU per request, {ph['auth_closed']['rps']} req/s.",
        ]
    return out + [""]
