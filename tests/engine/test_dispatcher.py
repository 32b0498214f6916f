"""The dispatcher: atomic claims, several at once, lost jobs, leases, DST."""
from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from clientnest.db import utcnow
from clientnest.engine.dispatcher import SPREAD, Dispatcher, publish_job_id
from clientnest.models import AuditEvent, PostTarget, PublishAttempt, TargetStatus
from clientnest.queue import InProcessJobQueue


def test_claim_marks_queued_and_enqueues_deterministic_ids(engine, holding):
    acct = engine.account()
    made = engine.posts(3, acct)
    d = Dispatcher(engine.rt, holding)
    assert d.dispatch_due() == 3
    ids = [m.target_ids[0] for m in made]
    assert sorted(holding.enqueued) == sorted(publish_job_id(t, 0) for t in ids)
    for t in ids:
        row = engine.target(t)
        assert row.status == TargetStatus.QUEUED and row.queued_at is not None
    # nothing is due any more: a second round claims nothing
    assert d.dispatch_due() == 0
    holding.release()
    engine.settle()
    assert engine.statuses() == {TargetStatus.PUBLISHED: 3}


def test_two_dispatchers_at_once_never_enqueue_twice(engine, holding):
    acct = engine.account()
    n = 120
    engine.posts(n, acct)
    ds = [Dispatcher(engine.rt, holding, batch_size=7) for _ in range(2)]
    counts = [0, 0]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            while True:
                got = ds[i].dispatch_due()
                counts[i] += got
                if not got:
                    return
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sum(counts) == n
    assert len(holding.enqueued) == n and len(set(holding.enqueued)) == n
    holding.release()
    engine.settle()
    assert engine.statuses() == {TargetStatus.PUBLISHED: n}
    assert engine.fake.copies() == n and engine.fake.stats()["duplicated_keys"] == 0


def test_lost_jobs_are_enqueued_again_after_the_grace_period(engine, holding):
    """Redis flushed (or the in-process runner restarted) while posts are queued."""
    acct = engine.account()
    engine.posts(10, acct)
    d = Dispatcher(engine.rt, holding)
    claimed_at = utcnow()  # the targets are queued at or after this
    assert d.dispatch_due() == 10
    if isinstance(engine.queue, InProcessJobQueue):
        # the process died before running them: in-memory jobs are gone
        holding.held.clear()
    else:
        from redis import Redis

        holding.release()
        r = Redis.from_url(engine.rt.settings.redis_url)
        # 10 targets spread over jobs of 2 (at least SPREAD jobs, at most publish_job_targets each)
        assert r.llen("rq:queue:clientnest-publish") == len(holding.enqueued) == 5
        r.flushdb()  # the test Redis DB only
        r.close()
    queued = engine.statuses().get(TargetStatus.QUEUED, 0)
    assert queued == 10
    # within the grace period nothing is re-enqueued (a fixed "now": a loaded
    # machine may take longer than the test's 0.3 s grace to get here)
    assert engine.dispatcher.requeue_missing(claimed_at) == 0
    later = utcnow() + timedelta(seconds=engine.rt.settings.requeue_grace_seconds + 1)
    assert engine.dispatcher.requeue_missing(later) == queued
    engine.settle()
    assert engine.statuses() == {TargetStatus.PUBLISHED: 10}
    assert engine.fake.copies() == 10 and engine.fake.stats()["duplicated_keys"] == 0


def _targets_of(spec):
    (ids,) = spec.args
    return list(ids)


def test_claims_are_grouped_into_jobs_and_each_target_records_its_job(engine, holding):
    acct = engine.account()
    made = engine.posts(40, acct)
    d = Dispatcher(engine.rt, holding)
    d.settings = replace(d.settings, publish_job_targets=4)
    assert d.dispatch_due() == 40
    # 40 targets: more than SPREAD jobs' worth, so full jobs of 4
    assert [len(_targets_of(spec)) for spec in holding.held] == [4] * 10
    every = sorted(t for spec in holding.held for t in _targets_of(spec))
    assert every == sorted(m.target_ids[0] for m in made)
    for spec in holding.held:
        assert {engine.target(t).job_id for t in _targets_of(spec)} == {spec.job_id}
    holding.release()
    engine.settle()
    assert engine.statuses() == {TargetStatus.PUBLISHED: 40}
    assert engine.fake.copies() == 40 and engine.fake.stats()["duplicated_keys"] == 0


def test_a_small_claim_is_spread_over_jobs_for_idle_workers(engine, holding):
    acct = engine.account()
    engine.posts(SPREAD - 1, acct)
    Dispatcher(engine.rt, holding).dispatch_due()
    assert [len(_targets_of(spec)) for spec in holding.held] == [1] * (SPREAD - 1)


