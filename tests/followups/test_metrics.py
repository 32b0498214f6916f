"""Metrics collection: snapshots stored normalised (with the raw answer), one
per slot; errors by class: transient retried at the platform's time, auth
refreshed once (then the account needs reconnecting and the follow-up
waits), permanent recorded and stopped."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from clientnest.db import utcnow
from clientnest.models import AccountStatus, FollowUp, MetricSnapshot, SocialAccount
from clientnest.services.metrics import normalize_count, post_metrics


def _setup(world: Any, **stats: Any) -> tuple[Any, FollowUp]:
    seeded = world.published(published_at=utcnow() - timedelta(hours=2))
    world.fake.set_stats(seeded.external_id, **stats)
    world.schedule(seeded.target_id)
    slot0 = next(f for f in world.followups(seeded.target_id) if f.kind == "metrics" and f.slot == 0)
    return seeded, slot0


def _snapshots(world: Any, target_id: int) -> list[MetricSnapshot]:
    with world.rt.db.session() as s:
        return list(s.scalars(select(MetricSnapshot).where(MetricSnapshot.target_id == target_id)
                              .order_by(MetricSnapshot.id)).all())


def _make_due(world: Any, fid: int) -> None:
    with world.rt.db.transaction() as s:
        s.execute(update(FollowUp).where(FollowUp.id == fid).values(due_at=utcnow() - timedelta(seconds=1)))


def test_metrics_are_stored_normalised_with_the_raw_answer(world: Any) -> None:
    seeded, slot0 = _setup(world, views=120, likes="7", replies=3, plays=-1)
    world.sweep()
    snaps = _snapshots(world, seeded.target_id)
    assert len(snaps) == 1
    snap = snaps[0]
    assert (snap.impressions, snap.likes, snap.comments) == (120, 7, 3)  # "7" read as a number
    assert snap.shares is None and snap.reach is None  # not given: unknown, not zero
    assert snap.video_views is None  # -1 is no count
    assert snap.raw == {"id": seeded.external_id, "stats": {"views": 120, "likes": "7", "replies": 3, "plays": -1}}
    assert snap.workspace_id == world.workspace_id
    done = world.followup(slot0.id)
    assert done.status == "done" and done.done_at is not None and done.last_error is None
    # the 6 h slot is not due yet; the next collection adds to the history
    slot1 = next(f for f in world.followups(seeded.target_id) if f.kind == "metrics" and f.slot == 1)
    assert world.followup(slot1.id).status == "pending"
    world.fake.set_stats(seeded.external_id, views=300, likes=9, replies=4, reposts=2)
    _make_due(world, slot1.id)
    world.sweep()
    assert [s.impressions for s in _snapshots(world, seeded.target_id)] == [120, 300]
    with world.rt.db.session() as s:
        body = post_metrics(s, world.workspace_id, seeded.post_id)
    target = body["targets"][0]
    assert target["latest"]["metrics"]["impressions"] == 300 and target["latest"]["metrics"]["shares"] == 2
    assert [h["metrics"]["likes"] for h in target["history"]] == [7, 9]
    assert body["totals"]["impressions"] == 300 and body["totals"]["saves"] is None


def test_normalize_count() -> None:
    assert [normalize_count(v) for v in (5, "12", 3.6, " 8 ", None, True, "n/a", -2)] == [5, 12, 4, 8, None, None,
                                                                                          None, None]


def test_rate_limit_retries_at_the_platforms_time(world: Any) -> None:
    seeded, slot0 = _setup(world, views=1)
    reset = int(utcnow().timestamp()) + 120
    world.fake.fail("metrics", "rate_limit", reset_at=reset)
    world.sweep()
    row = world.followup(slot0.id)
    assert row.status == "pending" and row.attempts == 1
    assert row.due_at == datetime.fromtimestamp(reset, UTC)  # exactly, not our backoff
    assert row.last_error["kind"] == "not_sent"
    assert _snapshots(world, seeded.target_id) == []
    # a transient error never disconnects an account
    with world.rt.db.session() as s:
        assert s.get(SocialAccount, seeded.account_id).status == AccountStatus.CONNECTED
    world.sweep()  # not due before the reset
    assert world.followup(slot0.id).status == "pending"
    world.sweep(datetime.fromtimestamp(reset + 1, UTC))
    row = world.followup(slot0.id)
    assert row.status == "done" and row.attempts == 0 and row.last_error is None
    assert len(_snapshots(world, seeded.target_id)) == 1


def test_permanent_error_is_recorded_and_stops(world: Any) -> None:
    seeded, slot0 = _setup(world, views=1)
    world.fake.fail("metrics", "permanent", message="This post is not visible to you.", code=63)
    world.sweep()
    row = world.followup(slot0.id)
    assert row.status == "failed" and row.due_at is None
    assert row.last_error["kind"] == "permanent" and row.last_error["message"] == "This post is not visible to you."
    world.sweep(utcnow() + timedelta(minutes=5))
    assert world.followup(slot0.id).status == "failed"
    assert world.fake.counts["metrics"] == 1  # never asked again for that slot


def test_a_post_gone_from_the_platform_fails_its_slot(world: Any) -> None:
    seeded, slot0 = _setup(world, views=1)
    with world.fake._lock:
        world.fake.posts = [p for p in world.fake.posts if p["id"] != seeded.external_id]
    world.sweep()
    row = world.followup(slot0.id)
    assert row.status == "failed" and "no metrics" in row.last_error["message"]


def test_repeated_transient_failures_give_up_after_max_attempts(world: Any) -> None:
    seeded, slot0 = _setup(world, views=1)
    world.fake.fail("metrics", "error", times=3, status=502)
    now = utcnow()
    for i in range(3):
        world.sweep(now + timedelta(seconds=10 * i))
    row = world.followup(slot0.id)
    assert row.status == "failed" and row.attempts == 3
    assert row.last_error["message"].startswith("gave up after 3 attempts")
    assert world.fake.counts["metrics"] == 3


def test_expired_token_is_refreshed_once_and_the_collection_succeeds(world: Any) -> None:
    seeded, slot0 = _setup(world, views=42)
    with world.rt.db.session() as s:
        before = s.get(SocialAccount, seeded.account_id).credentials_encrypted
    world.fake.expire_tokens(f"acct-{world._n}")
    world.sweep()
    assert world.followup(slot0.id).status == "done"
    assert world.fake.counts["refresh"] == 1
    assert _snapshots(world, seeded.target_id)[0].impressions == 42
    with world.rt.db.session() as s:
        acct = s.get(SocialAccount, seeded.account_id)
        assert acct.status == AccountStatus.CONNECTED and acct.credentials_encrypted != before


def test_refused_refresh_marks_the_account_and_the_followup_waits(world: Any) -> None:
    seeded, slot0 = _setup(world, views=42)
    world.fake.expire_tokens(f"acct-{world._n}")
    world.fake.fail("refresh", "fail", message="refresh token revoked")
    world.sweep()
    with world.rt.db.session() as s:
        acct = s.get(SocialAccount, seeded.account_id)
        assert acct.status == AccountStatus.NEEDS_RECONNECT
        assert "Reconnect the account" in (acct.status_reason or "")
    row = world.followup(slot0.id)
    assert row.status == "pending" and row.last_error["kind"] == "auth"
    # not claimed while the account needs reconnecting, so never a wasted call
    calls = world.fake.counts["metrics"]
    assert world.sweep(utcnow() + timedelta(minutes=1)).claimed == 0
    assert world.fake.counts["metrics"] == calls
