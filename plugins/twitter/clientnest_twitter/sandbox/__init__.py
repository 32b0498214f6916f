"""An in-memory X (Twitter) API v2 for tests and the embedded mode.

``TwitterSandbox()`` is a WSGI app: see :mod:`.app` for the endpoints and
:mod:`clientnest.testing.faults` for the control routes it shares with every
ClientNest sandbox.
"""
from __future__ import annotations

from .app import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, TwitterSandbox

__all__ = ["TwitterSandbox", "SANDBOX_CLIENT_ID", "SANDBOX_CLIENT_SECRET"]
