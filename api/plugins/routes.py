"""/api/v1 plugins routes (not built yet)."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("plugins", __name__, url_prefix="/api/v1")
