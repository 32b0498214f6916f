"""One SQLAlchemy session per request, closed when the request ends."""
from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from clientnest.runtime import Runtime

__all__ = ["init_app", "session", "runtime"]


def runtime() -> Runtime:
    return current_app.extensions["clientnest"]


def session() -> Session:
    s = g.get("_db_session")
    if s is None:
        s = g._db_session = runtime().db.Session()
    return s


def _close(_exc: BaseException | None) -> None:
    s = g.pop("_db_session", None)
    if s is not None:
        s.close()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(_close)
