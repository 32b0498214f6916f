"""/api/v1 inbox routes (not built yet)."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("inbox", __name__, url_prefix="/api/v1")
