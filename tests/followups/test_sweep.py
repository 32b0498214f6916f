"""The sweep claims each due follow-up exactly once, even with several sweeps
at the same moment; skips accounts that need reconnecting; and enqueues
again the jobs Redis lost (the database is the source of truth)."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from clientnest.db import utcnow
from clientnest.followups import sweep
from clientnest.followups.sweep import claim_due
from clientnest.models import AccountStatus, FollowUp, SocialAccount


def _due_followups(world: Any, targets: int) -> None:
    """``targets`` published targets whose 1 h metrics and first poll are due."""
    first = world.published(published_at=utcnow() - timedelta(hours=2))
    world.schedule(first.target_id)
    for _ in range(targets - 1):
        t = world.published(published_at=utcnow() - timedelta(hours=2), account_id=first.account_id)
        world.schedule(t.target_id)


def test_two_concurrent_sweeps_claim_each_followup_once(world: Any, recording: Any) -> None:
    _due_followups(world, 40)  # 80 due follow-ups (1 h metrics + first poll each)
    start = threading.Barrier(2)
    got: dict[int, list[tuple[int, str, int]]] = {0: [], 1: []}
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            start.wait()
            while True:  # small batches, so the two really interleave
                batch = claim_due(world.rt, utcnow(), 7)
                if not batch:
                    return
                got[n] += batch
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    claimed = [fid for n in (0, 1) for fid, _, _ in got[n]]
    counts = Counter(claimed)
    assert len(counts) == 80 and max(counts.values()) == 1, counts.most_common(3)
    # every claimed row is queued with runs 1 (claimed once)
    with world.rt.db.session() as s:
        rows = s.query(FollowUp).filter(FollowUp.id.in_(claimed)).all()
        assert {(r.status, r.runs) for r in rows} == {("queued", 1)}


def test_concurrent_full_sweeps_enqueue_each_job_once(world: Any, recording: Any) -> None:
    _due_followups(world, 15)
    start = threading.Barrier(3)

    def run() -> None:
        start.wait()
        sweep(world.rt, queue=recording, limit=4, backfill=False)
        sweep(world.rt, queue=recording, limit=4, backfill=False)
        sweep(world.rt, queue=recording, limit=40, backfill=False)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(recording.ids) == 30 and len(set(recording.ids)) == 30
    assert {s.func.rsplit(".", 1)[1] for s in recording.specs} == {"collect_metrics", "poll_comments"}


def test_accounts_needing_reconnect_are_skipped_until_reconnected(world: Any, recording: Any) -> None:
    seeded = world.published(published_at=utcnow() - timedelta(hours=2))
    world.schedule(seeded.target_id)
    with world.rt.db.transaction() as s:
        s.execute(update(SocialAccount).where(SocialAccount.id == seeded.account_id)
                  .values(status=AccountStatus.NEEDS_RECONNECT))
    assert sweep(world.rt, queue=recording, backfill=False).claimed == 0
    with world.rt.db.transaction() as s:
        s.execute(update(SocialAccount).where(SocialAccount.id == seeded.account_id)
                  .values(status=AccountStatus.CONNECTED))
    assert sweep(world.rt, queue=recording, backfill=False).claimed == 2


def test_not_due_is_not_claimed(world: Any, recording: Any) -> None:
    seeded = world.published(published_at=utcnow() - timedelta(minutes=5))
    world.schedule(seeded.target_id)
    assert sweep(world.rt, queue=recording, backfill=False).claimed == 0
    # 61 minutes later the 1 h slot and the first poll are due
    assert sweep(world.rt, utcnow() + timedelta(minutes=61), queue=recording, backfill=False).claimed == 2


def test_jobs_lost_by_the_queue_are_enqueued_again_once(world: Any, recording: Any) -> None:
    seeded = world.published(published_at=utcnow() - timedelta(hours=2))
    world.schedule(seeded.target_id)
    now = utcnow()
    first = sweep(world.rt, now, queue=recording, backfill=False)
    assert first.claimed == 2
    ids = list(recording.ids)
    # within the grace period nothing is requeued, even if the queue lost it
    recording.lose()
    assert sweep(world.rt, now + timedelta(seconds=0.1), queue=recording, backfill=False).requeued == 0
    later = now + timedelta(seconds=5)
    results = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        results.append(sweep(world.rt, later, queue=recording, backfill=False).requeued)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(results) == 2  # each lost job requeued by exactly one of the two
    # the same deterministic job ids, each enqueued again exactly once
    assert Counter(recording.ids) == Counter({i: 2 for i in ids})
