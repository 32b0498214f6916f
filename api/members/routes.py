"""/api/v1 members routes (not built yet)."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("members", __name__, url_prefix="/api/v1")
