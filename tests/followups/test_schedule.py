"""Follow-ups are created when a target is published: one per metrics slot and
one comment poll, only for what the connector can do, idempotently; the poll
cadence; the sweep's backfill of targets published without follow-ups."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from clientnest.db import utcnow
from clientnest.engine.dispatcher import Dispatcher
from clientnest.followups import next_comment_poll, schedule_followups_for
from clientnest.models import FollowUp, Post, PostStatus, PostTarget, SocialAccount, TargetStatus
from clientnest.queue import get_queue
from clientnest.settings import Settings


def _publish_through_engine(world: Any, platform: str) -> int:
    """Create a due target and let the real dispatcher and publish job publish it."""
    rt = world.rt
    creds = world.fake.add_account(f"pub-{platform}")
    with rt.db.transaction() as s:
        acct = SocialAccount(workspace_id=world.workspace_id, platform=platform, external_id=f"pub-{platform}",
                             credentials_encrypted=rt.vault.encrypt(creds.to_json()), token_expires_at=creds.expires_at)
        s.add(acct)
        s.flush()
        due = utcnow() - timedelta(seconds=1)
        post = Post(workspace_id=world.workspace_id, text=f"hello from {platform}", status=PostStatus.SCHEDULED,
                    scheduled_at=due)
        s.add(post)
        s.flush()
        t = PostTarget(post_id=post.id, workspace_id=world.workspace_id, account_id=acct.id, platform=platform,
                       status=TargetStatus.SCHEDULED, scheduled_at=due, next_attempt_at=due)
        s.add(t)
        s.flush()
        tid = t.id
    Dispatcher(rt, get_queue(rt)).tick(force=True)
    world.run_jobs()
    with rt.db.session() as s:
        target = s.get(PostTarget, tid)
        assert target.status == TargetStatus.PUBLISHED, target.last_error
    return tid


def test_publish_creates_metrics_slots_and_a_comment_poll(world: Any) -> None:
    tid = _publish_through_engine(world, "social")
    # the engine does not call it yet: the lead wires it into the publish success path
    assert world.schedule(tid) == 6
    rows = world.followups(tid)
    with world.rt.db.session() as s:
        published_at = s.get(PostTarget, tid).published_at
    metrics = [r for r in rows if r.kind == "metrics"]
    comments = [r for r in rows if r.kind == "comments"]
    assert [r.slot for r in metrics] == [0, 1, 2, 3, 4]
    assert [r.due_at - published_at for r in metrics] == [
        timedelta(hours=h) for h in (1, 6, 24, 72, 168)]
    assert len(comments) == 1 and comments[0].due_at - published_at == timedelta(minutes=30)
    assert all(r.status == "pending" and r.runs == 0 and r.workspace_id == world.workspace_id for r in rows)
    # idempotent: a retry of the publish transaction, or the backfill, adds nothing
    assert world.schedule(tid) == 0
    assert len(world.followups(tid)) == 6


def test_connector_without_metrics_or_comments_gets_no_followups(world: Any) -> None:
    tid = _publish_through_engine(world, "fake")  # FakeConnector: publish only
    assert world.schedule(tid) == 0
    assert world.followups(tid) == []


def test_only_published_targets_get_followups(world: Any) -> None:
    seeded = world.published()
    with world.rt.db.transaction() as s:
        s.get(PostTarget, seeded.target_id).status = TargetStatus.FAILED
    assert world.schedule(seeded.target_id) == 0


def test_schedule_accepts_the_row_and_the_session_of_the_caller(world: Any) -> None:
    seeded = world.published()
    with world.rt.db.transaction() as s:
        target = s.get(PostTarget, seeded.target_id)
        assert schedule_followups_for(s, target, runtime=world.rt) == 6
        # same transaction: visible before the commit, gone if it rolls back
        assert len(s.scalars(select(FollowUp).where(FollowUp.target_id == target.id)).all()) == 6


@pytest.mark.parametrize("followup_settings", [{"metrics_schedule_hours": "2, 0.5", "comment_poll_until_hours": 1}])
def test_the_schedule_is_a_setting(world: Any, followup_settings: dict[str, Any]) -> None:
    assert world.rt.settings.metrics_schedule_hours == (0.5, 2.0)
    seeded = world.published(published_at=utcnow() - timedelta(hours=3))
    # the polling window (1 h) is over: no comment poll; metrics slots still due (late)
    assert world.schedule(seeded.target_id) == 2
    rows = world.followups(seeded.target_id)
    assert [(r.kind, r.slot) for r in rows] == [("metrics", 0), ("metrics", 1)]


def test_comment_poll_cadence() -> None:
    s = Settings()
    pub = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert next_comment_poll(s, pub, pub + timedelta(minutes=10)) == pub + timedelta(minutes=40)
    assert next_comment_poll(s, pub, pub + timedelta(hours=47, minutes=50)) == pub + timedelta(hours=48, minutes=20)
    assert next_comment_poll(s, pub, pub + timedelta(hours=50)) == pub + timedelta(hours=56)
    # the last poll lands on the end of the window, then polling stops
    assert next_comment_poll(s, pub, pub + timedelta(hours=165)) == pub + timedelta(hours=168)
    assert next_comment_poll(s, pub, pub + timedelta(hours=168)) is None


def test_sweep_backfills_targets_published_without_followups(world: Any, recording: Any) -> None:
    from clientnest.followups import sweep

    recent = world.published(published_at=utcnow() - timedelta(hours=2))
    old = world.published(published_at=utcnow() - timedelta(days=30))
    plain = world.published(platform="fake")
    stats = sweep(world.rt, queue=recording, backfill=True)
    assert stats.backfilled == 6
    assert len(world.followups(recent.target_id)) == 6
    assert world.followups(old.target_id) == [] and world.followups(plain.target_id) == []
    # the 1 h slot and the first comment poll of the recent one were due: claimed at once
    assert sorted(recording.ids) == sorted(
        f"followup-{f.id}-1" for f in world.followups(recent.target_id) if f.status == "queued")
    assert stats.claimed == 2
    assert sweep(world.rt, queue=recording, backfill=True).backfilled == 0

