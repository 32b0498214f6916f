"""Rollups move with each snapshot: by difference, in the snapshot's
transaction; a missing figure stays missing; late snapshots change nothing."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from clientnest.analytics.rollups import apply_account_snapshot
from clientnest.analytics.retention import purge_raw_snapshots
from clientnest.analytics.tables import AccountDailyRollup, AccountSnapshot, PostDailyRollup, PostRollup
from clientnest.connector import PostMetrics
from clientnest.models import MetricSnapshot
from clientnest.services.metrics import store_snapshot

T0 = datetime(2026, 3, 3, 2, 30, tzinfo=UTC)  # Monday 21:30 in New York


def _snap(rt: Any, wid: int, tid: int, at: datetime, **figures: int | None) -> None:
    with rt.db.transaction() as s:
        store_snapshot(s, workspace_id=wid, target_id=tid, metrics=PostMetrics(external_id="x", **figures),
                       fetched_at=at)


def _day(rt: Any, aid: int, day: date) -> AccountDailyRollup:
    with rt.db.session() as s:
        row = s.get(AccountDailyRollup, (aid, day))
        assert row is not None
        s.expunge(row)
        return row


def test_post_rollups_follow_the_latest_snapshot_by_difference(runtime: Any, seed: Any) -> None:
    wid = seed.workspace("America/New_York")
    aid = seed.account(wid, "twitter")
    t1 = seed.post(wid, aid, T0, text="Look #coffee https://a.example", media="image")
    t2 = seed.post(wid, aid, T0 + timedelta(hours=1))
    _snap(runtime, wid, t1, T0 + timedelta(hours=1), impressions=100, likes=5)
    _snap(runtime, wid, t1, T0 + timedelta(hours=6), impressions=150, likes=7, comments=2)
    _snap(runtime, wid, t2, T0 + timedelta(hours=7), impressions=50, likes=1)
    local = date(2026, 3, 2)  # both published on Monday evening, New York time
    row = _day(runtime, aid, local)
    assert (row.posts, row.impressions, row.likes, row.comments) == (2, 200, 8, 2)
    assert row.reach is None and row.saves is None  # X gives neither: missing, not zero
    assert (row.engagements, row.rate_num, row.rate_den) == (8 + 2, 10, 200)
    with runtime.db.session() as s:
        r1 = s.get(PostRollup, t1)
        assert (r1.local_weekday, r1.local_hour, r1.media_kind, r1.hashtags, r1.has_link) == (0, 21, "image", 1, True)
        assert r1.engagement_rate == 9 / 150 and r1.snapshots == 2


def test_a_late_older_snapshot_changes_no_total(runtime: Any, seed: Any) -> None:
    wid = seed.workspace()
    aid = seed.account(wid, "instagram")
    tid = seed.post(wid, aid, T0)
    _snap(runtime, wid, tid, T0 + timedelta(hours=24), reach=900, likes=40, saves=3)
    _snap(runtime, wid, tid, T0 + timedelta(hours=6), reach=400, likes=20, saves=1)  # finished late
    row = _day(runtime, aid, T0.date())
    assert (row.reach, row.likes, row.saves, row.posts) == (900, 40, 3, 1)
    assert row.rate_den == 900  # Instagram's rate divides by reach
    with runtime.db.session() as s:
        days = s.scalars(select(PostDailyRollup).where(PostDailyRollup.target_id == tid)
                         .order_by(PostDailyRollup.day)).all()
        assert [(d.day, d.reach) for d in days] == [(T0.date(), 400), ((T0 + timedelta(hours=24)).date(), 900)]


def test_account_figures_by_day_and_lifetime_differences(runtime: Any, seed: Any) -> None:
    wid = seed.workspace()
    fb = seed.account(wid, "facebook")
    li = seed.account(wid, "linkedin")
    at = datetime(2026, 3, 5, 9, tzinfo=UTC)
    with runtime.db.transaction() as s:
        snap = AccountSnapshot(workspace_id=wid, account_id=fb, fetched_at=at, period="day",
                               period_end=datetime(2026, 3, 5, 8, tzinfo=UTC), followers=1000, impressions=300,
                               reach=None)
        s.add(snap)
        s.flush()
        apply_account_snapshot(s, snap, "facebook")
    assert _day(runtime, fb, date(2026, 3, 5)).acct_followers == 1000
    covered = _day(runtime, fb, date(2026, 3, 4))  # the day Graph closed at 08:00 UTC on the 5th
    assert (covered.acct_impressions, covered.acct_reach) == (300, None)

    from clientnest.analytics.tables import AccountCollection

    with runtime.db.transaction() as s:
        coll = AccountCollection(workspace_id=wid, account_id=li, status="pending", runs=0, attempts=0)
        s.add(coll)
        for day, total in ((5, 1000), (6, 1250)):
            snap = AccountSnapshot(workspace_id=wid, account_id=li, fetched_at=at.replace(day=day),
                                   period="lifetime", followers=50, impressions=total, engagements=None)
            s.add(snap)
            s.flush()
            apply_account_snapshot(s, snap, "linkedin", coll)
    assert _day(runtime, li, date(2026, 3, 5)).acct_impressions is None  # no earlier total: no amount
    assert _day(runtime, li, date(2026, 3, 6)).acct_impressions == 250


def test_retention_purges_raw_snapshots_and_keeps_rollups(runtime: Any, seed: Any) -> None:
    wid = seed.workspace()
    aid = seed.account(wid, "twitter")
    old = datetime.now(UTC) - timedelta(days=500)
    tid = seed.post(wid, aid, old)
    _snap(runtime, wid, tid, old + timedelta(hours=1), impressions=10, likes=1)
    _snap(runtime, wid, tid, datetime.now(UTC), impressions=20, likes=2)
    assert purge_raw_snapshots(runtime, datetime.now(UTC)) == 1
    with runtime.db.session() as s:
        assert len(s.scalars(select(MetricSnapshot)).all()) == 1
        assert s.get(PostRollup, tid).impressions == 20
    assert _day(runtime, aid, old.date()).impressions == 20