def test_a_job_out_of_time_hands_the_rest_to_new_jobs(engine, holding, monkeypatch):
    """A slow platform must not hold the later targets of a job hostage: past
    HANDOVER_SECONDS the job starts nothing new and hands the rest over."""
    from clientnest.engine import dispatcher

    monkeypatch.setattr(dispatcher, "SPREAD", 1)
    monkeypatch.setattr(dispatcher, "HANDOVER_SECONDS", 0.0)  # out of time after the first target
    acct = engine.account()
    made = engine.posts(4, acct)
    tids = [m.target_ids[0] for m in made]
    Dispatcher(engine.rt, holding).dispatch_due()
    (spec,) = holding.held
    first = _targets_of(spec)[0]
    holding.release()
    engine.settle()
    assert engine.statuses() == {TargetStatus.PUBLISHED: 4}
    assert engine.fake.copies() == 4 and engine.fake.stats()["duplicated_keys"] == 0
    assert engine.target(first).job_id == spec.job_id
    handed = [t for t in tids if t != first]
    assert all("_handover" in engine.target(t).job_id for t in handed)
    for t in tids:  # a handed-over target got its attempt number back: one attempt each
        assert engine.attempts(t) == [("publish", "published")]
    for k, t in enumerate(sorted(handed, key=_targets_of(spec).index), start=1):
        # claimed with the job, given back before its call, claimed by the next job: the k-th target
        # of the first job is handed over k times (each new job takes the rest, starts one, hands over)
        assert engine.audit_actions("post_target", t) == (
            ["target.queued"] + ["target.publishing", "target.queued"] * k + ["target.publishing", "target.published"])


def test_jobs_still_in_the_queue_are_not_enqueued_again(engine, holding):
    acct = engine.account()
    engine.posts(4, acct)
    d = Dispatcher(engine.rt, holding)
    d.dispatch_due()
    later = utcnow() + timedelta(seconds=60)
    # the jobs are waiting in the (holding) queue: nothing is missing
    assert d.requeue_missing(later) == 0
    assert len(holding.enqueued) == 4


def test_two_dispatchers_requeue_a_lost_job_once(engine, holding):
    acct = engine.account()
    engine.posts(5, acct)
    Dispatcher(engine.rt, holding).dispatch_due()
    holding.held.clear()  # the jobs are lost
    holding.enqueued.clear()
    later = utcnow() + timedelta(seconds=60)
    d1, d2 = Dispatcher(engine.rt, holding), Dispatcher(engine.rt, holding)
    assert d1.requeue_missing(later) + d2.requeue_missing(later) == 5
    assert len(holding.enqueued) == 5 and len(set(holding.enqueued)) == 5


def test_expired_lease_becomes_unknown_and_is_reconciled(engine):
    """A worker died after recording its attempt: the lease expires, the
    target is looked up on the platform, never blindly sent again."""
    acct = engine.account()
    made = engine.post([acct], "orphaned")
    tid = made.target_ids[0]
    now = utcnow()
    with engine.rt.db.transaction() as s:
        s.execute(update(PostTarget).where(PostTarget.id == tid).values(
            status=TargetStatus.PUBLISHING, attempts=1, lease_expires_at=now - timedelta(seconds=1)))
        s.add(PublishAttempt(target_id=tid, number=1, kind="publish", outcome="started", started_at=now))
    # the dead worker's request did reach the platform
    from clientnest.connector import PostContent
    from clientnest.engine.content import idempotency_key

    conn = engine.rt.plugins.connector("fake")
    from clientnest.services.accounts import to_connector_account

    conn.publish(to_connector_account(engine.rt.vault, engine.account_row(acct)),
                 PostContent(text="orphaned", key=idempotency_key(tid)))
    stats = engine.dispatcher.tick(force=True)
    assert stats.expired == 1
    engine.run_jobs()
    engine.settle()
    t = engine.target(tid)
    assert t.status == TargetStatus.PUBLISHED
    assert engine.fake.copies(text="orphaned") == 1
    assert engine.attempts(tid) == [("publish", "abandoned"), ("reconcile", "found")]
    actions = engine.audit_actions("post_target", tid)
    assert "target.unknown" in actions


def test_audit_event_for_each_state_change(engine):
    acct = engine.account()
    engine.fake.fail("publish", "error", status=502)
    made = engine.post([acct])
    engine.settle()
    tid = made.target_ids[0]
    with engine.rt.db.session() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.object_type == "post_target",
                                                    AuditEvent.object_id == str(tid)).order_by(AuditEvent.id)).all()
        chain = [(e.data["from"], e.data["to"]) for e in events]
    assert chain == [
        ("scheduled", "queued"), ("queued", "publishing"), ("publishing", "unknown"),
        ("unknown", "queued"), ("queued", "publishing"), ("publishing", "published"),
    ]
    # each recorded change continues from the previous one
    for (a, b), (c, _) in zip(chain, chain[1:]):
        assert b == c


