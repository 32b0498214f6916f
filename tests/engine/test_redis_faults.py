"""Redis faults on the production stack: Redis down when a worker or the
scheduler starts, Redis flushed while jobs wait or run. Nothing published
twice, nothing left waiting for the re-enqueue grace period, no traceback
for what is an expected outage."""
from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from clientnest.hookspecs import hookimpl
from clientnest.models import TargetStatus
from clientnest.queue import redis_connection

FAKE_PLUGIN = "fake=clientnest.testing.fake_platform:plugin"


@pytest.fixture
def engine_settings() -> dict[str, Any]:
    # only the flush detection may re-enqueue quickly in these tests
    return {"requeue_grace_seconds": 600}


def _needs_redis(engine) -> None:
    if not engine.rt.settings.redis_url:
        pytest.skip("embedded: no Redis to lose")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("command", ["worker", "scheduler"])
def test_with_redis_down_worker_and_scheduler_wait_one_line_per_try(engine_process_env, command, request):
    """Both stay up and say once per try that Redis is unreachable."""
    env = dict(engine_process_env, REDIS_URL=f"redis://127.0.0.1:{_free_port()}/0", CLIENTNEST_LOG_LEVEL="INFO")
    args = [command, "--extra-plugin", FAKE_PLUGIN] + (["--interval", "0.2"] if command == "scheduler" else [])
    proc = subprocess.Popen([sys.executable, "-m", "clientnest.engine.commands", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    request.addfinalizer(lambda: proc.poll() is None and proc.kill())
    lines: list[str] = []
    deadline = time.monotonic() + 60
    assert proc.stderr is not None
    while sum("unreachable" in ln or "failed: ConnectionError" in ln for ln in lines) < 2:
        assert time.monotonic() < deadline, lines
        line = proc.stderr.readline()
        assert line, f"{command} exited ({proc.wait()}): {lines}"
        lines.append(line)
    assert proc.poll() is None  # still waiting, not exited
    proc.send_signal(signal.SIGTERM)
    out = "".join(lines) + proc.communicate(timeout=30)[1]
    assert "Traceback" not in out
    tries = [ln for ln in out.splitlines() if "unreachable" in ln or "failed: ConnectionError" in ln]
    assert len(tries) >= 2 and all("\n" not in t for t in tries)


def test_flush_while_jobs_wait_reenqueues_at_once(engine):
    """The jobs a flush wiped are enqueued again on the next round, not after
    the (here 600 s) grace period; each post goes out once."""
    _needs_redis(engine)
    acct = engine.account()
    made = engine.posts(5, acct)
    engine.dispatcher.tick(force=True)  # the dispatcher has seen this Redis
    engine.run_jobs()
    assert engine.statuses() == {TargetStatus.PUBLISHED: 5}
    waiting = engine.posts(4, acct)
    assert engine.dispatcher.dispatch_due() == 4
    redis_connection(engine.rt).flushdb()
    stats = engine.dispatcher.tick()
    assert stats.requeued == 4
    engine.run_jobs()
    assert engine.statuses() == {TargetStatus.PUBLISHED: 9}
    assert engine.fake.counts["publish"] == 9  # one call per post: nothing sent twice
    assert len(made) + len(waiting) == 9


def test_a_second_dispatcher_also_sees_the_flush(engine):
    _needs_redis(engine)
    from clientnest.engine.dispatcher import Dispatcher

    other = Dispatcher(engine.rt, engine.queue.__class__(engine.rt.settings.redis_url))
    engine.dispatcher.queue.lost_data()
    other.queue.lost_data()
    assert not engine.dispatcher.queue.lost_data() and not other.queue.lost_data()
    redis_connection(engine.rt).flushdb()
    assert engine.dispatcher.queue.lost_data()
    assert other.queue.lost_data()  # it finds the marker replaced by the first one
    assert not engine.dispatcher.queue.lost_data() and not other.queue.lost_data()
    other.queue.close()


class FlushAfterPublish:
    """Flushes Redis once the platform has answered: the job that made the
    call then ends with no record left in Redis."""

    def __init__(self, rt) -> None:
        self.rt = rt
        self.flushes = 0

    @hookimpl(wrapper=True)
    def clientnest_publish(self, connector, account, content):
        result = yield
        redis_connection(self.rt).flushdb()
        self.flushes += 1
        return result


def test_flush_while_a_job_runs_is_taken_quietly(engine, caplog):
    """RQ cannot clean up a job a flush removed; the worker says so in one
    line, with no traceback, and the post is published once."""
    _needs_redis(engine)
    flusher = FlushAfterPublish(engine.rt)
    engine.rt.plugins.pm.register(flusher, name="flusher")
    try:
        acct = engine.account()
        made = engine.post([acct], "flushed mid-job")
        with caplog.at_level(logging.INFO):
            engine.step()
    finally:
        engine.rt.plugins.pm.unregister(flusher)
    assert flusher.flushes == 1
    assert engine.target(made.target_ids[0]).status == TargetStatus.PUBLISHED
    assert engine.fake.copies(text="flushed mid-job") == 1
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]
    assert any("no longer holds its record" in r.getMessage() for r in caplog.records)
