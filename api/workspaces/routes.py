"""/api/v1 workspaces routes (not built yet)."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("workspaces", __name__, url_prefix="/api/v1")
