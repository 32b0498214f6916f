"""Follow-up test harness: the social fake platform over HTTP, a runtime with
its connector (``social``), the engine's plain fake connector (``fake``: no
metrics, no comments), the AI call counter and the priced AI provider.

Jobs run on the in-process runner, or through real RQ when
``CLIENTNEST_TEST_REDIS_URL`` is set (only that Redis DB is flushed).
"""
from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from clientnest.db import Base, utcnow
from clientnest.models import FollowUp, InboxComment, Workspace
from clientnest.queue import InProcessJobQueue, JobQueue, JobSpec, get_queue
from clientnest.runtime import Runtime, build_runtime, set_current
from clientnest.settings import load_settings
from clientnest.testing import fake_platform
from clientnest.testing.server import serve


def _load(name: str, path: Path) -> Any:
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[name] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    return sys.modules[name]


social = _load("clientnest_tests_social_fake", Path(__file__).with_name("social_fake.py"))

REDIS_URL = os.environ.get("CLIENTNEST_TEST_REDIS_URL", "")

BASE_SETTINGS: dict[str, Any] = {
    "publish_lease_seconds": 3,
    "retry_base_seconds": 0.05,
    "retry_max_seconds": 0.5,
    "requeue_grace_seconds": 0.3,
    "max_publish_attempts": 3,
    "followup_max_attempts": 3,
    "job_threads": 4,
}


def flush_redis() -> None:
    if REDIS_URL:
        from redis import Redis

        r = Redis.from_url(REDIS_URL)
        r.flushdb()  # only the test DB named in the URL
        r.close()


@pytest.fixture
def fake() -> Iterator[Any]:
    platform = social.SocialFakePlatform()
    with serve(platform) as url:
        platform.url = url
        yield platform


@pytest.fixture
def counter() -> Any:
    return social.AICounter()


@pytest.fixture
def followup_settings() -> dict[str, Any]:
    """Override in a test module to change the runtime's settings."""
    return {}


def _wipe(rt: Runtime) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with rt.db.engine.begin() as conn:
        if rt.db.dialect == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for t in tables:
                conn.execute(text(f'DELETE FROM "{t}"'))


def build(database_url: str, tmp_path: Any, fake: Any, counter: Any, overrides: dict[str, Any]) -> Runtime:
    from cryptography.fernet import Fernet

    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": str(tmp_path / "var"),
        "fernet_keys": Fernet.generate_key().decode(),
        "embedded_dispatcher": False,
        "public_url": "http://testserver",
        "redis_url": REDIS_URL,
        "login_rate_limit": 1000,
        "plugin_config": {"fake": {"base_url": fake.url, "timeout": 1.0},
                          "social": {"base_url": fake.url, "timeout": 1.0}},
        **BASE_SETTINGS,
    }
    overrides = dict(overrides)
    # "plugin_config_extra": more plugin sections, next to the fake platform's
    values["plugin_config"] = {**values["plugin_config"], **overrides.pop("plugin_config_extra", {})}
    values.update(overrides)
    return build_runtime(load_settings(values), extra_plugins=[
        ("fake", fake_platform.plugin), ("social", social.SocialPlugin()),
        ("aicounter", counter), ("priced", social.PricedPlugin()),
    ])


@pytest.fixture
def runtime(database_url: str, tmp_path: Any, fake: Any, counter: Any,
            followup_settings: dict[str, Any]) -> Iterator[Runtime]:
    flush_redis()
    rt = build(database_url, tmp_path, fake, counter, followup_settings)
    set_current(rt)
    yield rt
    queue = rt.extras.get("queue")
    if isinstance(queue, InProcessJobQueue):
        queue.drain(10)
    _wipe(rt)
    rt.close()
    set_current(None)
    flush_redis()


