"""/api/v1 posts routes (not built yet)."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("posts", __name__, url_prefix="/api/v1")
