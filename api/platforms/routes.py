"""/api/v1 platforms routes (not built yet)."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("platforms", __name__, url_prefix="/api/v1")
