"""A worker process killed while it holds targets is noticed by its missing
heartbeat, not by waiting out the publish lease; its targets still go
through ``unknown`` and the connector's lookup (never a blind retry)."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

import pytest
from sqlalchemy import select

from clientnest.db import utcnow
from clientnest.engine.liveness import Heartbeat, dead_processes, holder_process, process_id, worker_name
from clientnest.models import AuditEvent, TargetStatus
from clientnest.queue import redis_connection

FAKE_PLUGIN = "fake=clientnest.testing.fake_platform:plugin"
#: far longer than any test waits: only the heartbeat can explain a quick recovery
LEASE = 600


@pytest.fixture
def engine_settings() -> dict[str, Any]:
    return {"publish_lease_seconds": LEASE}


def _wait(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _needs_redis(engine) -> None:
    if not engine.rt.settings.redis_url:
        pytest.skip("embedded: jobs run in the dispatcher's own process, there is no separate worker to lose")


def _start_worker(request, env: dict[str, str]) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "clientnest.engine.commands", "worker", "--extra-plugin",
                             FAKE_PLUGIN], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    request.addfinalizer(lambda: proc.poll() is None and proc.kill())
    return proc


@pytest.mark.parametrize("fault", ["slow", "hang"])
def test_killed_worker_is_reconciled_without_waiting_for_its_lease(engine, fault, request, engine_process_env):
    _needs_redis(engine)
    acct = engine.account()
    text = f"worker killed, {fault}"
    engine.fake.fail("publish", fault, delay=30)
    tid = engine.post([acct], text).target_ids[0]
    assert engine.dispatcher.dispatch_due() == 1
    proc = _start_worker(request, engine_process_env)
    _wait(lambda: engine.fake.counts["publish"] >= 1, 60, "the worker to call the platform")
    if fault == "slow":
        _wait(lambda: engine.fake.copies(text=text) == 1, 10, "the post to exist")
    held = engine.target(tid)
    assert held.status == TargetStatus.PUBLISHING
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)

    def noticed() -> bool:
        engine.dispatcher.tick(force=True)
        return engine.target(tid).status != TargetStatus.PUBLISHING

    # without the heartbeat this waits for the 600 s lease and times out
    _wait(noticed, 60, "the dispatcher to notice the dead worker")
    assert utcnow() < held.lease_expires_at
    with engine.rt.db.session() as s:
        reasons = [e.data.get("reason") for e in s.scalars(select(AuditEvent).where(
            AuditEvent.object_type == "post_target", AuditEvent.object_id == str(tid),
            AuditEvent.action == "target.unknown"))]
    assert reasons == ["worker stopped"]

    engine.settle(timeout=60)
    assert engine.statuses() == {TargetStatus.PUBLISHED: 1}
    assert engine.fake.copies(text=text) == 1
    expected = [("publish", "abandoned"), ("reconcile", "found")] if fault == "slow" else \
        [("publish", "abandoned"), ("reconcile", "not_found"), ("publish", "published")]
    assert engine.attempts(tid) == expected


def test_a_live_worker_is_alive_a_silent_one_dead_but_nobody_right_after_a_flush(engine):
    _needs_redis(engine)
    r = redis_connection(engine.rt)
    engine.queue.lost_data()  # the dispatcher has seen this Redis ...
    r.delete("clientnest:worker:recent-loss")  # ... long enough ago
    hb = Heartbeat(r, ttl=2).start()
    try:
        me = process_id()
        assert holder_process(worker_name()) == me
        assert dead_processes(r, [me]) == set()
        hb._stop.set()  # stop beating without the clean goodbye
        hb._thread.join(5)
        _wait(lambda: dead_processes(r, [me]) == {me}, 10, "the alive key to expire")
        r.flushdb()  # Redis lost everything: nobody can be told dead ...
        assert dead_processes(r, [me]) == set()
        assert engine.queue.lost_data()  # ... and once that is noticed, not until workers beat again
        assert dead_processes(r, [me]) == set()
    finally:
        hb.stop()


def test_a_process_that_does_not_beat_is_never_declared_dead(engine):
    """The in-process runner and direct calls record no heartbeat mark: the
    lease alone decides for them."""
    assert holder_process(worker_name()) is None
    assert holder_process(None) is None


def test_a_job_started_by_a_worker_that_died_counts_as_gone(engine):
    """Killed between taking a job and claiming its targets: the job stays
    "started" in RQ, but its worker's heartbeat (under its RQ name) stops, so
    the dispatcher enqueues its targets again without waiting a lease."""
    _needs_redis(engine)
    from rq.job import Job
    from rq.utils import utcformat

    from clientnest.queue import PUBLISH_QUEUE, JobSpec

    q = engine.queue
    q.enqueue(JobSpec("clientnest.engine.jobs.publish_targets", ([1],), "job-taken", PUBLISH_QUEUE))
    r = q.connection
    r.hset(Job.key_for("job-taken"), mapping={"status": "started", "started_at": utcformat(utcnow()),
                                              "worker_name": "rq-worker-1"})
    q.lost_data()
    r.delete("clientnest:worker:recent-loss")
    hb = Heartbeat(r, ttl=2, aliases=("rq-worker-1",)).start()
    try:
        assert q.missing(["job-taken"]) == set()  # its worker is alive: still running
        hb._stop.set()  # the worker dies without a goodbye
        hb._thread.join(5)
        _wait(lambda: q.missing(["job-taken"]) == {"job-taken"}, 10, "the job to count as gone")
    finally:
        hb.stop()
