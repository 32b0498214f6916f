"""Crashes: a worker process killed mid-publish, the database failing right
after the platform said yes. One copy on the platform, nothing stuck."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import event

from clientnest.hookspecs import hookimpl
from clientnest.models import TargetStatus

FAKE_PLUGIN = "fake=clientnest.testing.fake_platform:plugin"


def _wait(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.mark.parametrize("fault", ["slow", "hang"])
def test_worker_killed_mid_publish_one_copy_nothing_stuck(engine, fault, request, engine_process_env):
    """SIGKILL a real engine process while the platform call is in flight.

    ``slow``: the platform created the post, the answer never reached the
    worker -> found by the lookup. ``hang``: the request never took effect ->
    the lookup finds nothing and it is published again. One copy either way.
    """
    acct = engine.account()
    engine.fake.fail("publish", fault, delay=20)
    made = engine.post([acct], f"killed during {fault}")
    tid = made.target_ids[0]
    env = engine_process_env
    if engine.rt.settings.redis_url:
        cmd = ["worker", "--extra-plugin", FAKE_PLUGIN]
        assert engine.dispatcher.dispatch_due() == 1  # the job waits in Redis for the worker process
    else:
        # embedded: the process that dies is the one running dispatcher and jobs
        cmd = ["scheduler", "--interval", "0.05", "--extra-plugin", FAKE_PLUGIN]
    proc = subprocess.Popen([sys.executable, "-m", "clientnest.engine.commands", *cmd], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    request.addfinalizer(lambda: proc.poll() is None and proc.kill())
    _wait(lambda: engine.fake.counts["publish"] >= 1, 60, "the worker to call the platform")
    if fault == "slow":
        _wait(lambda: engine.fake.copies(text=f"killed during {fault}") == 1, 10, "the post to exist")
    assert engine.target(tid).status == TargetStatus.PUBLISHING
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    killed_at = time.monotonic()
    engine.settle(timeout=60)
    waited = time.monotonic() - killed_at
    t = engine.target(tid)
    assert t.status == TargetStatus.PUBLISHED
    assert engine.statuses() == {TargetStatus.PUBLISHED: 1}  # nothing stuck
    assert engine.fake.copies(text=f"killed during {fault}") == 1
    expected = [("publish", "abandoned"), ("reconcile", "found")] if fault == "slow" else \
        [("publish", "abandoned"), ("reconcile", "not_found"), ("publish", "published")]
    assert engine.attempts(tid) == expected
    # a dead worker delays nothing beyond its lease (generous margin for a loaded machine)
    assert waited < engine.rt.settings.publish_lease_seconds + 30


class DbOutage:
    """Once the platform has answered a publish, the database fails: for the
    next ``statements`` statements, or for ``seconds``. A plugin wrapping the
    publish hook plus an engine event: no monkeypatching of the engine."""

    def __init__(self, rt, *, statements: int = 0, seconds: float = 0.0) -> None:
        self.rt = rt
        self.statements = statements
        self.seconds = seconds
        self.left = 0
        self.until = 0.0
        self.raised = 0
        event.listen(rt.db.engine, "before_cursor_execute", self._before)
        rt.plugins.pm.register(self, name="db-outage")

    @hookimpl(wrapper=True)
    def clientnest_publish(self, connector, account, content):
        result = yield
        self.left = self.statements
        self.until = time.monotonic() + self.seconds
        return result

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        if self.left > 0 or time.monotonic() < self.until:
            self.left = max(0, self.left - 1)
            self.raised += 1
            raise self.rt.db.engine.dialect.loaded_dbapi.OperationalError("simulated outage")

    def remove(self) -> None:
        event.remove(self.rt.db.engine, "before_cursor_execute", self._before)
        self.rt.plugins.pm.unregister(self)


def test_db_failure_right_after_success_is_retried_without_resending(engine):
    outage = DbOutage(engine.rt, statements=3)
    try:
        acct = engine.account()
        made = engine.post([acct], "recorded on the second try")
        engine.settle()
    finally:
        outage.remove()
    assert outage.raised == 3
    t = engine.target(made.target_ids[0])
    assert t.status == TargetStatus.PUBLISHED
    assert engine.fake.counts["publish"] == 1
    assert engine.fake.copies(text="recorded on the second try") == 1
    assert engine.attempts(t.id) == [("publish", "published")]


def test_db_down_longer_than_the_retries_one_copy_after_the_lease(engine):
    lease = engine.rt.settings.publish_lease_seconds
    outage = DbOutage(engine.rt, seconds=lease / 2 + 1.0)  # longer than the job's write retries
    try:
        acct = engine.account()
        made = engine.post([acct], "database came back")
        engine.settle(timeout=60, tolerate_errors=True)
    finally:
        outage.remove()
    assert outage.raised > 3
    t = engine.target(made.target_ids[0])
    assert t.status == TargetStatus.PUBLISHED
    assert engine.fake.counts["publish"] == 1  # never sent again
    assert engine.fake.copies(text="database came back") == 1
    # the first attempt's outcome was lost with the database; the lookup found the post
    assert engine.attempts(t.id) == [("publish", "abandoned"), ("reconcile", "found")]


def test_worker_killed_mid_batch_each_post_once(engine, request, engine_process_env, monkeypatch):
    """Three targets in one job, claimed together; the worker dies during the
    first one's call. All three outlive their lease: each is looked up before
    anything is sent again (the two never sent are not found, so they go out
    then), and each post exists once."""
    if not engine.rt.settings.redis_url:
        pytest.skip("embedded: the killed process takes its whole queue with it (test_lost_jobs_...)")
    from clientnest.engine import dispatcher

    monkeypatch.setattr(dispatcher, "SPREAD", 1)  # three targets, one job
    acct = engine.account()
    engine.fake.fail("publish", "hang", delay=20)  # the first publish never takes effect
    made = [engine.post([acct], f"batch post {i}") for i in range(3)]
    tids = [m.target_ids[0] for m in made]
    assert engine.dispatcher.dispatch_due() == 3
    assert len({engine.target(t).job_id for t in tids}) == 1
    proc = subprocess.Popen([sys.executable, "-m", "clientnest.engine.commands", "worker", "--extra-plugin",
                             FAKE_PLUGIN], env=engine_process_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    request.addfinalizer(lambda: proc.poll() is None and proc.kill())
    _wait(lambda: engine.fake.counts["publish"] >= 1, 60, "the worker to call the platform")
    assert all(engine.target(t).status == TargetStatus.PUBLISHING for t in tids)  # one claim for the job
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    killed_at = time.monotonic()
    engine.settle(timeout=60)
    assert engine.statuses() == {TargetStatus.PUBLISHED: 3}
    assert all(engine.fake.copies(text=f"batch post {i}") == 1 for i in range(3))
    for t in tids:
        assert engine.attempts(t) == [("publish", "abandoned"), ("reconcile", "not_found"), ("publish", "published")]
    assert engine.fake.counts["publish"] == 4  # the hung call, then one each
    assert time.monotonic() - killed_at < engine.rt.settings.publish_lease_seconds + 30
