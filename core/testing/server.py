"""Serve a WSGI app on 127.0.0.1 in a background thread (tests, sandboxes)."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.serving import make_server

__all__ = ["serve", "ServerThread"]


class ServerThread:
    """A threaded werkzeug server; ``url`` is its base URL."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = make_server(host, port, app, threaded=True)
        self.port = self._server.server_port
        self.url = f"http://{host}:{self.port}"
        # a short poll interval: shutdown() waits up to one interval, and
        # suites start and stop hundreds of these servers
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"wsgi:{self.port}", daemon=True
        )

    def start(self) -> ServerThread:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@contextmanager
def serve(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run ``app`` until the block ends; yields its base URL."""
    srv = ServerThread(app, host, port).start()
    try:
        yield srv.url
    finally:
        srv.stop()
