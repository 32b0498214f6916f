"""Comment polling: pages through the platform's comments, stores each new
comment once (per account and platform id, whether it came by poll or by
webhook), skips the account's own replies, polls again on the cadence and
stops when the window ends; the new comments are then scored."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update

from clientnest.db import utcnow
from clientnest.models import AuditEvent, FollowUp, InboxComment, PostTarget
from clientnest.services.inbox import IncomingComment, store_comments


def _poll_setup(world: Any, n: int = 5) -> tuple[Any, FollowUp, list[str]]:
    seeded = world.published(published_at=utcnow() - timedelta(hours=1))
    ids = [world.fake.add_comment(seeded.external_id, f"Love this, comment {i}!", author_id=f"u{i}",
                                  author_name=f"fan{i}") for i in range(n)]
    world.schedule(seeded.target_id)
    poll = next(f for f in world.followups(seeded.target_id) if f.kind == "comments")
    return seeded, poll, ids


def _make_due(world: Any, fid: int) -> None:
    with world.rt.db.transaction() as s:
        s.execute(update(FollowUp).where(FollowUp.id == fid).values(due_at=utcnow() - timedelta(seconds=1)))


def _received_events(world: Any) -> list[dict[str, Any]]:
    with world.rt.db.session() as s:
        return [e.data for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "inbox.comments_received")
                                          .order_by(AuditEvent.id))]


def test_poll_pages_through_and_stores_new_comments(world: Any) -> None:
    seeded, poll, ids = _poll_setup(world, 5)
    # the account's own reply on its post is not an inbox item
    own = world.fake.add_comment(seeded.external_id, "Thanks all!", author_id=f"acct-{world._n}")
    before = utcnow()
    world.sweep()
    assert world.fake.counts["comments"] == 3  # 6 comments, 2 per page
    rows = world.comments()
    assert [r.external_id for r in rows] == ids and own not in [r.external_id for r in rows]
    first = rows[0]
    assert first.target_id == seeded.target_id and first.account_id == seeded.account_id
    assert first.post_external_id == seeded.external_id and first.platform == "social"
    assert first.author_id == "u0" and first.author_name == "fan0" and first.text == "Love this, comment 0!"
    assert first.commented_at is not None and first.commented_at.tzinfo is not None
    assert first.raw["id"] == ids[0]
    row = world.followup(poll.id)
    # still inside the first 48 h: the next poll in 30 minutes
    assert row.status == "pending" and row.runs == 1 and row.attempts == 0
    assert before + timedelta(minutes=29) < row.due_at <= utcnow() + timedelta(minutes=30)
    events = _received_events(world)  # one per stored page
    assert sum(e["count"] for e in events) == 5 and {e["source"] for e in events} == {"poll"}
    # the new comments were scored, and the reply policy (draft by default) ran
    assert all(r.sentiment_label == "positive" for r in rows)
    assert all(r.reply_status == "drafted" and r.reply_text for r in rows)


def test_comments_are_stored_once_across_webhook_and_poll(world: Any) -> None:
    seeded, poll, ids = _poll_setup(world, 3)
    # the platform's webhook delivered the second comment before the poll
    account_ext = f"acct-{world._n}"
    with world.rt.db.transaction() as s:
        res = store_comments(s, [IncomingComment(platform="social", account_external_id=account_ext,
                                                 external_id=ids[1], text="Love this, comment 1!",
                                                 post_external_id=seeded.external_id)], source="webhook")
        assert len(res.stored) == 1
    world.sweep()
    assert sorted(r.external_id for r in world.comments()) == sorted(ids)
    # a later poll and a redelivered webhook add nothing
    _make_due(world, poll.id)
    world.sweep()
    with world.rt.db.transaction() as s:
        again = store_comments(s, [IncomingComment(platform="social", account_external_id=account_ext,
                                                   external_id=ids[2], text="Love this, comment 2!",
                                                   post_external_id=seeded.external_id)], source="webhook")
        assert again.stored == [] and again.duplicates == 1
    with world.rt.db.session() as s:
        n = s.scalar(select(func.count()).select_from(InboxComment).where(InboxComment.account_id == seeded.account_id))
    assert n == 3
    assert world.fake.counts["comments"] == 4  # two polls of two pages each
    by_source: dict[str, int] = {}
    for e in _received_events(world):
        by_source[e["source"]] = by_source.get(e["source"], 0) + e["count"]
    assert by_source == {"webhook": 1, "poll": 2}  # the second poll stored nothing


def test_a_new_comment_is_picked_up_by_the_next_poll(world: Any) -> None:
    seeded, poll, ids = _poll_setup(world, 1)
    world.sweep()
    late = world.fake.add_comment(seeded.external_id, "Where can I buy it?", author_id="u9")
    world.sweep()  # not due yet
    assert len(world.comments()) == 1
    _make_due(world, poll.id)
    world.sweep()
    rows = world.comments()
    assert [r.external_id for r in rows] == [ids[0], late]
    assert world.followup(poll.id).runs == 2


def test_a_failed_page_keeps_the_pages_before_it(world: Any) -> None:
    seeded, poll, ids = _poll_setup(world, 5)
    world.fake.fail("comments", "unavailable", cursor="2", retry_after=30)
    world.sweep()
    assert [r.external_id for r in world.comments()] == ids[:2]
    row = world.followup(poll.id)
    assert row.status == "pending" and row.attempts == 1 and row.last_error["kind"] == "not_sent"
    assert row.due_at > utcnow() + timedelta(seconds=25)  # the platform's Retry-After
    world.sweep(utcnow() + timedelta(seconds=31))
    assert [r.external_id for r in world.comments()] == ids  # nothing twice
    assert world.followup(poll.id).attempts == 0


def test_polling_stops_when_the_window_ends(world: Any) -> None:
    seeded, poll, _ = _poll_setup(world, 1)
    world.sweep()
    assert world.followup(poll.id).status == "pending"
    with world.rt.db.transaction() as s:  # a week has passed since publishing
        s.execute(update(PostTarget).where(PostTarget.id == seeded.target_id)
                  .values(published_at=utcnow() - timedelta(hours=169)))
    _make_due(world, poll.id)
    world.sweep()
    row = world.followup(poll.id)
    assert row.status == "done" and row.due_at is None and row.done_at is not None
    calls = world.fake.counts["comments"]
    world.sweep(utcnow() + timedelta(days=1))
    assert world.fake.counts["comments"] == calls
