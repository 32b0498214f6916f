"""/api/v1 media routes (not built yet)."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("media", __name__, url_prefix="/api/v1")
