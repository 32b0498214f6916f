"""Engine test harness: a fake platform over HTTP, a runtime with the
:class:`~clientnest.testing.fake_platform.FakeConnector`, and an ``engine``
fixture that creates accounts and posts and drives the dispatcher and jobs.

Two modes, picked from the environment:

* in-process (default): jobs run on :class:`~clientnest.queue.InProcessJobQueue`;
* RQ (``CLIENTNEST_TEST_REDIS_URL`` set): jobs go through real Redis and are
  run by RQ ``SimpleWorker(...).work(burst=True)`` (and by worker
  subprocesses where a test needs a process to kill). Only the Redis DB of
  that URL is flushed.

Timings (lease, backoff) are small so the suite stays fast; no test asserts
on wall-clock durations beyond generous bounds.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from clientnest.db import Base, utcnow
from clientnest.engine.commands import run_worker
from clientnest.engine.dispatcher import Dispatcher
from clientnest.models import (
    AuditEvent,
    Post,
    PostStatus,
    PostTarget,
    PublishAttempt,
    SocialAccount,
    TargetStatus,
    Workspace,
)
from clientnest.queue import InProcessJobQueue, JobQueue, get_queue
from clientnest.runtime import Runtime, build_runtime, set_current
from clientnest.settings import load_settings
from clientnest.testing import fake_platform
from clientnest.testing.fake_platform import FakePlatform
from clientnest.testing.server import serve

REDIS_URL = os.environ.get("CLIENTNEST_TEST_REDIS_URL", "")

#: settings every engine test starts from (a module may override ``engine_settings``)
BASE_SETTINGS: dict[str, Any] = {
    "publish_lease_seconds": 3,
    "retry_base_seconds": 0.05,
    "retry_max_seconds": 0.5,
    "reconcile_delay_seconds": 0,
    "requeue_grace_seconds": 0.3,
    "max_publish_attempts": 3,
    "dispatch_interval_seconds": 0.05,
    "job_threads": 4,
}


def flush_redis() -> None:
    if REDIS_URL:
        from redis import Redis

        r = Redis.from_url(REDIS_URL)
        r.flushdb()  # only the test DB named in the URL
        r.close()


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    platform = FakePlatform()
    with serve(platform) as url:
        platform.url = url  # type: ignore[attr-defined]
        yield platform


@pytest.fixture
def engine_settings() -> dict[str, Any]:
    """Override in a test module (or with ``@pytest.mark.parametrize``)."""
    return {}


def _wipe(rt: Runtime) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with rt.db.engine.begin() as conn:
        if rt.db.dialect == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for t in tables:
                conn.execute(text(f'DELETE FROM "{t}"'))


@pytest.fixture
def fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


@pytest.fixture
def runtime(
    database_url: str, tmp_path: Any, fake: FakePlatform, engine_settings: dict[str, Any], fernet_key: str
) -> Iterator[Runtime]:
    flush_redis()
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": str(tmp_path / "var"),
        "fernet_keys": fernet_key,
        "embedded_dispatcher": False,
        "public_url": "http://testserver",
        "redis_url": REDIS_URL,
        "plugin_config": {"fake": {"base_url": fake.url, "timeout": 1.0}},  # type: ignore[attr-defined]
        **BASE_SETTINGS,
    }
    values.update(engine_settings)
    rt = build_runtime(load_settings(values), extra_plugins=[("fake", fake_platform.plugin)])
    set_current(rt)
    yield rt
    queue = rt.extras.get("queue")
    if isinstance(queue, InProcessJobQueue):
        queue.drain(10)
    _wipe(rt)
    rt.close()
    set_current(None)
    flush_redis()


class HoldingQueue(JobQueue):
    """Records what a dispatcher enqueues and passes it on only when told
    (``release``): lets a test act between "enqueued" and "run"."""

    def __init__(self, inner: JobQueue) -> None:
        self.inner = inner
        self.held: list[Any] = []
        self.enqueued: list[str] = []
        self._lock = threading.Lock()

    def enqueue_many(self, specs: Sequence[Any]) -> None:
        with self._lock:
            self.held += list(specs)
            self.enqueued += [s.job_id for s in specs]

    def missing(self, job_ids: Any, *, started_before: Any = None) -> set[str]:
        ids = list(job_ids)
        waiting = {s.job_id for s in self.held}
        return {j for j in self.inner.missing(ids, started_before=started_before) if j not in waiting}

    def release(self) -> int:
        specs, self.held = self.held, []
        self.inner.enqueue_many(specs)
        return len(specs)


@dataclass
class Made:
    post_id: int
    target_ids: list[int]


class Engine:
    """Creates rows and drives the engine the way production does."""

    def __init__(self, rt: Runtime, fake: FakePlatform) -> None:
        self.rt = rt
        self.fake = fake
        self.queue: JobQueue = get_queue(rt)
        self.dispatcher = Dispatcher(rt, self.queue)
        self._n = 0
        with rt.db.transaction() as s:
            ws = Workspace(name="Engine WS", timezone="UTC")
            s.add(ws)
            s.flush()
            self.workspace_id = ws.id

    # -- rows -----------------------------------------------------------------------
    def account(self, external_id: str | None = None, *, token_ttl: float = 3600,
                db_expires_at: datetime | None | str = "same", workspace_id: int | None = None) -> int:
        self._n += 1
        external_id = external_id or f"acct-{self._n}"
        creds = self.fake.add_account(external_id, token_ttl=token_ttl)
        with self.rt.db.transaction() as s:
            row = SocialAccount(
                workspace_id=workspace_id or self.workspace_id, platform="fake", external_id=external_id,
                display_name=f"@{external_id}", credentials_encrypted=self.rt.vault.encrypt(creds.to_json()),
                token_expires_at=creds.expires_at if db_expires_at == "same" else db_expires_at,
            )
            s.add(row)
            s.flush()
            return row.id

    def post(self, account_ids: Sequence[int], text: str | None = None, *, due: datetime | None = None,
             scheduled_at: datetime | None = None, overrides: Sequence[str | None] | None = None) -> Made:
        self._n += 1
        due = due or (utcnow() - timedelta(seconds=1))
        scheduled_at = scheduled_at or due
        with self.rt.db.transaction() as s:
            post = Post(workspace_id=self.workspace_id, text=text or f"post number {self._n}",
                        status=PostStatus.SCHEDULED, scheduled_at=scheduled_at)
            s.add(post)
            s.flush()
            ids = []
            for i, aid in enumerate(account_ids):
                t = PostTarget(post_id=post.id, workspace_id=self.workspace_id, account_id=aid, platform="fake",
                               status=TargetStatus.SCHEDULED, scheduled_at=scheduled_at, next_attempt_at=due,
                               text_override=overrides[i] if overrides else None)
                s.add(t)
                s.flush()
                ids.append(t.id)
            return Made(post.id, ids)

    def posts(self, n: int, account_id: int, **kw: Any) -> list[Made]:
        return [self.post([account_id], **kw) for _ in range(n)]

    # -- reading ----------------------------------------------------------------------
    def target(self, tid: int) -> PostTarget:
        with self.rt.db.session() as s:
            t = s.get(PostTarget, tid)
            assert t is not None
            return t

    def post_row(self, pid: int) -> Post:
        with self.rt.db.session() as s:
            p = s.get(Post, pid)
            assert p is not None
            return p

    def account_row(self, aid: int) -> SocialAccount:
        with self.rt.db.session() as s:
            a = s.get(SocialAccount, aid)
            assert a is not None
            return a

    def attempts(self, tid: int) -> list[tuple[str, str]]:
        with self.rt.db.session() as s:
            rows = s.scalars(select(PublishAttempt).where(PublishAttempt.target_id == tid)
                             .order_by(PublishAttempt.number)).all()
            return [(a.kind, a.outcome) for a in rows]

    def attempt_rows(self, tid: int) -> list[PublishAttempt]:
        with self.rt.db.session() as s:
            return list(s.scalars(select(PublishAttempt).where(PublishAttempt.target_id == tid)
                                  .order_by(PublishAttempt.number)).all())

    def statuses(self) -> dict[str, int]:
        with self.rt.db.session() as s:
            return dict(s.execute(select(PostTarget.status, func.count()).group_by(PostTarget.status)).all())

    def audit_actions(self, object_type: str, object_id: int) -> list[str]:
        with self.rt.db.session() as s:
            return list(s.scalars(select(AuditEvent.action).where(
                AuditEvent.object_type == object_type, AuditEvent.object_id == str(object_id))
                .order_by(AuditEvent.id)).all())

    # -- driving ----------------------------------------------------------------------
    def run_jobs(self) -> None:
        if isinstance(self.queue, InProcessJobQueue):
            assert self.queue.drain(30), "in-process jobs did not finish"
        else:
            run_worker(self.rt, burst=True)

    def step(self, now: datetime | None = None) -> None:
        self.dispatcher.tick(now, force=True)
        self.run_jobs()

    def settle(self, timeout: float = 30.0, horizon: float = 2.0, tolerate_errors: bool = False) -> dict[str, int]:
        """Tick and run jobs until no target is in flight or due within
        ``horizon`` seconds. Returns the final status counts."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.step()
                with self.rt.db.session() as s:
                    soon = utcnow() + timedelta(seconds=horizon)
                    busy = s.scalar(select(func.count()).select_from(PostTarget).where(
                        PostTarget.status.in_([TargetStatus.QUEUED, TargetStatus.PUBLISHING])
                        | (PostTarget.status.in_([TargetStatus.SCHEDULED, TargetStatus.UNKNOWN])
                           & (PostTarget.next_attempt_at <= soon))))
            except Exception:  # a test that takes the database down on purpose
                if not tolerate_errors:
                    raise
                busy = -1
            if not busy:
                return self.statuses()
            if time.monotonic() > deadline:
                raise AssertionError(f"engine did not settle: {self.statuses()}")
            time.sleep(0.05)


