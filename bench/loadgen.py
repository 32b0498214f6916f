"""HTTP load generator, run as its own process: ``python -m bench.loadgen``.

Two modes:

* ``closed``: ``--concurrency`` threads, each sending its next request when
  the previous one is answered (maximum throughput);
* ``rate``: requests start at a fixed ``--rate`` per second; latency is
  measured from the moment each request was *due*, so a slow server cannot
  hide its queueing (no coordinated omission).

Keep-alive connections (``http.client``), one per thread. Prints one JSON
object: requests, errors, achieved rate and latency percentiles in ms.
"""
from __future__ import annotations

import argparse
import http.client
import json
import threading
import time
from urllib.parse import urlsplit


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--path", required=True)
    ap.add_argument("--method", default="GET")
    ap.add_argument("--token")
    ap.add_argument("--body", help="JSON body; {n} is replaced by a request counter")
    ap.add_argument("--mode", choices=["closed", "rate"], default="closed")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--seconds", type=float, default=10)
    a = ap.parse_args()

    parts = urlsplit(a.url)
    headers = {"Accept": "application/json"}
    if a.token:
        headers["Authorization"] = f"Bearer {a.token}"
    if a.body:
        headers["Content-Type"] = "application/json"
    lock = threading.Lock()
    counter = [0]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = [0]
    threads = a.concurrency if a.mode == "closed" else max(a.concurrency, 32)
    start = time.perf_counter() + 0.2
    end = start + a.seconds

    def take() -> int:
        with lock:
            counter[0] += 1
            return counter[0]

    def worker() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        mine: list[float] = []
        while True:
            n = take()
            if a.mode == "rate":
                due = start + (n - 1) / a.rate
                if due >= end:
                    break
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            else:
                if time.perf_counter() >= end:
                    break
                due = time.perf_counter()
            body = a.body.replace("{n}", str(n)).encode() if a.body else None
            try:
                conn.request(a.method, a.path, body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                code = resp.status
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
                with lock:
                    errors[0] += 1
                continue
            mine.append((time.perf_counter() - due) * 1000)
            with lock:
                statuses[code] = statuses.get(code, 0) + 1
        with lock:
            latencies.extend(mine)
        conn.close()

    while time.perf_counter() < start - 0.1:
        time.sleep(0.01)
    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = max(time.perf_counter(), end) - start
    ok = sum(v for k, v in statuses.items() if 200 <= k < 300)
    print(json.dumps({
        "mode": a.mode, "method": a.method, "path": a.path.split("?")[0],
        "requests": len(latencies), "ok": ok, "errors": errors[0], "statuses": statuses,
        "seconds": round(elapsed, 2), "rps": round(ok / elapsed, 1),
        "p50_ms": round(_pct(latencies, 50), 2), "p95_ms": round(_pct(latencies, 95), 2),
        "p99_ms": round(_pct(latencies, 99), 2), "max_ms": round(max(latencies, default=float("nan")), 2),
        "mean_ms": round(sum(latencies) / len(latencies), 2) if latencies else None,
    }))


if __name__ == "__main__":
    main()
