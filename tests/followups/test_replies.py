"""The reply policy (off / draft / auto_positive; a comment that needs a human
is never answered automatically) and sending a reply exactly once: "sending"
committed before the platform call, "not sent" retried at the platform's
time, an ambiguous outcome marked unknown and never re-sent blindly."""
from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from clientnest.db import utcnow
from clientnest.models import AuditEvent, InboxComment, User
from clientnest.services import replies
from clientnest.services.inbox import IncomingComment, store_comments


def _arrive(world: Any, texts: list[str], seeded: Any = None) -> tuple[Any, list[InboxComment]]:
    seeded = seeded or world.published()
    account_ext = next(p["account"] for p in world.fake.posts if p["id"] == seeded.external_id)
    incoming = []
    for t in texts:
        cid = world.fake.add_comment(seeded.external_id, t)
        incoming.append(IncomingComment(platform="social", account_external_id=account_ext, external_id=cid,
                                        text=t, post_external_id=seeded.external_id))
    with world.rt.db.transaction() as s:
        stored = store_comments(s, incoming, source="webhook").stored
    return seeded, stored


def _queued(world: Any, text: str = "Thanks so much!") -> InboxComment:
    """A comment whose reply is queued (as the API or the policy leaves it)."""
    _, (c,) = _arrive(world, ["Great post"])
    with world.rt.db.transaction() as s:
        s.execute(update(InboxComment).where(InboxComment.id == c.id).values(
            sentiment_label="positive", sentiment_score=0.8, needs_human=False,
            reply_status="queued", reply_text=text, reply_queued_at=utcnow()))
    return world.comment(c.id)


def _user(world: Any) -> User:
    with world.rt.db.transaction() as s:
        u = User(email=f"u{utcnow().timestamp()}@example.com", password_hash="x")
        s.add(u)
        s.flush()
        s.expunge(u)
        return u


def test_draft_policy_drafts_in_the_brand_voice_and_never_sends(world: Any) -> None:
    world.set_workspace(reply_mode="draft", brand_voice="Friendly and casual",
                        reply_rules=["No emojis", "Sign off as Sam"])
    _arrive(world, ["Love this so much, thank you!", "This arrived broken, I want my money back"])
    world.settle()
    rows = world.comments()
    assert [r.reply_status for r in rows] == ["drafted", "drafted"]
    for r in rows:
        assert r.reply_text.endswith("– Sam"), r.reply_text
        assert r.reply_violations == []
    assert "💛" not in rows[0].reply_text  # the casual praise template carries one; the rule removed it
    assert world.fake.replies == []


def test_off_policy_scores_but_drafts_nothing(world: Any) -> None:
    world.set_workspace(reply_mode="off")
    _arrive(world, ["Love this!"])
    world.settle()
    (row,) = world.comments()
    assert row.sentiment_label == "positive" and row.reply_status is None and row.reply_text is None


def test_auto_positive_sends_only_to_positive_comments_needing_no_human(world: Any) -> None:
    world.set_workspace(reply_mode="auto_positive")
    _, stored = _arrive(world, [
        "Love this, thank you!",                          # positive, no human needed: answered at once
        "Love it! Where can I buy it?",                   # positive but a question: needs a human
        "Worst purchase ever, it broke after a day",      # negative
        "URGENT help, I was charged twice!!!",            # needs a human
    ])
    world.settle()
    rows = {r.text: r for r in world.comments()}
    happy = rows["Love this, thank you!"]
    assert happy.sentiment_label == "positive" and happy.needs_human is False
    assert happy.reply_status == "sent" and happy.reply_external_id and happy.replied_at
    assert happy.reply_requested_by is None  # the policy sent it
    sent = world.fake.replies_to(happy.external_id)
    assert len(sent) == 1 and sent[0]["text"] == happy.reply_text
    question = rows["Love it! Where can I buy it?"]
    assert question.sentiment_label == "positive" and question.needs_human is True
    for text in ("Love it! Where can I buy it?", "Worst purchase ever, it broke after a day",
                 "URGENT help, I was charged twice!!!"):
        assert rows[text].reply_status == "drafted" and rows[text].reply_text
    assert len(world.fake.replies) == 1  # nothing else went out
    with world.rt.db.session() as s:
        actions = [a for (a,) in s.execute(select(AuditEvent.action).where(
            AuditEvent.object_type == "inbox_comment", AuditEvent.object_id == str(happy.id)).order_by(AuditEvent.id))]
    assert actions == ["inbox.reply_queued", "inbox.reply_sending", "inbox.reply_sent"]


def test_auto_positive_never_sends_a_draft_that_breaks_a_rule(world: Any) -> None:
    # rules no reply template can follow: the AI gives up, and that is never sent
    world.set_workspace(reply_mode="auto_positive", reply_rules=[
        "Never use words like thank, thanks, glad, love, appreciate, hear, made, day, kind, delighted, sharing, "
        "comment, message, received, noted, support, enjoyed, value, feedback, stopping, truly, words"])
    _arrive(world, ["Love this!"])
    world.settle()
    (row,) = world.comments()
    assert row.sentiment_label == "positive" and row.needs_human is False
    assert row.reply_status == "drafted" and row.reply_violations
    assert world.fake.replies == []


def test_send_reply_exactly_once_with_concurrent_jobs(world: Any) -> None:
    c = _queued(world)
    barrier = threading.Barrier(4)
    results: list[str] = []

    def run() -> None:
        barrier.wait()
        results.append(replies.send_reply(world.rt, c.id))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == ["sent", "skipped", "skipped", "skipped"]
    assert len(world.fake.replies_to(c.external_id)) == 1
    row = world.comment(c.id)
    assert row.reply_status == "sent" and row.reply_attempts == 1
    # a late duplicate job does nothing
    assert replies.send_reply(world.rt, c.id) == "skipped"
    assert len(world.fake.replies) == 1


