"""The publish job against the fake platform over HTTP: success, each error
class, rate-limit timing, reconciliation, lateness, partial success."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from clientnest.db import utcnow
from clientnest.models import AccountStatus, AttemptOutcome, PostStatus, TargetStatus


def test_success_publishes_once_and_records_everything(engine):
    acct = engine.account()
    made = engine.post([acct], "Hello, world")
    engine.settle()
    t = engine.target(made.target_ids[0])
    assert t.status == TargetStatus.PUBLISHED
    assert t.external_id and t.external_id.startswith("fp_")
    assert t.external_url and t.external_url.endswith(t.external_id)
    assert t.published_at is not None and t.last_error is None and t.lease_expires_at is None
    assert engine.fake.copies(text="Hello, world") == 1
    assert engine.fake.counts["publish"] == 1
    rows = engine.attempt_rows(t.id)
    assert [(a.kind, a.outcome, a.external_id) for a in rows] == [("publish", "published", t.external_id)]
    assert rows[0].finished_at is not None and rows[0].worker
    assert engine.post_row(made.post_id).status == PostStatus.PUBLISHED
    assert engine.audit_actions("post_target", t.id) == ["target.queued", "target.publishing", "target.published"]
    assert "post.status_changed" in engine.audit_actions("post", made.post_id)


def test_not_due_yet_is_left_alone(engine):
    acct = engine.account()
    made = engine.post([acct], due=utcnow() + timedelta(hours=1))
    engine.step()
    assert engine.target(made.target_ids[0]).status == TargetStatus.SCHEDULED
    assert engine.fake.counts["publish"] == 0


def test_not_sent_is_retried_then_published(engine):
    acct = engine.account()
    engine.fake.fail("publish", "unavailable", retry_after=0)
    made = engine.post([acct], "retry me")
    engine.settle()
    t = engine.target(made.target_ids[0])
    assert t.status == TargetStatus.PUBLISHED
    assert engine.attempts(t.id) == [("publish", "not_sent"), ("publish", "published")]
    assert engine.fake.copies(text="retry me") == 1
    assert engine.account_row(acct).status == AccountStatus.CONNECTED


def test_rate_limit_reset_header_delays_exactly_as_told(engine):
    acct = engine.account()
    reset = int(utcnow().timestamp()) + 120
    engine.fake.fail("publish", "rate_limit", reset_at=reset)
    made = engine.post([acct])
    engine.step()
    t = engine.target(made.target_ids[0])
    assert t.status == TargetStatus.SCHEDULED
    assert t.next_attempt_at == datetime.fromtimestamp(reset, UTC)
    assert t.last_error["kind"] == "not_sent" and t.last_error["status"] == 429
    assert t.last_error["retry_at"] == datetime.fromtimestamp(reset, UTC).isoformat()
    # nothing happens before the reset time
    engine.step()
    assert engine.fake.counts["publish"] == 1
    # at the reset time it goes out
    engine.step(now=datetime.fromtimestamp(reset, UTC) + timedelta(seconds=1))
    assert engine.target(t.id).status == TargetStatus.PUBLISHED


def test_retry_after_seconds_is_honoured(engine):
    acct = engine.account()
    engine.fake.fail("publish", "rate_limit", retry_after=90)
    made = engine.post([acct])
    before = utcnow()
    engine.step()
    after = utcnow()
    t = engine.target(made.target_ids[0])
    assert t.status == TargetStatus.SCHEDULED
    # the header said 90 s: the retry is 90 s after the answer (bounded by when we asked)
    assert before + timedelta(seconds=89) <= t.next_attempt_at <= after + timedelta(seconds=91)


def test_backoff_grows_with_jitter_within_bounds(engine):
    acct = engine.account()
    engine.fake.fail("publish", "unavailable", retry_after="soon")  # not a number: our own backoff
    made = engine.post([acct])
    before = utcnow()
    engine.step()
    t = engine.target(made.target_ids[0])
    base = engine.rt.settings.retry_base_seconds
    assert t.status == TargetStatus.SCHEDULED
    assert before + timedelta(seconds=base / 2) <= t.next_attempt_at <= utcnow() + timedelta(seconds=base)


def test_not_sent_attempts_are_bounded(engine):
    acct = engine.account()
    engine.fake.fail("publish", "rate_limit", times=10, retry_after=0)
    made = engine.post([acct])
    engine.settle()
    t = engine.target(made.target_ids[0])
    limit = engine.rt.settings.max_publish_attempts
    assert t.status == TargetStatus.FAILED
    assert t.last_error["message"] == f"gave up after {limit} attempts: Rate limit exceeded"
    assert engine.fake.counts["publish"] == limit
    assert engine.fake.copies() == 0
    assert engine.account_row(acct).status == AccountStatus.CONNECTED  # transient never disconnects
    assert engine.post_row(made.post_id).status == PostStatus.FAILED


@pytest.mark.parametrize("status", [500, 504])
def test_ambiguous_error_after_creating_is_reconciled_not_resent(engine, status):
    acct = engine.account()
    engine.fake.fail("publish", "error", status=status, created=True)
    made = engine.post([acct], f"ambiguous {status}")
    engine.settle()
    t = engine.target(made.target_ids[0])
    assert t.status == TargetStatus.PUBLISHED
    assert engine.fake.copies(text=f"ambiguous {status}") == 1
    assert engine.fake.counts["publish"] == 1
    assert engine.fake.counts["lookup"] == 1
    assert engine.attempts(t.id) == [("publish", "ambiguous"), ("reconcile", "found")]
    assert t.external_id == engine.fake.posts_of(engine.account_row(acct).external_id)[0]["id"]
    assert "target.unknown" in engine.audit_actions("post_target", t.id)


def test_ambiguous_error_without_creating_is_looked_up_then_sent(engine):
    acct = engine.account()
    engine.fake.fail("publish", "error", status=502, created=False)
    made = engine.post([acct], "lost in transit")
    engine.settle()
    t = engine.target(made.target_ids[0])
    assert t.status == TargetStatus.PUBLISHED
    assert engine.fake.copies(text="lost in transit") == 1
    assert engine.attempts(t.id) == [("publish", "ambiguous"), ("reconcile", "not_found"), ("publish", "published")]


def test_slow_platform_creates_then_times_out_one_copy(engine):
    acct = engine.account()
    engine.fake.fail("publish", "slow", delay=2.5)  # client read timeout is 1 s
    made = engine.post([acct], "slow but sure")
    engine.settle()
    t = engine.target(made.target_ids[0])
    assert t.status == TargetStatus.PUBLISHED
    assert engine.fake.copies(text="slow but sure") == 1
    assert engine.attempts(t.id) == [("publish", "ambiguous"), ("reconcile", "found")]
    first = engine.attempt_rows(t.id)[0]
    assert "ReadTimeout" in first.error["message"]


def test_lookup_failure_keeps_it_unknown_and_never_resends(engine):
    acct = engine.account()
    engine.fake.fail("publish", "error", status=500, created=True)
    engine.fake.fail("lookup", "unavailable", retry_after=0)
    made = engine.post([acct], "check twice")
    engine.settle()
    t = engine.target(made.target_ids[0])
    assert t.status == TargetStatus.PUBLISHED
    assert engine.fake.copies(text="check twice") == 1
    assert engine.attempts(t.id) == [("publish", "ambiguous"), ("reconcile", "not_sent"), ("reconcile", "found")]


def test_permanent_error_fails_with_platform_message(engine):
    acct = engine.account()
    engine.fake.fail("publish", "permanent", message="You are not allowed to create a Tweet with duplicate content.")
    made = engine.post([acct])
    engine.settle()
    t = engine.target(made.target_ids[0])
    assert t.status == TargetStatus.FAILED
    assert t.last_error["message"] == "You are not allowed to create a Tweet with duplicate content."
    assert t.last_error["kind"] == "permanent" and t.last_error["code"] == 187
    assert engine.fake.counts["publish"] == 1
    assert engine.attempts(t.id) == [("publish", "permanent")]
    assert engine.account_row(acct).status == AccountStatus.CONNECTED
    assert engine.post_row(made.post_id).status == PostStatus.FAILED


def test_partial_success_one_failure_does_not_fail_the_others(engine):
    a1, a2, a3 = engine.account(), engine.account(), engine.account()
    engine.fake.fail("publish", "permanent", message="Image required")
    made = engine.post([a1, a2, a3], "to three accounts")
    engine.settle()
    statuses = sorted(engine.target(t).status for t in made.target_ids)
    assert statuses == [TargetStatus.FAILED, TargetStatus.PUBLISHED, TargetStatus.PUBLISHED]
    assert engine.fake.copies(text="to three accounts") == 2
    assert engine.post_row(made.post_id).status == PostStatus.PARTIALLY_PUBLISHED


def test_text_override_is_what_gets_published(engine):
    a1, a2 = engine.account(), engine.account()
    made = engine.post([a1, a2], "base text", overrides=[None, "override text"])
    engine.settle()
    assert engine.fake.copies(text="base text") == 1
    assert engine.fake.copies(text="override text") == 1


def test_missed_its_time_fails_instead_of_posting_late(engine):
    acct = engine.account()
    late = utcnow() - timedelta(seconds=engine.rt.settings.max_lateness_seconds + 60)
    made = engine.post([acct], "too late", due=late)
    engine.settle()
    t = engine.target(made.target_ids[0])
    assert t.status == TargetStatus.FAILED
    assert t.last_error["kind"] == "missed"
    assert t.last_error["message"].startswith("missed its time")
    assert engine.fake.counts["publish"] == 0


def test_late_but_within_the_limit_still_goes_out(engine):
    acct = engine.account()
    late = utcnow() - timedelta(seconds=engine.rt.settings.max_lateness_seconds - 600)
    made = engine.post([acct], "better late", due=late)
    engine.settle()
    assert engine.target(made.target_ids[0]).status == TargetStatus.PUBLISHED


def test_rate_limit_beyond_the_lateness_limit_fails_now(engine):
    acct = engine.account()
    reset = int(utcnow().timestamp()) + engine.rt.settings.max_lateness_seconds + 3600
    engine.fake.fail("publish", "rate_limit", reset_at=reset)
    made = engine.post([acct])
    engine.step()
    t = engine.target(made.target_ids[0])
    assert t.status == TargetStatus.FAILED
    assert t.last_error["kind"] == "missed" and "Rate limit exceeded" in t.last_error["message"]


def test_canceled_target_in_the_queue_is_not_sent(engine, holding):
    from sqlalchemy import update

    from clientnest.engine.dispatcher import Dispatcher
    from clientnest.models import PostTarget

    acct = engine.account()
    made = engine.post([acct])
    # claimed and enqueued, then canceled before a worker takes it
    assert Dispatcher(engine.rt, holding).dispatch_due() == 1
    with engine.rt.db.transaction() as s:
        s.execute(update(PostTarget).where(PostTarget.id == made.target_ids[0]).values(status=TargetStatus.CANCELED))
    assert holding.release() == 1
    engine.run_jobs()
    assert engine.target(made.target_ids[0]).status == TargetStatus.CANCELED
    assert engine.fake.counts["publish"] == 0
    assert engine.attempts(made.target_ids[0]) == []


def test_connections_are_returned_after_every_job(engine):
    acct = engine.account()
    engine.posts(40, acct)
    engine.settle()
    assert engine.statuses() == {TargetStatus.PUBLISHED: 40}
    pool = engine.rt.db.engine.pool
    assert pool.checkedout() == 0
    assert engine.fake.stats()["duplicated_keys"] == 0


def test_attempt_outcomes_are_the_documented_ones(engine):
    acct = engine.account()
    engine.fake.fail("publish", "error", status=502)
    made = engine.post([acct])
    engine.settle()
    for kind, outcome in engine.attempts(made.target_ids[0]):
        assert outcome in set(AttemptOutcome)
        assert kind in ("publish", "reconcile")


def test_post_status_right_when_targets_settle_at_once(engine):
    """Targets of one post finishing on parallel jobs: the post's status is
    derived from all of them, never left behind by a concurrent update."""
    accounts = [engine.account() for _ in range(4)]
    made = [engine.post(accounts, f"fan-out {i}") for i in range(8)]
    engine.settle()
    for m in made:
        assert engine.post_row(m.post_id).status == PostStatus.PUBLISHED
    assert engine.fake.copies() == 32


def test_media_reaches_the_connector_in_order(engine):
    from clientnest.models import Media, PostMedia

    acct = engine.account()
    made = engine.post([acct], "with pictures")
    with engine.rt.db.transaction() as s:
        ids = []
        for i in range(2):
            m = Media(workspace_id=engine.workspace_id, storage_key=f"k{i}-{made.post_id}", kind="image",
                      content_type="image/png", size=10, width=1, height=1, sha256="0" * 64)
            s.add(m)
            s.flush()
            ids.append(m.id)
        s.add_all([PostMedia(post_id=made.post_id, media_id=ids[1], position=0),
                   PostMedia(post_id=made.post_id, media_id=ids[0], position=1)])
    engine.settle()
    assert engine.target(made.target_ids[0]).status == TargetStatus.PUBLISHED
    sent = engine.fake.posts_of(engine.account_row(acct).external_id)[0]["media"]
    assert [m["id"] for m in sent] == [str(ids[1]), str(ids[0])]
    assert all(m["kind"] == "image" and m["url"] for m in sent)
