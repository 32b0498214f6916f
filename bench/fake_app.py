"""The fake platform as a WSGI app for gunicorn (one process, threads): it
keeps its posts in memory, so it must run as a single worker process. Served
by gunicorn's gthread worker, it keeps connections alive like a real API."""
from __future__ import annotations

from clientnest.testing.fake_platform import FakePlatform

app = FakePlatform(token_ttl=30 * 86400)
