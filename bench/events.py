"""Benchmark 6: live events with 200 open dashboards (issue 12).

The production layout: gunicorn (the same sync workers as benchmark 1) for
the API, ``clientnest events`` (its own process, asyncio) for the streams,
Redis pub/sub between them and the engine. 200 streams are held open by a
separate process (``bench.sse_clients``), as 200 browsers would.

- Status change to event received: the benchmark commits target status
  changes through the engine's own path (``engine.state.refresh_post``: the
  audit rows, the post-commit publish to Redis) at a steady rate; each
  stream notes when each event arrives. Latency runs from just before the
  change's transaction starts to the moment a stream reads the event, for
  every (change, stream) pair.
- API capacity: ``GET .../posts?limit=50`` at 200 req/s (benchmark 1's load
  generator) with no stream open, then with the 200 streams open and the
  same status changes going on in both runs.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from clientnest.db import utcnow
from clientnest.engine.state import refresh_post, target_event_row
from clientnest.models import PostTarget, SocialAccount, TargetStatus

from .api import GUNICORN_THREADS, GUNICORN_WORKERS, _load
from .cpu import CpuMeter
from .env import ROOT, BenchEnv, free_port, rss_peak_kb, with_children
from .pipeline import _pct, seed_targets

__all__ = ["run", "STREAMS", "CHANGE_RATE"]

STREAMS = 200
#: status changes per second while streams are open
CHANGE_RATE = 10.0
SEED_POSTS = 1000


def _start_events_server(env: BenchEnv) -> tuple[subprocess.Popen, str]:
    port = free_port()
    p = env._spawn([sys.executable, "-m", "clientnest.cli", "events", "--host", "127.0.0.1", "--port", str(port)],
                   stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return p, url
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or p.poll() is not None:
            raise RuntimeError("the events server did not start")
        time.sleep(0.2)


class _Changes:
    """Commits target status changes at a steady rate on a thread; notes
    the wall-clock time each one started."""

    def __init__(self, rt: Any, ws: int, targets: list[tuple[int, int]], rate: float) -> None:
        self.rt, self.ws, self.targets, self.rate = rt, ws, targets, rate
        self.started: dict[int, float] = {}
        self.commit_ms: list[float] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        t = PostTarget.__table__
        begin = time.monotonic()
        for i, (tid, pid) in enumerate(self.targets):
            delay = begin + i / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.started[tid] = time.time()
            t0 = time.perf_counter()
            with self.rt.db.engine.begin() as conn:
                conn.execute(update(t).where(t.c.id == tid).values(
                    status=TargetStatus.CANCELED, next_attempt_at=None, updated_at=utcnow()))
                refresh_post(conn, pid, actor="system", events=[target_event_row(
                    target_id=tid, workspace_id=self.ws, post_id=pid, frm=TargetStatus.SCHEDULED,
                    to=TargetStatus.CANCELED, actor="system")])
            # the events are published when the connection goes back to the pool, on leaving the block
            self.commit_ms.append((time.perf_counter() - t0) * 1000)

    def start(self) -> _Changes:
        self._thread.start()
        return self

    def join(self) -> None:
        self._thread.join()


def _clients(env: BenchEnv, url: str, token: str) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-m", "bench.sse_clients", "--url", url, "--token", token,
                          "--streams", str(STREAMS)],
                         cwd=ROOT, env=env.env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline() if p.stdout else ""
    if not line.startswith("READY"):
        p.kill()
        raise RuntimeError(f"the stream clients did not start: {line!r}")
    connected = int(line.split()[1])
    if connected != STREAMS:
        p.kill()
        raise RuntimeError(f"only {connected} of {STREAMS} streams opened")
    return p


#: after the last change, how long the streams may take to receive it
_GRACE_SECONDS = 5.0


def _latencies(clients: subprocess.Popen, changes: _Changes) -> dict[str, Any]:
    time.sleep(_GRACE_SECONDS)
    out, _ = clients.communicate(timeout=300)  # closes their stdin: they stop and report
    result = json.loads(out.strip().splitlines()[-1])
    lat = [(got - changes.started[tid]) * 1000 for tid, status, got in result["received"]
           if tid in changes.started and status == "canceled"]
    expected = len(changes.started) * STREAMS
    return {
        "streams": result["connected"], "stream_errors": len(result["errors"]),
        "changes": len(changes.started), "deliveries_expected": expected, "deliveries": len(lat),
        "p50_ms": round(_pct(lat, 50), 2) if lat else None, "p99_ms": round(_pct(lat, 99), 2) if lat else None,
        "max_ms": round(max(lat), 2) if lat else None,
        "commit_ms_p50": round(_pct(changes.commit_ms, 50), 2), "commit_ms_p99": round(_pct(changes.commit_ms, 99), 2),
    }


def run(env: BenchEnv, seconds: float = 10.0) -> dict[str, Any]:
    load_at_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    rt = env.runtime()
    try:
        env.truncate(rt)
        api, api_url = env.start_gunicorn(GUNICORN_WORKERS, GUNICORN_THREADS)
        ev, ev_url = _start_events_server(env)
        try:
            reg = httpx.post(f"{api_url}/api/v1/auth/register", json={
                "email": f"events-{uuid.uuid4().hex[:8]}@example.com", "password": "correct horse battery staple",
                "workspace_name": "Events bench"}, timeout=30)
            reg.raise_for_status()
            token, wid = reg.json()["token"], reg.json()["workspace"]["id"]
            creds = httpx.post(f"{env.fake_url}/_fake/accounts", json={"external_id": "events-bench"},
                               timeout=10).json()
            with rt.db.transaction() as s:
                acct = SocialAccount(workspace_id=wid, platform="fake", external_id="events-bench",
                                     display_name="Events bench", credentials_encrypted=rt.vault.encrypt(creds),
                                     token_expires_at=None)
                s.add(acct)
                s.flush()
                aid = acct.id
            seed_targets(rt, wid, [aid], SEED_POSTS, utcnow() + timedelta(days=30))
            with rt.db.session() as s:
                targets = [(r.id, r.post_id) for r in s.execute(
                    select(PostTarget.id, PostTarget.post_id).where(PostTarget.workspace_id == wid)
                    .order_by(PostTarget.id))]
            n = int(seconds * CHANGE_RATE)
            batches = [targets[i * n:(i + 1) * n] for i in range(3)]
            stream_url = f"{ev_url}/api/v1/workspaces/{wid}/events"
            list_path = f"/api/v1/workspaces/{wid}/posts?limit=50"
            _load(env, api_url, list_path, seconds=min(3.0, seconds), token=token)  # warm up
            ev_pids, api_pids = with_children(ev.pid), with_children(api.pid)
            groups = {"events server": ev_pids, "gunicorn workers": api_pids}

            # 1. status change -> event, 200 streams open, no other load
            clients = _clients(env, stream_url, token)
            cpu = CpuMeter({**groups, "stream clients": [clients.pid]}).start()
            changes = _Changes(rt, wid, batches[0], CHANGE_RATE).start()
            changes.join()
            alone = _latencies(clients, changes)
            alone["cpu_seconds"] = cpu.stop()

            # 2. the API without streams (the same status changes going on)
            changes = _Changes(rt, wid, batches[1], CHANGE_RATE).start()
            cpu = CpuMeter(groups).start()
            without = _load(env, api_url, list_path, seconds=seconds, token=token, mode="rate")
            without["cpu_seconds"] = cpu.stop()
            changes.join()

            # 3. the API with 200 streams open (and events flowing to them)
            clients = _clients(env, stream_url, token)
            changes = _Changes(rt, wid, batches[2], CHANGE_RATE).start()
            cpu = CpuMeter({**groups, "stream clients": [clients.pid]}).start()
            with_streams = _load(env, api_url, list_path, seconds=seconds, token=token, mode="rate")
            with_streams["cpu_seconds"] = cpu.stop()
            changes.join()
            under_load = _latencies(clients, changes)
            rss = {"events server peak RSS (MB)": round((rss_peak_kb(ev.pid) or 0) / 1024, 1)}
        finally:
            env.stop([api, ev])
        return {
            "streams": STREAMS, "change_rate": CHANGE_RATE, "seconds": seconds, "gunicorn_workers": GUNICORN_WORKERS,
            "loadavg_at_start": load_at_start,
            "server": f"gunicorn, {GUNICORN_WORKERS} sync workers (API); clientnest events, one asyncio process "
                      "(streams); Redis pub/sub between them and the engine",
            "latency_streams_only": alone, "latency_with_api_load": under_load,
            "list_200rps_without_streams": without, "list_200rps_with_streams": with_streams,
            "memory": rss,
        }
    finally:
        rt.close()
