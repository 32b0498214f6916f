"""/api/v1 webhooks routes (not built yet)."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("webhooks", __name__, url_prefix="/api/v1")
