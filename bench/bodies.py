"""Benchmark 5 (issue 9): large request bodies do not grow the server.

A real server process (gunicorn, one gthread worker with 20 threads, so all
20 requests of a round land in one process: the worst case for its memory)
gets 20 concurrent 100 MB bodies to each kind of route, one kind after the
other:

* JSON, declared length: ``POST /api/v1/auth/tokens`` (no login needed);
* JSON, chunked (no length): the same route, the body cut off at the limit;
* media upload: ``POST .../media``, a multipart 100 MB MP4, accepted and
  stored (streamed to a temporary file, hashed, copied into storage);
* webhook: ``POST /api/v1/webhooks/instagram``.

The worker's peak resident set (``VmHWM`` in /proc) is read after a warm-up
and after each round; the target is less than 50 MB of growth per kind of
route. The whole run is made twice: with glibc's default allocator settings
and with ``MALLOC_ARENA_MAX=2``, which shows how much of the growth is glibc
giving each of the 20 threads its own heap (arena) rather than the app. Bodies are
sent from raw sockets in this process, a megabyte at a time, and sending
stops as soon as the server answers (a refused body is never read, so the
client must not insist on writing it).
"""
from __future__ import annotations

import json
import select
import socket
import threading
import time
import uuid
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import httpx

from clientnest.settings import Settings

from .env import BenchEnv, rss_peak_kb, with_children

__all__ = ["run", "CONCURRENCY", "BODY_MB", "TARGET_MB"]

CONCURRENCY = 20
BODY_MB = 100
TARGET_MB = 50
THREADS = 20
_MiB = 1024 * 1024
_CHUNK = bytes(_MiB)


