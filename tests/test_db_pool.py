"""Pooled PostgreSQL connections: a connection that died while idle in the
pool is replaced before use; a busy process does not ping on every checkout."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, text

from clientnest import db as dbmod
from clientnest.db import Database


@pytest.fixture
def pg(database_url: str) -> Any:
    if not database_url.startswith("postgresql"):
        pytest.skip("pooling checks need PostgreSQL (CLIENTNEST_TEST_DATABASE_URL)")
    d = Database(database_url, pool_size=1)
    statements: list[str] = []
    event.listen(d.engine, "before_cursor_execute",
                 lambda _c, _cur, stmt, *_a: statements.append(stmt))
    yield d, statements
    d.dispose()


def _backend_pid(d: Database) -> int:
    with d.engine.connect() as c:
        return int(c.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _kill(database_url: str, pid: int) -> None:
    other = Database(database_url, pool_size=1)
    with other.engine.begin() as c:
        assert c.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one() is True
    other.dispose()


def test_connection_killed_while_idle_is_replaced(pg: Any, database_url: str, monkeypatch: Any) -> None:
    d, _ = pg
    first = _backend_pid(d)
    _kill(database_url, first)
    # idle for "long enough": the checkout pings, finds it dead, reconnects
    for record in list(d.engine.pool._pool.queue):  # type: ignore[attr-defined]
        record.info["idle_since"] -= dbmod.PING_AFTER_IDLE_SECONDS + 1
    second = _backend_pid(d)
    assert second != first


def _count_pings(d: Database, monkeypatch: Any) -> list[int]:
    pings: list[int] = []
    real = d.engine.dialect.do_ping

    def counting(conn: Any) -> bool:
        pings.append(1)
        return real(conn)

    monkeypatch.setattr(d.engine.dialect, "do_ping", counting)
    return pings


def test_busy_connection_is_not_pinged(pg: Any, monkeypatch: Any) -> None:
    d, statements = pg
    pings = _count_pings(d, monkeypatch)
    _backend_pid(d)
    statements.clear()
    for _ in range(5):
        with d.engine.connect() as c:
            c.execute(text("SELECT 1 AS busy"))
    # five checkouts in quick succession: five statements, no pings
    assert statements == ["SELECT 1 AS busy"] * 5
    assert pings == []


def test_idle_connection_is_pinged_once(pg: Any, monkeypatch: Any) -> None:
    d, _ = pg
    pings = _count_pings(d, monkeypatch)
    _backend_pid(d)
    for record in list(d.engine.pool._pool.queue):  # type: ignore[attr-defined]
        record.info["idle_since"] -= dbmod.PING_AFTER_IDLE_SECONDS + 1
    _backend_pid(d)
    _backend_pid(d)
    assert pings == [1]
