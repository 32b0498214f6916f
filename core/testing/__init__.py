"""Testing helpers for ClientNest and its plugins.

``clientnest.testing.server.serve`` runs a WSGI app (a sandbox, a fake
platform) on a local port in a thread. The connector conformance kit lives
here too.
"""
from __future__ import annotations
