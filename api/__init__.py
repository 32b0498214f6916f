"""ClientNest's REST layer (flask-smorest). ``create_app`` is the entry point."""
from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
