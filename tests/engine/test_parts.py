"""The engine's parts on their own: error classification, backoff, the
attempt-log rule, the queues, the commands and the embedded start/stop."""
from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from click.testing import CliRunner

from clientnest.connector import PostContent
from clientnest.engine import embedded
from clientnest.engine.commands import scheduler
from clientnest.engine.reconcile import unresolved_since
from clientnest.engine.retry import backoff_delay, next_retry_at
from clientnest.errors import AmbiguousError, AuthError, NotSentError, PermanentError
from clientnest.models import PublishAttempt, TargetStatus
from clientnest.queue import InProcessJobQueue, JobSpec
from clientnest.settings import Settings
from clientnest.testing.fake_platform import FakeConnector, classify_response


def _resp(status: int, body=None, headers=None) -> httpx.Response:
    return httpx.Response(status, json=body if body is not None else {"error": {"message": "m", "code": 1}},
                          headers=headers or {})


@pytest.mark.parametrize("status,headers,cls", [
    (429, {"x-rate-limit-reset": "1900000000"}, NotSentError),
    (503, {"Retry-After": "5"}, NotSentError),
    (503, {}, AmbiguousError),
    (500, {}, AmbiguousError),
    (502, {}, AmbiguousError),
    (504, {}, AmbiguousError),
    (401, {}, AuthError),
    (400, {}, PermanentError),
    (403, {}, PermanentError),
    (422, {}, PermanentError),
])
def test_classification_by_status(status, headers, cls):
    err = classify_response(_resp(status, headers=headers))
    assert type(err) is cls
    assert err.status == status and err.platform == "fake"


def test_oauth_invalid_grant_is_auth():
    err = classify_response(_resp(400, {"error": "invalid_grant", "error_description": "revoked"}))
    assert isinstance(err, AuthError) and err.message == "revoked"


def test_retry_at_from_headers():
    e = classify_response(_resp(429, headers={"x-rate-limit-reset": "1900000000"}))
    assert e.retry_at == datetime.fromtimestamp(1900000000, UTC)
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    e = classify_response(_resp(429, headers={"Retry-After": format_datetime(when, usegmt=True)}))
    assert e.retry_at == when
    before = datetime.now(UTC)
    e = classify_response(_resp(429, headers={"Retry-After": "30"}))
    assert before + timedelta(seconds=29) <= e.retry_at <= datetime.now(UTC) + timedelta(seconds=31)
    assert classify_response(_resp(429, headers={"Retry-After": "later"})).retry_at is None


def test_transport_errors_are_classified_once():
    conn = FakeConnector({"base_url": "http://127.0.0.1:9", "timeout": 0.5, "connect_timeout": 0.5})
    try:
        from clientnest.connector import Account, Credentials

        acct = Account("a", Credentials("t"))
        with pytest.raises(NotSentError):  # nothing listens on port 9: connection refused
            conn.publish(acct, PostContent(text="x"))
    finally:
        conn.close()


