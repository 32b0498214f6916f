"""The daily collection of account figures: created, claimed and enqueued by
the follow-up sweep, run by its job, retried, and waiting for a reconnect."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from clientnest import AccountMetrics
from clientnest.analytics.collect import run_collection
from clientnest.analytics.tables import AccountCollection, AccountDailyRollup, AccountSnapshot
from clientnest.errors import PermanentError, TransientError
from clientnest.followups import sweep
from clientnest.queue import JobQueue, JobSpec

from .conftest import MeterConnector


class RecordingQueue(JobQueue):
    def __init__(self) -> None:
        self.specs: list[JobSpec] = []
        self.live: set[str] = set()

    def enqueue_many(self, specs: Sequence[JobSpec]) -> None:
        self.specs += list(specs)
        self.live |= {s.job_id for s in specs}

    def missing(self, job_ids: Any, *, started_before: Any = None) -> set[str]:
        return {j for j in job_ids if j not in self.live}


def _collection(rt: Any, aid: int) -> AccountCollection:
    with rt.db.session() as s:
        row = s.scalar(select(AccountCollection).where(AccountCollection.account_id == aid))
        s.expunge(row)
        return row


def _claimed(rt: Any, queue: RecordingQueue, now: datetime | None = None) -> list[JobSpec]:
    before = len(queue.specs)
    sweep(rt, now or datetime.now(UTC), queue=queue, backfill=True)
    return [s for s in queue.specs[before:] if s.func.endswith("collect_account_metrics")]


def test_the_sweep_schedules_and_the_job_stores_the_day(runtime: Any, seed: Any) -> None:
    wid = seed.workspace()
    aid = seed.account(wid, "meter")
    seed.account(wid, "meter", status="needs_reconnect")  # not claimed until reconnected
    queue = RecordingQueue()
    specs = _claimed(runtime, queue)
    coll = _collection(runtime, aid)
    assert [(s.args, s.job_id) for s in specs] == [((coll.id,), f"account-metrics-{coll.id}-1")]
    assert _claimed(runtime, queue) == []  # queued: a second sweep does not enqueue it again

    MeterConnector.script.append(AccountMetrics(external_id="ext-1", followers=812, impressions=None, reach=40,
                                                period="day"))
    assert run_collection(runtime, coll.id)["result"] == "done"
    coll = _collection(runtime, aid)
    assert coll.status == "pending" and coll.due_at is not None and coll.last_done_at is not None
    assert timedelta(hours=23) < coll.due_at - coll.last_done_at <= timedelta(hours=24)
    with runtime.db.session() as s:
        snap = s.scalar(select(AccountSnapshot).where(AccountSnapshot.account_id == aid))
        assert (snap.followers, snap.impressions, snap.reach) == (812, None, 40)
        day = s.get(AccountDailyRollup, (aid, snap.fetched_at.date()))
        assert day.acct_followers == 812
    assert run_collection(runtime, coll.id)["result"] == "skipped"  # a duplicate job changes nothing
    assert MeterConnector.calls == ["ext-1"]


def test_lost_jobs_are_enqueued_again(runtime: Any, seed: Any) -> None:
    wid = seed.workspace()
    seed.account(wid, "meter")
    queue = RecordingQueue()
    first = _claimed(runtime, queue)
    queue.live.clear()  # Redis lost everything
    sweep(runtime, datetime.now(UTC) + timedelta(seconds=1), queue=queue, backfill=False)
    again = [s for s in queue.specs if s.func.endswith("collect_account_metrics")]
    assert [s.job_id for s in again] == [first[0].job_id, first[0].job_id]


def test_transient_errors_retry_then_wait_for_the_next_day(runtime: Any, seed: Any) -> None:
    wid = seed.workspace()
    aid = seed.account(wid, "meter")
    queue = RecordingQueue()
    _claimed(runtime, queue)
    cid = _collection(runtime, aid).id
    retry_at = datetime.now(UTC) + timedelta(minutes=15)
    MeterConnector.script.extend([TransientError("429", platform="meter", retry_at=retry_at),
                                  TransientError("503", platform="meter"), TransientError("503", platform="meter")])
    assert run_collection(runtime, cid)["result"] == "retry"
    coll = _collection(runtime, aid)
    assert (coll.status, coll.attempts, coll.due_at) == ("pending", 1, retry_at)  # the platform's reset, exactly
    for _ in range(2):
        with runtime.db.transaction() as s:
            s.execute(update(AccountCollection).values(due_at=datetime.now(UTC) - timedelta(seconds=1)))
        assert len(_claimed(runtime, queue)) == 1
        result = run_collection(runtime, cid)["result"]
    assert result == "failed"  # after followup_max_attempts: tried again tomorrow, not dropped
    coll = _collection(runtime, aid)
    assert coll.status == "pending" and coll.attempts == 0 and "gave up after 3" in coll.last_error["message"]
    assert coll.due_at > datetime.now(UTC) + timedelta(hours=23)


def test_a_permanent_error_waits_for_the_next_day(runtime: Any, seed: Any) -> None:
    wid = seed.workspace()
    aid = seed.account(wid, "meter")
    _claimed(runtime, RecordingQueue())
    MeterConnector.script.append(PermanentError("(#10) no insights permission", platform="meter"))
    assert run_collection(runtime, _collection(runtime, aid).id)["result"] == "failed"
    coll = _collection(runtime, aid)
    assert coll.last_error["message"] == "(#10) no insights permission"
    assert coll.due_at > datetime.now(UTC) + timedelta(hours=23)
