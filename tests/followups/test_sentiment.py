"""Sentiment: new comments are scored in batches (one AI call for N
comments, metered as one request of N items), each comment once even with
two jobs at a time; a spent AI budget leaves them unscored, without errors,
until later."""
from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from clientnest.db import utcnow
from clientnest.models import AIUsageEvent
from clientnest.queue import InProcessJobQueue, get_queue
from clientnest.services.inbox import IncomingComment, store_comments
from clientnest.services.replies import process_workspace

#: settings that make the priced test provider answer
PRICED = {"ai_provider": "priced", "plugin_config_extra": {"priced": {"api_key": "k"}}}

TEXTS = [
    "Absolutely love this, great job!",
    "This is the worst service ever, I want a refund",
    "What time do you open on Sunday?",
    "ok",
    "Beautiful photos, thank you!",
    "My order never arrived and nobody answers. Unacceptable!!!",
    "Nice.",
]


def _arrive(world: Any, texts: list[str]) -> Any:
    """Comments delivered to the inbox (as a webhook would)."""
    seeded = world.published()
    with world.rt.db.transaction() as s:
        store_comments(s, [IncomingComment(platform="social", account_external_id=f"acct-{world._n}",
                                           external_id=f"w{i}", text=t, post_external_id=seeded.external_id)
                           for i, t in enumerate(texts)], source="webhook")
    return seeded


def _usage(world: Any, feature: str) -> list[AIUsageEvent]:
    with world.rt.db.session() as s:
        return list(s.scalars(select(AIUsageEvent).where(AIUsageEvent.feature == feature)
                              .order_by(AIUsageEvent.id)).all())


def test_new_comments_are_scored_in_one_batched_call(world: Any, counter: Any) -> None:
    world.set_workspace(reply_mode="off")
    _arrive(world, TEXTS)
    stats = world.sweep()  # the sweep finds the unscored comments and enqueues the workspace's job
    assert stats.scoring_jobs == 1
    assert counter.sentiment_batches == [TEXTS]  # one provider call for all seven
    events = _usage(world, "sentiment")
    assert [(e.items, e.status, e.provider) for e in events] == [(7, "ok", "offline")]
    rows = {r.text: r for r in world.comments()}
    assert all(r.sentiment_label in ("positive", "neutral", "negative") and r.scored_at for r in rows.values())
    assert rows[TEXTS[0]].sentiment_label == "positive" and rows[TEXTS[0]].needs_human is False
    assert rows[TEXTS[1]].sentiment_label == "negative" and rows[TEXTS[1]].needs_human is True
    assert "complaint" in rows[TEXTS[1]].sentiment_reasons
    assert rows[TEXTS[2]].needs_human is True and "question" in rows[TEXTS[2]].sentiment_reasons
    assert all(r.ai_next_at is None and r.reply_status is None for r in rows.values())  # policy off
    # scored comments are not scored again
    assert world.sweep().scoring_jobs == 0
    assert len(counter.sentiment_batches) == 1


@pytest.mark.parametrize("followup_settings", [{"sentiment_batch_size": 3}])
def test_batches_are_limited_in_size(world: Any, counter: Any, followup_settings: Any) -> None:
    world.set_workspace(reply_mode="off")
    _arrive(world, TEXTS)
    stats = process_workspace(world.rt, world.workspace_id)
    assert [len(b) for b in counter.sentiment_batches] == [3, 3, 1]
    assert stats.scored == 7 and stats.ai_calls == 3
    assert [e.items for e in _usage(world, "sentiment")] == [3, 3, 1]


@pytest.mark.parametrize("followup_settings", [{"sentiment_batch_size": 2}])
def test_two_jobs_at_once_score_each_comment_once(world: Any, counter: Any, followup_settings: Any) -> None:
    world.set_workspace(reply_mode="off")
    _arrive(world, TEXTS)
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def run() -> None:
        barrier.wait()
        results.append(process_workspace(world.rt, world.workspace_id))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    scored = [text for batch in counter.sentiment_batches for text in batch]
    assert sorted(scored) == sorted(TEXTS)  # every comment exactly once
    assert sum(r.scored for r in results) == 7
    assert sum(e.items for e in _usage(world, "sentiment")) == 7


@pytest.mark.parametrize("followup_settings", [{"ai_provider": "priced", "ai_budget_retry_seconds": 600, **PRICED}])
def test_spent_budget_leaves_comments_unscored_until_later(world: Any, counter: Any, followup_settings: Any) -> None:
    world.set_workspace(ai_budget_usd=Decimal("0"), reply_mode="off")
    _arrive(world, TEXTS[:3])
    stats = world.sweep()
    assert stats.scoring_jobs == 1
    rows = world.comments()
    assert all(r.sentiment_label is None for r in rows)  # unscored, and nothing crashed
    assert counter.sentiment_batches == []  # the provider was never called
    assert _usage(world, "sentiment") == []  # nothing reserved or billed
    assert all(r.ai_next_at is not None and r.ai_next_at > utcnow() + timedelta(seconds=590) for r in rows)
    queue = get_queue(world.rt)
    if isinstance(queue, InProcessJobQueue):
        assert queue.failed == 0
    # the sweep does not hammer a spent budget
    assert world.sweep().scoring_jobs == 0
    # next month (or a raised budget) and the back-off over: they are scored
    world.set_workspace(ai_budget_usd=Decimal("5"))
    assert world.sweep(utcnow() + timedelta(seconds=601)).scoring_jobs == 1
    # the job runs at the real time; the sweep's clock only decided it was due
    later = process_workspace(world.rt, world.workspace_id, now=utcnow() + timedelta(seconds=601))
    rows = world.comments()
    assert all(r.sentiment_label is not None for r in rows), later
    assert len(counter.sentiment_batches) == 1
    assert [(e.provider, e.items) for e in _usage(world, "sentiment")] == [("priced", 3)]


@pytest.mark.parametrize("followup_settings", [{"ai_provider": "priced", **PRICED}])
def test_budget_enough_to_score_but_not_to_draft(world: Any, counter: Any, followup_settings: Any) -> None:
    # a sentiment batch of one short text is estimated below $0.0007, a reply draft above it
    world.set_workspace(ai_budget_usd=Decimal("0.0007"), reply_mode="draft")
    _arrive(world, ["Lovely!"])
    stats = process_workspace(world.rt, world.workspace_id)
    row = world.comments()[0]
    assert stats.scored == 1 and stats.budget_exhausted and stats.drafted == 0
    assert row.sentiment_label == "positive" and row.reply_status == "pending" and row.reply_text is None
    assert row.ai_next_at is not None and row.ai_next_at > utcnow()
    world.set_workspace(ai_budget_usd=Decimal("1"))
    again = process_workspace(world.rt, world.workspace_id, now=utcnow() + timedelta(hours=2))
    row = world.comments()[0]
    assert again.drafted == 1 and again.scored == 0  # scored once only
    assert row.reply_status == "drafted" and row.reply_text
    assert len(counter.sentiment_batches) == 1