@pytest.fixture
def engine(runtime: Runtime, fake: FakePlatform) -> Engine:
    return Engine(runtime, fake)


def subprocess_env(rt: Runtime, fake: FakePlatform, **extra: str) -> dict[str, str]:
    """Environment for an engine process (worker or scheduler) of this test."""
    s = rt.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTNEST_") and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({
        "DATABASE_URL": rt.db.engine.url.render_as_string(hide_password=False),
        "REDIS_URL": s.redis_url,
        "CLIENTNEST_FERNET_KEYS": ",".join(s.fernet_keys),
        "CLIENTNEST_DATA_DIR": s.data_dir,
        "CLIENTNEST_SANDBOX": "0",
        "CLIENTNEST_FAKE_BASE_URL": fake.url,  # type: ignore[attr-defined]
        "CLIENTNEST_FAKE_TIMEOUT": "60",
        "CLIENTNEST_PUBLISH_LEASE_SECONDS": str(s.publish_lease_seconds),
        "CLIENTNEST_DISPATCH_INTERVAL_SECONDS": "0.05",
        "CLIENTNEST_REQUEUE_GRACE_SECONDS": "600",
        "CLIENTNEST_LOG_LEVEL": "WARNING",
    })
    env.update(extra)
    return env


@pytest.fixture
def holding(engine: Engine) -> HoldingQueue:
    """A queue in front of the engine's that runs nothing until ``release()``."""
    return HoldingQueue(engine.queue)


@pytest.fixture
def engine_process_env(runtime: Runtime, fake: FakePlatform) -> dict[str, str]:
    """Environment for an engine subprocess (``python -m clientnest.engine.commands ...``)."""
    return subprocess_env(runtime, fake)
