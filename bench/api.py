"""Benchmark 1: the REST API under gunicorn, load from a separate process.

Authenticated ``GET .../posts?limit=50`` and ``POST .../posts`` beside the
trivial ``GET /healthz`` of the same server in the same run: maximum
throughput (closed loop) and latency at a fixed 200 requests per second.
``GET /api/v1/me`` (closed loop) shows what authentication alone costs.
"""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import timedelta
from typing import Any

import httpx

from clientnest.db import utcnow
from clientnest.models import SocialAccount

from .cpu import CpuMeter
from .env import ROOT, BenchEnv, with_children
from .pipeline import seed_targets

__all__ = ["run", "GUNICORN_WORKERS", "GUNICORN_THREADS", "CONCURRENCY"]

GUNICORN_WORKERS = 4
GUNICORN_THREADS = 1
CONCURRENCY = 8
SEED_POSTS = 1000


def _load(env: BenchEnv, url: str, path: str, *, seconds: float, token: str | None = None, method: str = "GET",
          body: str | None = None, mode: str = "closed", rate: float = 200) -> dict[str, Any]:
    args = [sys.executable, "-m", "bench.loadgen", "--url", url, "--path", path, "--method", method,
            "--mode", mode, "--seconds", str(seconds), "--concurrency", str(CONCURRENCY), "--rate", str(rate)]
    if token:
        args += ["--token", token]
    if body:
        args += ["--body", body]
    out = subprocess.run(args, cwd=ROOT, env=env.env(), capture_output=True, text=True, timeout=seconds + 120)
    if out.returncode != 0:
        raise RuntimeError(f"load generator failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


#: frames whose cumulative time the in-process profile reports, by (file suffix, function)
_FRAMES = {
    "whole request (Flask wsgi_app)": ("flask/app.py", "wsgi_app"),
    "authentication (api/security.py _authenticate)": ("api/security.py", "_authenticate"),
    "workspace access check (api/security.py workspace_access)": ("api/security.py", "workspace_access"),
    "posts query (services/posts.py list_posts)": ("core/services/posts.py", "list_posts"),
    "serialisation (api/posts/schemas.py post_json)": ("api/posts/schemas.py", "post_json"),
    "SQL execution (SQLAlchemy Connection._execute_context)": ("sqlalchemy/engine/base.py", "_execute_context"),
}


def _profile(rt: Any, path: str, token: str, n: int = 200) -> dict[str, Any]:
    """Where one list request's time goes: the same app in this process
    (Flask test client), cProfile over ``n`` requests."""
    import cProfile
    import pstats
    import time

    from clientnest.api import create_app

    client = create_app(runtime=rt).test_client()
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(20):
        assert client.get(path, headers=headers).status_code == 200
    t = time.process_time()
    for _ in range(n):
        client.get(path, headers=headers)
    cpu_ms = (time.process_time() - t) / n * 1000
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        client.get(path, headers=headers)
    prof.disable()
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    out: dict[str, Any] = {}
    for label, (suffix, fn) in _FRAMES.items():
        calls = cum = 0.0
        for (file, _line, name), (_cc, nc, _tt, ct, _callers) in stats.items():
            if name == fn and file.replace("\\", "/").endswith(suffix):
                calls += nc
                cum += ct
        out[label] = {"calls_per_request": round(calls / n, 2), "profiled_ms_per_request": round(cum / n * 1000, 2)}
    return {"requests": n, "cpu_ms_per_request_unprofiled": round(cpu_ms, 2), "frames": out}


def _phases(env: BenchEnv, url: str, workers: list[int], seconds: float,
            plan: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Run each load phase of ``plan`` in turn, with the server's CPU time."""
    out: dict[str, Any] = {}
    for name, kw in plan.items():
        cpu = CpuMeter({"gunicorn workers": workers}).start()
        out[name] = _load(env, url, seconds=seconds, **kw)
        out[name]["cpu_seconds"] = cpu.stop()
    return out


def run(env: BenchEnv, seconds: float = 10.0) -> dict[str, Any]:
    rt = env.runtime()
    try:
        env.truncate(rt)
        proc, url = env.start_gunicorn(GUNICORN_WORKERS, GUNICORN_THREADS)
        try:
            login = {"email": f"bench-{uuid.uuid4().hex[:8]}@example.com", "password": "bench horse battery staple"}
            httpx.post(f"{url}/api/v1/auth/register", json={**login, "workspace_name": "API bench"},
                       timeout=30).raise_for_status()
            issued = httpx.post(f"{url}/api/v1/auth/tokens", json={**login, "label": "bench"}, timeout=30)
            issued.raise_for_status()
            token = issued.json()["token"]
            wid = httpx.get(f"{url}/api/v1/me", headers={"Authorization": f"Bearer {token}"},
                            timeout=30).json()["workspaces"][0]["id"]
            creds = httpx.post(f"{env.fake_url}/_fake/accounts", json={"external_id": "api-bench"}, timeout=10).json()
            with rt.db.transaction() as s:
                acct = SocialAccount(workspace_id=wid, platform="fake", external_id="api-bench",
                                     display_name="API bench", credentials_encrypted=rt.vault.encrypt(creds),
                                     token_expires_at=None)
                s.add(acct)
                s.flush()
                aid = acct.id
            later = utcnow() + timedelta(days=30)
            seed_targets(rt, wid, [aid], SEED_POSTS, later)
            posts_path = f"/api/v1/workspaces/{wid}/posts"
            list_path = f"{posts_path}?limit=50"
            check = httpx.get(f"{url}{list_path}", headers={"Authorization": f"Bearer {token}"}, timeout=30)
            check.raise_for_status()
            assert len(check.json()["items"]) == 50, check.text[:300]
            body = json.dumps({"text": "API bench post {n}", "account_ids": [aid],
                               "scheduled_at": later.isoformat()})
            warm = min(3.0, seconds)
            for path, method, b in ((list_path, "GET", None), (posts_path, "POST", body), ("/healthz", "GET", None),
                                    ("/api/v1/me", "GET", None)):
                _load(env, url, path, seconds=warm, token=token, method=method, body=b)
            workers = with_children(proc.pid)
            phases = _phases(env, url, workers, seconds, {
                "trivial_closed": {"path": "/healthz"},
                "auth_closed": {"path": "/api/v1/me", "token": token},
                "list_closed": {"path": list_path, "token": token},
                "create_closed": {"path": posts_path, "token": token, "method": "POST", "body": body},
                "trivial_200rps": {"path": "/healthz", "mode": "rate"},
                "list_200rps": {"path": list_path, "token": token, "mode": "rate"},
                "create_200rps": {"path": posts_path, "token": token, "method": "POST", "body": body, "mode": "rate"},
            })
        finally:
            env.stop([proc])
        # the same list with the page cache off: what every miss costs
        proc, url = env.start_gunicorn(GUNICORN_WORKERS, GUNICORN_THREADS, CLIENTNEST_POSTS_LIST_CACHE_SECONDS="0")
        try:
            _load(env, url, list_path, seconds=warm, token=token)
            phases.update(_phases(env, url, with_children(proc.pid), seconds, {
                "list_uncached_closed": {"path": list_path, "token": token},
                "list_uncached_200rps": {"path": list_path, "token": token, "mode": "rate"},
            }))
        finally:
            env.stop([proc])
        uncached = env.runtime(posts_list_cache_seconds=0)
        try:
            profiles = {"cached": _profile(rt, list_path, token), "uncached": _profile(uncached, list_path, token)}
        finally:
            uncached.close()
        return {
            "profile_list": profiles,
            "server": f"gunicorn {GUNICORN_WORKERS} workers x {GUNICORN_THREADS} threads (gthread)",
            "load": f"python -m bench.loadgen, {CONCURRENCY} keep-alive connections (closed loop); "
                    "fixed 200 req/s with latency from each request's due time (rate)",
            "seeded_posts": SEED_POSTS,
            "phases": phases,
            "list_vs_trivial_throughput": round(phases["list_closed"]["rps"] / phases["trivial_closed"]["rps"], 3),
            "list_uncached_vs_trivial_throughput": round(
                phases["list_uncached_closed"]["rps"] / phases["trivial_closed"]["rps"], 3),
        }
    finally:
        rt.close()