@pytest.mark.parametrize("fault", [{"kind": "error", "status": 500, "created": True},
                                   {"kind": "slow", "delay": 1.5}])
def test_ambiguous_outcome_is_unknown_and_not_retried(world: Any, fault: dict[str, Any]) -> None:
    c = _queued(world)
    world.fake.fail("reply", **fault)
    assert replies.send_reply(world.rt, c.id) == "unknown"
    row = world.comment(c.id)
    assert row.reply_status == "unknown" and row.reply_error["kind"] == "ambiguous"
    assert len(world.fake.replies_to(c.external_id)) == 1  # it did reach the platform
    world.settle(utcnow() + timedelta(hours=1))
    assert world.comment(c.id).reply_status == "unknown"
    assert world.fake.counts["reply"] == 1  # never sent again by itself
    # a human must decide: a plain request is refused, resend says "I checked"
    user = _user(world)
    with world.rt.db.session() as s:
        ws = s.get(replies.Workspace, world.workspace_id)
        with pytest.raises(replies.ReplyError) as err:
            replies.request_reply(s, world.rt, ws, c.id, user)
        assert err.value.status == 409 and "resend" in err.value.message
        replies.request_reply(s, world.rt, ws, c.id, user, resend=True)
    world.run_jobs()
    assert world.comment(c.id).reply_status == "sent"
    assert len(world.fake.replies_to(c.external_id)) == 2


def test_not_sent_is_retried_at_the_platforms_time_then_sent_once(world: Any) -> None:
    c = _queued(world)
    reset = int(utcnow().timestamp()) + 90
    world.fake.fail("reply", "rate_limit", reset_at=reset)
    assert replies.send_reply(world.rt, c.id) == "scheduled"
    row = world.comment(c.id)
    assert row.reply_status == "scheduled" and row.reply_due_at == datetime.fromtimestamp(reset, UTC)
    assert row.reply_error["kind"] == "not_sent" and world.fake.replies == []
    assert world.sweep().replies_claimed == 0  # not before the reset
    assert world.sweep(datetime.fromtimestamp(reset + 1, UTC)).replies_claimed == 1
    row = world.comment(c.id)
    assert row.reply_status == "sent" and row.reply_attempts == 2 and row.reply_error is None
    assert len(world.fake.replies_to(c.external_id)) == 1


def test_permanent_refusal_fails_with_the_platforms_message(world: Any) -> None:
    c = _queued(world)
    world.fake.fail("reply", "permanent", message="You cannot reply to this comment.", code=403)
    assert replies.send_reply(world.rt, c.id) == "failed"
    row = world.comment(c.id)
    assert row.reply_status == "failed" and row.reply_error["message"] == "You cannot reply to this comment."


def test_expired_token_is_refreshed_once_and_the_reply_sent(world: Any) -> None:
    c = _queued(world)
    world.fake.expire_tokens(f"acct-{world._n}")
    assert replies.send_reply(world.rt, c.id) == "sent"
    assert world.fake.counts["refresh"] == 1
    assert len(world.fake.replies_to(c.external_id)) == 1


def test_a_reply_left_sending_by_a_dead_worker_becomes_unknown(world: Any) -> None:
    c = _queued(world)
    with world.rt.db.transaction() as s:  # claimed, then the worker died mid-call
        s.execute(update(InboxComment).where(InboxComment.id == c.id).values(
            reply_status="sending", reply_attempts=1, reply_attempted_at=utcnow() - timedelta(seconds=10)))
    stats = world.sweep()
    assert stats.replies_expired == 1
    row = world.comment(c.id)
    assert row.reply_status == "unknown" and "check the platform" in row.reply_error["message"]
    assert world.fake.replies == []


def test_a_lost_reply_job_is_enqueued_again(world: Any, recording: Any) -> None:
    from clientnest.followups import sweep

    c = _queued(world)
    with world.rt.db.transaction() as s:
        s.execute(update(InboxComment).where(InboxComment.id == c.id).values(
            reply_queued_at=utcnow() - timedelta(seconds=30)))
    stats = sweep(world.rt, queue=recording, backfill=False)
    assert stats.replies_requeued == 1 and recording.ids == [f"reply-{c.id}-0"]
    assert sweep(world.rt, queue=recording, backfill=False).replies_requeued == 0  # it is in the queue now


def test_a_success_recorded_after_the_lease_resolves_the_unknown(world: Any) -> None:
    c = _queued(world)
    job = replies._claim_send(world.rt, c.id)  # "sending" committed; the platform call is slow
    assert not isinstance(job, str)
    world.sweep(utcnow() + timedelta(seconds=world.rt.settings.publish_lease_seconds + 1))
    assert world.comment(c.id).reply_status == "unknown"
    # the call did succeed in the end: the outcome is known now
    assert replies._settle(world.rt, job, "sent", reply_external_id="r_late", replied_at=utcnow()) == "sent"
    row = world.comment(c.id)
    assert row.reply_status == "sent" and row.reply_external_id == "r_late" and row.reply_error is None
    # a failure that late changes nothing: the human still checks
    c2 = _queued(world)
    job2 = replies._claim_send(world.rt, c2.id)
    world.sweep(utcnow() + timedelta(seconds=world.rt.settings.publish_lease_seconds + 1))
    assert replies._settle(world.rt, job2, "failed", error={"kind": "permanent", "message": "x"}) == "lost"
    assert world.comment(c2.id).reply_status == "unknown"
