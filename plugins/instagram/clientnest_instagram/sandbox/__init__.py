"""The Instagram sandbox: Instagram Graph endpoints, Facebook Login and fault
injection, in memory. See :mod:`.app` for what it answers."""
from __future__ import annotations

from .app import SANDBOX_APP_ID, SANDBOX_APP_SECRET, SANDBOX_VERIFY_TOKEN, InstagramSandbox
from .state import SANDBOX_IG_USERS, SANDBOX_PAGES, SANDBOX_USER

__all__ = [
    "InstagramSandbox",
    "SANDBOX_APP_ID",
    "SANDBOX_APP_SECRET",
    "SANDBOX_VERIFY_TOKEN",
    "SANDBOX_IG_USERS",
    "SANDBOX_PAGES",
    "SANDBOX_USER",
]
