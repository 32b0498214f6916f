"""Liveness and readiness."""
from __future__ import annotations

from typing import Any

from sqlalchemy import text

from ..app import RETRY_AFTER
from ..db_session import runtime
from ..extensions import Blueprint
from .schemas import AliveSchema, ReadySchema

blp = Blueprint("health", __name__, description="Liveness and readiness probes")


@blp.route("/healthz")
@blp.doc(security=[])
@blp.response(200, AliveSchema)
def healthz() -> Any:
    """The process is alive."""
    return {"status": "ok"}


@blp.route("/readyz")
@blp.doc(security=[])
@blp.response(200, ReadySchema)
@blp.alt_response(503, schema=ReadySchema, description="a dependency is unreachable (the checks say which)",
                  headers={"Retry-After": {"description": "seconds to wait before asking again",
                                           "schema": {"type": "integer"}}})
def readyz() -> Any:
    """The database and the job queue are reachable (503 otherwise)."""
    rt = runtime()
    checks: dict[str, str] = {}
    try:
        with rt.db.session() as s:
            s.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # report, do not raise: this is the probe
        checks["database"] = f"error: {type(exc).__name__}"
    if rt.settings.redis_url:
        try:
            from redis import Redis

            Redis.from_url(rt.settings.redis_url, socket_timeout=2).ping()
            checks["queue"] = "ok"
        except Exception as exc:
            checks["queue"] = f"error: {type(exc).__name__}"
    else:
        checks["queue"] = "ok (in-process)"
    ready = all(v.startswith("ok") for v in checks.values())
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    return (body, 200) if ready else (body, 503, {"Retry-After": RETRY_AFTER})
