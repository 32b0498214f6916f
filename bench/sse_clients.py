"""Open event streams, run as its own process: ``python -m bench.sse_clients``.

``--streams`` Server-Sent Events connections (asyncio, aiohttp's client) to
one URL, like that many open dashboards. Prints ``READY <n>`` once every
stream has its ``: connected`` line, then, when its standard input closes
(or after ``--seconds`` at most), one JSON line: every ``target`` event each stream received, as ``[target_id,
status, wall-clock time received]`` (the benchmark knows when it made each
change, on the same machine's clock).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from typing import Any

import aiohttp


async def _one(session: aiohttp.ClientSession, url: str, headers: dict[str, str], ready: asyncio.Queue[int],
               out: list[list[Any]], errors: list[str]) -> None:
    try:
        async with session.get(url, headers=headers) as resp:
            if resp.status != 200:
                errors.append(f"HTTP {resp.status}")
                await ready.put(0)
                return
            kind = None
            told = False
            async for raw in resp.content:
                line = raw.decode().rstrip("\n")
                if not told and line == ": connected":
                    told = True
                    await ready.put(1)
                elif line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "target":
                    got = time.time()
                    data = json.loads(line[6:])
                    out.append([data["target_id"], data["status"], got])
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        errors.append(type(exc).__name__)
        await ready.put(0)


async def main_async(a: argparse.Namespace) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {a.token}", "Accept": "text/event-stream"}
    received: list[list[Any]] = []
    errors: list[str] = []
    ready: asyncio.Queue[int] = asyncio.Queue()
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None, connect=30)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:
        tasks = [asyncio.create_task(_one(session, a.url, headers, ready, received, errors)) for _ in range(a.streams)]
        connected = 0
        for _ in range(a.streams):
            connected += await ready.get()
        print(f"READY {connected}", flush=True)
        # until the benchmark closes our stdin (it has made its changes and waited for them)
        loop = asyncio.get_running_loop()
        closed = loop.run_in_executor(None, sys.stdin.read)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(closed, timeout=a.seconds)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {"streams": a.streams, "connected": connected, "errors": errors, "received": received}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--streams", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=600, help="at most this long")
    a = ap.parse_args()
    result = asyncio.run(main_async(a))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
