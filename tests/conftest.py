"""Shared fixtures: a migrated database (SQLite by default, PostgreSQL when
``CLIENTNEST_TEST_DATABASE_URL`` is set), a runtime, the app and its client.

On PostgreSQL each pytest run creates its own database next to the one named
(so parallel runs never collide) and drops it at the end. The schema is built
by running the Alembic migrations, never by ``create_all``.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from clientnest.db import Base
from clientnest.migrate import upgrade
from clientnest.runtime import Runtime, build_runtime, set_current
from clientnest.settings import Settings, load_settings

TEST_KEY = Fernet.generate_key().decode()


def _pg_url(raw: str) -> str:
    return Settings(database_url=raw).resolved_database_url()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    raw = os.environ.get("CLIENTNEST_TEST_DATABASE_URL")
    if not raw:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        upgrade(url)
        yield url
        return
    base = make_url(_pg_url(raw))
    name = f"cn_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
            ), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def _wipe(rt: Runtime) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with rt.db.engine.begin() as conn:
        if rt.db.dialect == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for t in tables:
                conn.execute(text(f'DELETE FROM "{t}"'))


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change settings for its runtime."""
    return {}


@pytest.fixture
def runtime(database_url: str, tmp_path: Any, settings_overrides: dict[str, Any]) -> Iterator[Runtime]:
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": str(tmp_path / "var"),
        "fernet_keys": TEST_KEY,
        "embedded_dispatcher": False,
        "public_url": "http://testserver",
        # high enough that tests registering many users (or sharing a Redis
        # across tests) never trip the login limiter; its own tests lower it
        "login_rate_limit": 1000,
        "login_address_rate_limit": 1000,
        "member_add_rate_limit": 1000,
    }
    values.update(settings_overrides)
    rt = build_runtime(load_settings(values))
    yield rt
    _wipe(rt)
    rt.close()
    set_current(None)


@pytest.fixture
def app(runtime: Runtime) -> Any:
    from clientnest.api import create_app

    app = create_app(runtime=runtime)
    app.testing = True
    return app


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@dataclass
class Member:
    """A registered user with a token and the workspace made at registration."""

    user_id: int
    email: str
    password: str
    token: str
    workspace_id: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def register(client: Any) -> Callable[..., Member]:
    """``register(email=None, workspace_name="WS")`` -> :class:`Member`."""
    counter = iter(range(1, 10_000))

    def _register(email: str | None = None, workspace_name: str = "Acme", password: str = "correct horse battery") -> Member:
        email = email or f"user{next(counter)}-{uuid.uuid4().hex[:6]}@example.com"
        r = client.post("/api/v1/auth/register", json={
            "email": email, "password": password, "workspace_name": workspace_name,
        })
        assert r.status_code == 202, r.get_json()
        # registration answers the same for new and taken emails: sign in for a token
        r = client.post("/api/v1/auth/tokens", json={"email": email, "password": password, "label": "tests"})
        assert r.status_code == 201, r.get_json()
        token = r.get_json()["token"]
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).get_json()
        return Member(me["user"]["id"], email, password, token, me["workspaces"][0]["id"])

    return _register
