"""Analytics fixtures: a runtime with a metered connector (account figures
answered from a script, no network), and helpers that write accounts and
published posts straight into the database."""
from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import text

from clientnest import Account, AccountMetrics, Capability, Credentials, PlatformRules, SocialConnector, hookimpl
from clientnest.db import Base
from clientnest.models import Media, Post, PostMedia, PostStatus, PostTarget, SocialAccount, TargetStatus, Workspace
from clientnest.runtime import Runtime, build_runtime, set_current
from clientnest.settings import load_settings

from ..conftest import TEST_KEY


class MeterConnector(SocialConnector):
    """Answers ``fetch_account_metrics`` from :attr:`script` (an exception is raised)."""

    name = "meter"
    version = "1.0"
    capabilities = frozenset({Capability.ACCOUNT_METRICS})
    rules = PlatformRules(max_length=100)
    script: deque[Any] = deque()
    calls: list[str] = []

    def fetch_account_metrics(self, account: Account) -> AccountMetrics:
        MeterConnector.calls.append(account.external_id)
        answer = MeterConnector.script.popleft()
        if isinstance(answer, Exception):
            raise answer
        return answer


class MeterPlugin:
    @hookimpl
    def clientnest_register_connectors(self) -> list[type[SocialConnector]]:
        return [MeterConnector]


@pytest.fixture
def runtime(database_url: str, tmp_path: Any) -> Iterator[Runtime]:
    MeterConnector.script.clear()
    MeterConnector.calls.clear()
    rt = build_runtime(load_settings({
        "database_url": database_url, "data_dir": str(tmp_path / "var"), "fernet_keys": TEST_KEY,
        "embedded_dispatcher": False, "public_url": "http://testserver", "login_rate_limit": 1000,
        "followup_max_attempts": 3, "retry_base_seconds": 0.05, "retry_max_seconds": 0.5,
        "requeue_grace_seconds": 0.0,
    }), extra_plugins=[("meter", MeterPlugin())])
    set_current(rt)
    yield rt
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with rt.db.engine.begin() as conn:
        if rt.db.dialect == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for t in tables:
                conn.execute(text(f'DELETE FROM "{t}"'))
    rt.close()
    set_current(None)


class Seed:
    """Writes rows the way the engine leaves them."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._n = 0

    def workspace(self, tz: str = "UTC") -> int:
        with self.rt.db.transaction() as s:
            ws = Workspace(name="Analytics WS", timezone=tz)
            s.add(ws)
            s.flush()
            return ws.id

    def account(self, wid: int, platform: str = "twitter", status: str = "connected") -> int:
        self._n += 1
        with self.rt.db.transaction() as s:
            a = SocialAccount(workspace_id=wid, platform=platform, external_id=f"ext-{self._n}",
                              display_name=f"acct {self._n}", status=status,
                              credentials_encrypted=self.rt.vault.encrypt(Credentials("tok").to_json()))
            s.add(a)
            s.flush()
            return a.id

    def post(self, wid: int, account_id: int, published_at: datetime, *, text: str = "hello", media: str = "none",
             platform: str | None = None) -> int:
        """A published target; returns its id."""
        with self.rt.db.transaction() as s:
            if platform is None:
                platform = s.get(SocialAccount, account_id).platform
            p = Post(workspace_id=wid, text=text, status=PostStatus.PUBLISHED, scheduled_at=published_at)
            s.add(p)
            s.flush()
            if media != "none":
                self._n += 1
                m = Media(workspace_id=wid, storage_key=f"k{self._n}", kind=media, content_type="image/png", size=1,
                          sha256="0" * 64)
                s.add(m)
                s.flush()
                s.add(PostMedia(post_id=p.id, media_id=m.id))
            t = PostTarget(post_id=p.id, workspace_id=wid, account_id=account_id, platform=platform,
                           status=TargetStatus.PUBLISHED, scheduled_at=published_at, published_at=published_at,
                           external_id=f"x{p.id}", external_url=f"https://example.invalid/{p.id}")
            s.add(t)
            s.flush()
            return t.id


@pytest.fixture
def seed(runtime: Runtime) -> Seed:
    return Seed(runtime)
