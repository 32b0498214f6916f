"""The Facebook sandbox: Graph API endpoints, Facebook Login and fault
injection, in memory. See :mod:`.app` for what it answers."""
from __future__ import annotations

from .app import SANDBOX_APP_ID, SANDBOX_APP_SECRET, SANDBOX_VERIFY_TOKEN, FacebookSandbox
from .state import SANDBOX_PAGES, SANDBOX_USER

__all__ = [
    "FacebookSandbox",
    "SANDBOX_APP_ID",
    "SANDBOX_APP_SECRET",
    "SANDBOX_VERIFY_TOKEN",
    "SANDBOX_PAGES",
    "SANDBOX_USER",
]
