"""One database connection per request, closed when the request ends.

:func:`connection` is that connection, for Core statements (authentication,
lists: no ORM objects to build). :func:`session` is an ORM session on the
same connection, created only by routes that need one; it controls the
connection's transaction fully (its commit commits, its close rolls back).
"""
from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from clientnest.runtime import Runtime

__all__ = ["init_app", "connection", "session", "runtime"]


def runtime() -> Runtime:
    return current_app.extensions["clientnest"]


def connection() -> Connection:
    conn = g.get("_db_connection")
    if conn is None:
        conn = g._db_connection = runtime().db.engine.connect()
    return conn


def session() -> Session:
    s = g.get("_db_session")
    if s is None:
        s = g._db_session = runtime().db.Session(bind=connection(), join_transaction_mode="control_fully")
    return s


def _close(_exc: BaseException | None) -> None:
    s = g.pop("_db_session", None)
    if s is not None:
        s.close()
    conn = g.pop("_db_connection", None)
    if conn is not None:
        conn.close()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(_close)
