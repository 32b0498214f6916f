"""Serve the fake platform in its own process: ``python -m bench.fake_server``.

Prints ``READY <url>`` on stdout once it listens; stops on SIGTERM.
"""
from __future__ import annotations

import logging
import signal
import sys
import threading

from clientnest.testing.fake_platform import FakePlatform
from clientnest.testing.server import ServerThread


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    srv = ServerThread(FakePlatform(token_ttl=30 * 86400)).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"READY {srv.url}", flush=True)
    stop.wait()
    srv.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