@pytest.fixture
def engine_settings():
    # DST test dates are fixed in the past: allow any lateness so they publish
    return {"max_lateness_seconds": 10 * 365 * 86400}


def test_dst_transitions_in_the_workspace_zone(engine):
    """Posts set in New York wall-clock time around both 2025 DST changes are
    claimed at their own UTC instant, in order, each exactly once."""
    ny = ZoneInfo("America/New_York")
    acct = engine.account()
    local = {
        "before spring": datetime(2025, 3, 9, 1, 30, tzinfo=ny),           # EST, 06:30Z
        "after spring": datetime(2025, 3, 9, 3, 30, tzinfo=ny),            # EDT, 07:30Z
        "next day 9am": datetime(2025, 3, 10, 9, 0, tzinfo=ny),            # EDT, 13:00Z
        "fall first 1:30": datetime(2025, 11, 2, 1, 30, fold=0, tzinfo=ny),  # EDT, 05:30Z
        "fall second 1:30": datetime(2025, 11, 2, 1, 30, fold=1, tzinfo=ny),  # EST, 06:30Z
    }
    utc = {k: v.astimezone(UTC) for k, v in local.items()}
    assert utc["before spring"] == datetime(2025, 3, 9, 6, 30, tzinfo=UTC)
    assert utc["after spring"] - utc["before spring"] == timedelta(hours=1)
    assert utc["next day 9am"] == datetime(2025, 3, 10, 13, 0, tzinfo=UTC)
    assert utc["fall second 1:30"] - utc["fall first 1:30"] == timedelta(hours=1)
    made = {k: engine.post([acct], k, due=v, scheduled_at=v) for k, v in utc.items()}
    d = Dispatcher(engine.rt, engine.queue)
    order = []
    for tick in [datetime(2025, 3, 9, 6, 29, tzinfo=UTC), datetime(2025, 3, 9, 6, 30, tzinfo=UTC),
                 datetime(2025, 3, 9, 7, 29, tzinfo=UTC), datetime(2025, 3, 9, 7, 30, tzinfo=UTC),
                 datetime(2025, 3, 10, 12, 59, tzinfo=UTC), datetime(2025, 3, 10, 13, 0, tzinfo=UTC),
                 datetime(2025, 11, 2, 5, 30, tzinfo=UTC), datetime(2025, 11, 2, 6, 29, tzinfo=UTC),
                 datetime(2025, 11, 2, 6, 30, tzinfo=UTC)]:
        got = d.dispatch_due(tick)
        engine.run_jobs()
        order.append(got)
    assert order == [0, 1, 0, 1, 0, 1, 1, 0, 1]
    engine.settle()
    for k, m in made.items():
        t = engine.target(m.target_ids[0])
        assert t.status == TargetStatus.PUBLISHED, k
        assert t.scheduled_at == utc[k]  # stored in UTC, unchanged by any DST change
    assert engine.fake.copies() == 5


def test_claim_uses_the_due_index(engine):
    """The dispatcher's claim reads the (status, next_attempt_at) index."""
    from sqlalchemy import text

    with engine.rt.db.session() as s:
        if engine.rt.db.dialect == "postgresql":
            s.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(r[0] for r in s.execute(text(
                "EXPLAIN SELECT id FROM post_targets WHERE status = 'scheduled' AND next_attempt_at <= now() "
                "ORDER BY next_attempt_at LIMIT 500 FOR UPDATE SKIP LOCKED")))
        else:
            plan = "\n".join(str(r[-1]) for r in s.execute(text(
                "EXPLAIN QUERY PLAN SELECT id FROM post_targets WHERE status = 'scheduled' "
                "AND next_attempt_at <= '2030-01-01' ORDER BY next_attempt_at LIMIT 500")))
    assert "ix_targets_due" in plan, plan


def test_claimed_count_matches_database(engine, holding):
    acct = engine.account()
    engine.posts(12, acct)
    d = Dispatcher(engine.rt, holding, batch_size=5)
    assert [d.dispatch_due(), d.dispatch_due(), d.dispatch_due(), d.dispatch_due()] == [5, 5, 2, 0]
    with engine.rt.db.session() as s:
        assert s.scalar(select(func.count()).select_from(PostTarget)
                        .where(PostTarget.status == TargetStatus.QUEUED)) == 12


def test_dispatcher_sleeps_until_the_next_due_target(engine):
    acct = engine.account()
    assert engine.dispatcher.until_next_due(5.0) == 5.0  # nothing scheduled
    engine.post([acct], due=utcnow() + timedelta(hours=1))
    assert engine.dispatcher.until_next_due(5.0) == 5.0  # due later than the longest nap
    engine.post([acct], due=utcnow() + timedelta(seconds=2))
    wait = engine.dispatcher.until_next_due(5.0)
    assert 0.0 < wait <= 2.0