def _send(url: str, path: str, headers: dict[str, str], prefix: bytes, size: int, suffix: bytes,
          chunked: bool) -> dict[str, Any]:
    """One request with a ``size``-byte body (``prefix`` + zeros + ``suffix``);
    stops writing when the server answers. Returns status and bytes sent."""
    parts = urlsplit(url)
    started = time.monotonic()
    sock = socket.create_connection((parts.hostname, parts.port), timeout=120)
    head = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}")
    sent = 0
    answered_early = False
    try:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        middle = size - len(prefix) - len(suffix)
        pieces = [prefix, *([_CHUNK] * (middle // _MiB)), bytes(middle % _MiB), suffix]
        for piece in pieces:
            if not piece:
                continue
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:  # the server answered (413) before the body was sent: stop
                answered_early = True
                break
            data = f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece
            try:
                sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                answered_early = True
                break
            sent += len(piece)
        if chunked and not answered_early:
            sock.sendall(b"0\r\n\r\n")
        reply = b""
        try:
            while got := sock.recv(65536):
                reply += got
        except ConnectionResetError:
            pass  # the server closed with our unsent body pending: what arrived first still counts
        status = int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/") else "reset, no answer"
    except OSError as exc:
        return {"status": f"error {type(exc).__name__}", "sent": sent, "seconds": time.monotonic() - started,
                "early": answered_early}
    finally:
        sock.close()
    body = reply.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in reply else b""
    return {"status": status, "sent": sent, "seconds": time.monotonic() - started, "early": answered_early,
            "body": body[:300].decode("latin-1")}


def _round(url: str, path: str, headers: dict[str, str], prefix: bytes, suffix: bytes,
           chunked: bool = False) -> list[dict[str, Any]]:
    size = BODY_MB * 1000 * 1000
    results: list[dict[str, Any]] = [{} for _ in range(CONCURRENCY)]

    def one(i: int) -> None:
        results[i] = _send(url, path, headers, prefix, size, suffix, chunked)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(CONCURRENCY)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    return results


def _worker_peak_mb(master: int) -> float:
    pids = with_children(master)[1:] or [master]
    return max((rss_peak_kb(p) or 0) for p in pids) / 1024


def _multipart(boundary: str) -> tuple[bytes, bytes]:
    """Around a file whose first bytes are an MP4 ``ftyp`` box (the rest zeros)."""
    ftyp = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
    prefix = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.mp4\"\r\n"
              "Content-Type: video/mp4\r\n\r\n").encode() + ftyp
    return prefix, f"\r\n--{boundary}--\r\n".encode()


def run(env: BenchEnv) -> dict[str, Any]:
    configs = {"glibc defaults": {}, "MALLOC_ARENA_MAX=2": {"MALLOC_ARENA_MAX": "2"}}
    measured = {name: _run_one(env, extra) for name, extra in configs.items()}
    first = next(iter(measured.values()))
    return {
        "server": f"gunicorn, 1 gthread worker x {THREADS} threads (PostgreSQL, Redis on loopback)",
        "concurrency": CONCURRENCY,
        "body_mb": BODY_MB,
        "limits": first.pop("limits"),
        "target_mb": TARGET_MB,
        "configs": measured,
    }


def _run_one(env: BenchEnv, extra_env: dict[str, str]) -> dict[str, Any]:
    proc, url = env.start_gunicorn(1, THREADS, **extra_env)
    try:
        http = httpx.Client(base_url=url, timeout=60)
        reg = http.post("/api/v1/auth/register", json={
            "email": f"bodies-{uuid.uuid4().hex[:8]}@example.com", "password": "correct horse battery",
            "workspace_name": "Bodies"}).json()
        token, wid = reg["token"], reg["workspace"]["id"]
        auth = {"Authorization": f"Bearer {token}"}
        boundary = uuid.uuid4().hex
        upload_prefix, upload_suffix = _multipart(boundary)

        # warm-up: 20 small requests of each kind at once, so imports, pools and
        # each of the 20 threads' allocator arenas are in place before measuring
        def warm(_: int) -> None:
            with httpx.Client(base_url=url, timeout=60) as c:
                c.post("/api/v1/auth/tokens", json={"email": "nobody@example.com", "password": "x" * 20})
                c.post("/api/v1/webhooks/instagram", content=b"{}", headers={"Content-Type": "application/json"})
                small = c.post(f"/api/v1/workspaces/{wid}/media", headers=auth,
                               files={"file": ("s.mp4", upload_prefix[-24:] + bytes(4096), "video/mp4")})
                assert small.status_code == 201, small.text

        warmers = [threading.Thread(target=warm, args=(i,)) for i in range(CONCURRENCY)]
        for t in warmers:
            t.start()
        for t in warmers:
            t.join(120)
        baseline = _worker_peak_mb(proc.pid)

        json_headers = {"Content-Type": "application/json"}
        kinds: list[tuple[str, str, dict[str, str], bytes, bytes, bool]] = [
            ("JSON, declared length", "/api/v1/auth/tokens", json_headers, b'{"email": "', b'"}', False),
            ("JSON, chunked", "/api/v1/auth/tokens", json_headers, b'{"email": "', b'"}', True),
            ("webhook", "/api/v1/webhooks/instagram",
             {**json_headers, "X-Hub-Signature-256": "sha256=" + "0" * 64}, b'{"entry": "', b'"}', False),
            ("media upload", f"/api/v1/workspaces/{wid}/media",
             {**auth, "Content-Type": f"multipart/form-data; boundary={boundary}"}, upload_prefix, upload_suffix,
             False),
        ]
        rounds: dict[str, Any] = {}
        before = baseline
        for name, path, headers, prefix, suffix, chunked in kinds:
            started = time.monotonic()
            res = _round(url, path, headers, prefix, suffix, chunked)
            seconds = time.monotonic() - started
            after = _worker_peak_mb(proc.pid)
            rounds[name] = {
                "path": path.replace(f"/workspaces/{wid}/", "/workspaces/{wid}/"),
                "statuses": dict(Counter(str(r.get("status")) for r in res)),
                "answered_before_body_sent": sum(1 for r in res if r.get("early")),
                "mb_sent_total": round(sum(r.get("sent", 0) for r in res) / 1e6, 1),
                "seconds": round(seconds, 2),
                "peak_rss_before_mb": round(before, 1),
                "peak_rss_after_mb": round(after, 1),
                "peak_rss_growth_mb": round(after - before, 1),
                "sample_answer": next((r.get("body", "") for r in res if r.get("body")), ""),
            }
            before = after
        # the uploads were stored: remove them again
        for row in http.get(f"/api/v1/workspaces/{wid}/media", headers=auth, params={"limit": 200}).json():
            http.delete(f"/api/v1/workspaces/{wid}/media/{row['id']}", headers=auth)
        final = _worker_peak_mb(proc.pid)
        return {
            "limits": {k: getattr(Settings, k) for k in ("json_max_bytes", "webhook_max_bytes", "media_max_bytes")},
            "baseline_peak_rss_mb": round(baseline, 1),
            "final_peak_rss_mb": round(final, 1),
            "peak_rss_growth_mb": round(final - baseline, 1),
            "max_round_growth_mb": max(r["peak_rss_growth_mb"] for r in rounds.values()),
            "rounds": rounds,
        }
    finally:
        env.stop([proc])


if __name__ == "__main__":  # a quick look without bench.run: python -m bench.bodies
    import os

    e = BenchEnv.create(os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
                        os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"))
    try:
        print(json.dumps(run(e), indent=2))
    finally:
        e.close()
