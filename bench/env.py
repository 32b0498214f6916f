"""The benchmark environment: a fresh PostgreSQL database, a Redis DB, and the
processes (fake platform, RQ workers, scheduler, gunicorn) on loopback.

Everything started here is stopped and removed by :meth:`BenchEnv.close`:
the database is dropped and only the benchmark's Redis DB is flushed.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from clientnest.connector import Credentials
from clientnest.db import utcnow
from clientnest.migrate import upgrade
from clientnest.models import SocialAccount, Workspace
from clientnest.runtime import Runtime, build_runtime
from clientnest.settings import Settings, load_settings
from clientnest.testing import fake_platform

ROOT = Path(__file__).resolve().parent.parent
FAKE_PLUGIN = "fake=clientnest.testing.fake_platform:plugin"

__all__ = ["BenchEnv", "free_port", "rss_peak_kb", "with_children", "ConnectionSampler"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_children(pid: int) -> list[int]:
    """A process and its direct children (gunicorn's master and workers)."""
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        kids = []
    return [pid, *(int(k) for k in kids)]


def rss_peak_kb(pid: int) -> int | None:
    """Peak resident set size of a live process (VmHWM), in KiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class ConnectionSampler:
    """Samples the number of server connections to one database."""

    def __init__(self, admin_url: str, dbname: str, every: float = 0.25) -> None:
        self.engine = create_engine(admin_url, pool_size=1, max_overflow=0)
        self.dbname = dbname
        self.every = every
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def count(self) -> int:
        with self.engine.connect() as c:
            return int(c.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d"),
                                 {"d": self.dbname}).scalar())

    def __enter__(self) -> ConnectionSampler:
        def loop() -> None:
            while not self._stop.is_set():
                self.samples.append(self.count())
                self._stop.wait(self.every)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)

    def close(self) -> None:
        self.engine.dispose()


@dataclass
class BenchEnv:
    admin_url: str
    db_url: str
    dbname: str
    redis_url: str
    fernet_key: str
    procs: list[subprocess.Popen] = field(default_factory=list)
    fake_url: str = ""
    _fake: subprocess.Popen | None = None

    # -- life cycle -------------------------------------------------------------------
    @classmethod
    def create(cls, pg_url: str, redis_url: str) -> BenchEnv:
        base = make_url(Settings(database_url=pg_url).resolved_database_url())
        admin = base.render_as_string(hide_password=False)
        name = f"cn_bench_{uuid.uuid4().hex[:8]}"
        eng = create_engine(admin, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        eng.dispose()
        url = base.set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        env = cls(admin_url=admin, db_url=url, dbname=name, redis_url=redis_url,
                  fernet_key=Fernet.generate_key().decode())
        env.flush_redis()
        return env

    def close(self) -> None:
        self.stop_all()
        if self._fake is not None:
            self._stop(self._fake)
        self.flush_redis()
        eng = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                      {"n": self.dbname})
            c.execute(text(f'DROP DATABASE IF EXISTS "{self.dbname}"'))
        eng.dispose()

    def flush_redis(self) -> None:
        from redis import Redis

        r = Redis.from_url(self.redis_url)
        r.flushdb()  # this benchmark's DB only
        r.close()

    # -- configuration ------------------------------------------------------------------
    def env(self, **extra: str) -> dict[str, str]:
        out = {k: v for k, v in os.environ.items()
               if not k.startswith("CLIENTNEST_") and k not in ("DATABASE_URL", "REDIS_URL")}
        out.update({
            "DATABASE_URL": self.db_url,
            "REDIS_URL": self.redis_url,
            "CLIENTNEST_FERNET_KEYS": self.fernet_key,
            "CLIENTNEST_DATA_DIR": str(ROOT / "var" / "bench"),
            "CLIENTNEST_SANDBOX": "0",
            "CLIENTNEST_LOG_LEVEL": "WARNING",
            "CLIENTNEST_FAKE_BASE_URL": self.fake_url,
            "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        })
        out.update(extra)
        return out

    def runtime(self, **overrides: Any) -> Runtime:
        """A runtime in this (benchmark) process, with the fake connector."""
        values = {"database_url": self.db_url, "redis_url": self.redis_url, "fernet_keys": self.fernet_key,
                  "data_dir": str(ROOT / "var" / "bench"), "plugin_config": {"fake": {"base_url": self.fake_url}},
                  "log_level": "WARNING", **overrides}
        return build_runtime(load_settings(values, env={}), extra_plugins=[("fake", fake_platform.plugin)])

    # -- processes ----------------------------------------------------------------------
    def _spawn(self, args: Sequence[str], env: dict[str, str] | None = None, **kw: Any) -> subprocess.Popen:
        p = subprocess.Popen(list(args), cwd=ROOT, env=env or self.env(), **kw)
        self.procs.append(p)
        return p

    @staticmethod
    def _stop(p: subprocess.Popen, timeout: float = 10) -> None:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)

    def stop(self, procs: Sequence[subprocess.Popen]) -> None:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            self._stop(p)
            if p in self.procs:
                self.procs.remove(p)

    def stop_all(self) -> None:
        self.stop(list(self.procs))

    def start_fake(self) -> str:
        """The fake platform in its own process: gunicorn, one worker (the
        platform's state is in memory), gthread so connections stay alive."""
        port = free_port()
        self._fake = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "16",
             "--worker-class", "gthread", "--keep-alive", "30", "--log-level", "warning", "bench.fake_app:app"],
            cwd=ROOT, env=self.env())
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/_fake/stats", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self._fake.poll() is not None:
                raise RuntimeError("fake platform did not start")
            time.sleep(0.2)
        self.fake_url = url
        return url

    def fake_stats(self) -> dict[str, Any]:
        return httpx.get(f"{self.fake_url}/_fake/stats", timeout=30).json()

    def start_workers(self, n: int) -> list[subprocess.Popen]:
        procs = [self._spawn([sys.executable, "-m", "clientnest.engine.commands", "worker",
                              "--extra-plugin", FAKE_PLUGIN, "--name", f"bench-{i}-{uuid.uuid4().hex[:4]}"])
                 for i in range(n)]
        from redis import Redis
        from rq import Worker

        r = Redis.from_url(self.redis_url)
        deadline = time.monotonic() + 60
        while len(Worker.all(connection=r)) < n:
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not start")
            time.sleep(0.1)
        r.close()
        return procs

    def start_scheduler(self, interval: float | None = None, **settings_env: str) -> subprocess.Popen:
        args = [sys.executable, "-m", "clientnest.engine.commands", "scheduler", "--extra-plugin", FAKE_PLUGIN]
        if interval is not None:
            args += ["--interval", str(interval)]
        return self._spawn(args, env=self.env(**settings_env))

    def start_gunicorn(self, workers: int, threads: int, **settings_env: str) -> tuple[subprocess.Popen, str]:
        port = free_port()
        p = self._spawn([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
                         "--threads", str(threads), "--worker-class", "gthread" if threads > 1 else "sync",
                         "--log-level", "warning", "bench.api_app:app"],
                        env=self.env(CLIENTNEST_EMBEDDED_DISPATCHER="0", CLIENTNEST_PUBLIC_URL=f"http://127.0.0.1:{port}",
                                     **settings_env))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    return p, url
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or p.poll() is not None:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.2)

    # -- data ------------------------------------------------------------------------------
    def seed_accounts(self, rt: Runtime, n: int) -> tuple[int, list[int]]:
        """A workspace and ``n`` accounts whose tokens the fake platform accepts."""
        with rt.db.transaction() as s:
            ws = Workspace(name="Bench", timezone="UTC")
            s.add(ws)
            s.flush()
            rows = []
            for i in range(n):
                data = httpx.post(f"{self.fake_url}/_fake/accounts", json={"external_id": f"bench-{i}"},
                                  timeout=10).json()
                creds = Credentials.from_json(data)
                rows.append({"workspace_id": ws.id, "platform": "fake", "external_id": f"bench-{i}",
                             "display_name": f"Bench {i}", "kind": "user", "extra": {},
                             "credentials_encrypted": rt.vault.encrypt(creds.to_json()),
                             "token_expires_at": creds.expires_at, "status": "connected",
                             "created_at": utcnow(), "updated_at": utcnow()})
            ids = list(s.execute(insert(SocialAccount).returning(SocialAccount.id), rows).scalars())
            return ws.id, ids

    def truncate(self, rt: Runtime, tables: Sequence[str] = ("post_targets", "posts", "audit_events",
                                                             "publish_attempts")) -> None:
        # ids go on from where they were: the fake platform keeps every post of
        # the run, and a reused target id would look like a duplicate to it
        with rt.db.engine.begin() as c:
            c.execute(text("TRUNCATE " + ", ".join(tables) + " CASCADE"))


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, default=str)
