"""/api/v1 auth routes (not built yet)."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("auth", __name__, url_prefix="/api/v1")