def test_backoff_doubles_with_jitter_and_a_ceiling():
    s = Settings(retry_base_seconds=10, retry_max_seconds=100)
    rng = random.Random(1)
    for failures, full in [(1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (9, 100)]:
        for _ in range(50):
            d = backoff_delay(s, failures, rng=rng)
            assert full / 2 <= d <= full


def test_next_retry_honours_the_platform_exactly():
    s = Settings(retry_base_seconds=10)
    now = datetime(2030, 1, 1, tzinfo=UTC)
    told = now + timedelta(seconds=777)
    assert next_retry_at(s, 1, now, told) == told
    # a reset time already past falls back to our own backoff
    got = next_retry_at(s, 1, now, now - timedelta(seconds=5))
    assert now + timedelta(seconds=5) <= got <= now + timedelta(seconds=10)


def _a(n, kind, outcome, minute):
    return PublishAttempt(number=n, kind=kind, outcome=outcome,
                          started_at=datetime(2030, 1, 1, 0, minute, tzinfo=UTC))


def test_unresolved_since_reads_the_attempt_log():
    assert unresolved_since([]) is None
    assert unresolved_since([_a(1, "publish", "not_sent", 0)]) is None
    assert unresolved_since([_a(1, "publish", "ambiguous", 0)]) == datetime(2030, 1, 1, 0, 0, tzinfo=UTC)
    assert unresolved_since([_a(1, "publish", "abandoned", 0), _a(2, "reconcile", "not_found", 1)]) is None
    # a lookup that failed settles nothing
    assert unresolved_since([_a(1, "publish", "ambiguous", 0), _a(2, "reconcile", "not_sent", 1)]) is not None
    # after a "not found", a new publish that died is unresolved from its own start
    log = [_a(1, "publish", "ambiguous", 0), _a(2, "reconcile", "not_found", 1), _a(3, "publish", "started", 2)]
    assert unresolved_since(log) == datetime(2030, 1, 1, 0, 2, tzinfo=UTC)


_ran: list[int] = []
_gate = threading.Event()


def record_job(n: int) -> None:
    _gate.wait(5)
    _ran.append(n)


def test_in_process_queue_runs_jobs_once_per_id():
    _ran.clear()
    _gate.clear()
    q = InProcessJobQueue(None, threads=2)
    try:
        spec = JobSpec(f"{__name__}.record_job", (1,), "job-1")
        q.enqueue_many([spec, spec])
        q.enqueue(spec)
        q.enqueue(JobSpec(f"{__name__}.record_job", (2,), "job-2"))
        assert q.missing(["job-1", "job-2", "job-3"]) == {"job-3"}
        _gate.set()
        assert q.drain(10)
        assert sorted(_ran) == [1, 2]
        assert q.missing(["job-1"]) == {"job-1"}
    finally:
        q.close()


def test_rq_queue_reports_missing_jobs(runtime):
    if not runtime.settings.redis_url:
        pytest.skip("needs CLIENTNEST_TEST_REDIS_URL")
    from clientnest.queue import RQJobQueue

    q = RQJobQueue(runtime.settings.redis_url)
    try:
        q.enqueue_many([JobSpec("clientnest.engine.jobs.publish_targets", ([999],), "publish-999-0", "clientnest-publish")])
        assert q.missing(["publish-999-0", "publish-999-1"]) == {"publish-999-1"}
        from rq.job import Job

        job = Job.fetch("publish-999-0", connection=q.connection, serializer=q.queues["clientnest-publish"].serializer)
        assert job.args == [[999]] and job.func_name == "clientnest.engine.jobs.publish_targets"
        assert q.queues["clientnest-publish"].serializer.__name__ == "JSONSerializer"
        # a job RQ still calls "started" whose worker died: gone once it started before the cut-off
        from rq.utils import utcformat

        long_ago = datetime.now(UTC) - timedelta(minutes=10)
        q.connection.hset(Job.key_for("publish-999-0"), mapping={"status": "started", "started_at": utcformat(long_ago)})
        cut = datetime.now(UTC) - timedelta(minutes=2)
        assert q.missing(["publish-999-0"]) == set()
        assert q.missing(["publish-999-0"], started_before=cut) == {"publish-999-0"}
        assert q.missing(["publish-999-0"], started_before=long_ago - timedelta(minutes=1)) == set()
    finally:
        q.connection.flushdb()
        q.close()


def test_scheduler_command_once(engine, engine_process_env, monkeypatch):
    """`clientnest scheduler --once` with the test's runtime in the click context."""
    acct = engine.account()
    made = engine.post([acct], "via the command")
    result = CliRunner().invoke(scheduler, ["--once"], obj=engine.rt, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "claimed=1" in result.output
    if engine.rt.settings.redis_url:
        engine.run_jobs()
    assert engine.target(made.target_ids[0]).status == TargetStatus.PUBLISHED


def test_embedded_start_publishes_in_the_background(runtime, engine):
    if runtime.settings.redis_url:
        pytest.skip("the embedded mode runs without Redis")
    acct = engine.account()
    made = engine.post([acct], "embedded")
    embedded.start(runtime)
    try:
        assert embedded.running()
        assert embedded.start(runtime) is embedded.start(runtime)  # idempotent
        deadline = time.monotonic() + 20
        while engine.target(made.target_ids[0]).status != TargetStatus.PUBLISHED:
            assert time.monotonic() < deadline, engine.statuses()
            time.sleep(0.05)
    finally:
        embedded.stop()
    assert not embedded.running()
    assert engine.fake.copies(text="embedded") == 1


_gate = threading.Event()


def _blocked() -> None:
    _gate.wait(10)


def test_in_process_queue_counts_a_job_started_too_long_ago_as_missing():
    q = InProcessJobQueue(None, threads=1)
    try:
        _gate.clear()
        q.enqueue_many([JobSpec(f"{__name__}._blocked", (), "blocked-1")])
        deadline = time.monotonic() + 5
        while q._live.get("blocked-1") is None and time.monotonic() < deadline:
            time.sleep(0.01)
        now = datetime.now(UTC)
        assert q.missing(["blocked-1", "other"]) == {"other"}
        assert q.missing(["blocked-1"], started_before=now - timedelta(seconds=60)) == set()
        assert q.missing(["blocked-1"], started_before=now + timedelta(seconds=1)) == {"blocked-1"}
    finally:
        _gate.set()
        q.close()
