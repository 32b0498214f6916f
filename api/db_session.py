"""One database connection per request, closed when the request ends.

:func:`connection` is that connection, for Core statements (authentication,
lists: no ORM objects to build). :func:`session` is an ORM session on the
same connection, created only by routes that need one; it controls the
connection's transaction fully (its commit commits, its close rolls back).

On PostgreSQL the connection starts in autocommit: a read-only request (the
token check, a list) then costs one round trip per statement, not a
``BEGIN`` and a ``ROLLBACK`` more. :func:`session` turns autocommit off
before its first statement, so every write goes through a real transaction;
the connection goes back to the pool with autocommit off.
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
        _autocommit(conn, True)
    return conn


def session() -> Session:
    s = g.get("_db_session")
    if s is None:
        conn = connection()
        _autocommit(conn, False)  # the session's writes commit (or roll back) together
        s = g._db_session = runtime().db.Session(bind=conn, join_transaction_mode="control_fully")
    return s


def _autocommit(conn: Connection, on: bool) -> None:
    """Switch psycopg's autocommit (a client-side flag: no round trip). Only
    between transactions, where a request's Core statements leave it."""
    if conn.dialect.name == "postgresql":
        raw = conn.connection.dbapi_connection
        if raw is not None and raw.autocommit != on:
            raw.autocommit = on


def _close(_exc: BaseException | None) -> None:
    s = g.pop("_db_session", None)
    if s is not None:
        s.close()
    conn = g.pop("_db_connection", None)
    if conn is not None:
        try:
            conn.rollback()  # nothing is left open when autocommit goes off
            _autocommit(conn, False)
        finally:
            conn.close()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(_close)