class RecordingQueue(JobQueue):
    """Records what is enqueued and runs nothing; ``lose()`` forgets it all
    (Redis flushed)."""

    def __init__(self) -> None:
        self.specs: list[JobSpec] = []
        self.live: set[str] = set()

    def enqueue_many(self, specs: Sequence[JobSpec]) -> None:
        self.specs += list(specs)
        self.live |= {s.job_id for s in specs}

    def missing(self, job_ids: Any, *, started_before: Any = None) -> set[str]:
        return {j for j in job_ids if j not in self.live}

    def lose(self) -> None:
        self.live.clear()

    @property
    def ids(self) -> list[str]:
        return [s.job_id for s in self.specs]


class World:
    """A workspace and helpers to drive sweeps and jobs."""

    def __init__(self, rt: Runtime, fake: Any) -> None:
        self.rt = rt
        self.fake = fake
        self._n = 0
        with rt.db.transaction() as s:
            ws = Workspace(name="Followups WS", timezone="UTC")
            s.add(ws)
            s.flush()
            self.workspace_id = ws.id

    def published(self, *, platform: str = "social", account_id: int | None = None,
                  published_at: datetime | None = None, text: str | None = None,
                  workspace_id: int | None = None) -> Any:
        self._n += 1
        return social.seed_published(
            self.rt, self.fake, workspace_id or self.workspace_id, external_account=f"acct-{self._n}",
            platform=platform, account_id=account_id, published_at=published_at,
            text=text or f"post number {self._n}")

    def schedule(self, target_id: int, now: datetime | None = None) -> int:
        from clientnest.followups import schedule_followups_for

        with self.rt.db.transaction() as s:
            return schedule_followups_for(s, target_id, runtime=self.rt, now=now)

    def make_due(self, target_id: int, *, metrics_slot: int = 0) -> None:
        """Time passes: the comment poll and one metrics slot of the target are due now."""
        from sqlalchemy import or_, update

        with self.rt.db.transaction() as s:
            s.execute(update(FollowUp).where(
                FollowUp.target_id == target_id,
                or_(FollowUp.kind == "comments", FollowUp.slot == metrics_slot),
            ).values(due_at=utcnow() - timedelta(seconds=1)))

    def followups(self, target_id: int) -> list[FollowUp]:
        with self.rt.db.session() as s:
            return list(s.scalars(select(FollowUp).where(FollowUp.target_id == target_id)
                                  .order_by(FollowUp.kind, FollowUp.slot)).all())

    def followup(self, fid: int) -> FollowUp:
        with self.rt.db.session() as s:
            row = s.get(FollowUp, fid)
            assert row is not None
            return row

    def comments(self, workspace_id: int | None = None) -> list[InboxComment]:
        with self.rt.db.session() as s:
            return list(s.scalars(select(InboxComment).where(
                InboxComment.workspace_id == (workspace_id or self.workspace_id)).order_by(InboxComment.id)).all())

    def comment(self, cid: int) -> InboxComment:
        with self.rt.db.session() as s:
            row = s.get(InboxComment, cid)
            assert row is not None
            return row

    def set_workspace(self, **values: Any) -> None:
        with self.rt.db.transaction() as s:
            ws = s.get(Workspace, self.workspace_id)
            for k, v in values.items():
                setattr(ws, k, v)

    def run_jobs(self) -> None:
        queue = get_queue(self.rt)
        if isinstance(queue, InProcessJobQueue):
            assert queue.drain(30), "in-process jobs did not finish"
        else:
            from clientnest.engine.commands import run_worker

            run_worker(self.rt, burst=True)

    def sweep(self, now: datetime | None = None, **kw: Any) -> Any:
        from clientnest.followups import sweep

        stats = sweep(self.rt, now or utcnow(), **kw)
        self.run_jobs()
        return stats

    def settle(self, now: datetime | None = None, rounds: int = 10) -> None:
        """Sweep and run jobs until a round finds nothing to do."""
        for _ in range(rounds):
            stats = self.sweep(now, backfill=False)
            if not (stats.claimed or stats.requeued or stats.replies_claimed or stats.replies_requeued
                    or stats.scoring_jobs):
                return
        raise AssertionError("follow-ups did not settle")


@pytest.fixture
def world(runtime: Runtime, fake: Any) -> World:
    return World(runtime, fake)


@pytest.fixture
def recording() -> RecordingQueue:
    return RecordingQueue()
