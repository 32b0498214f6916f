"""/api/v1 ai routes (not built yet)."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("ai", __name__, url_prefix="/api/v1")
