"""/api/v1 accounts routes (not built yet)."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("accounts", __name__, url_prefix="/api/v1")
