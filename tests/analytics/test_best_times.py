"""Best times from an account's own history: the planted slot is found, few-
post cells are shrunk, short histories get labelled defaults, and next-best
honours posting slots and never stacks two posts of one account in a slot."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from clientnest.analytics.best_times import MIN_POSTS, best_times, next_best, rank_cells
from clientnest.analytics.demo import DEMO_ACCOUNTS, PLANTED_SLOT, generate_history
from clientnest.models import PostTarget, SocialAccount, TargetStatus, Workspace
from clientnest.services.slots import Slot, replace_slots, workspace_zone

NOW = datetime(2026, 6, 10, 12, tzinfo=UTC)  # Wednesday


@pytest.fixture
def planted(runtime: Any, register: Any) -> Any:
    member = register()
    with runtime.db.transaction() as s:
        s.get(Workspace, member.workspace_id).timezone = "America/Chicago"
        stats = generate_history(s, member.workspace_id, days=90, now=NOW, snapshot_hours=(168,),
                                 accounts=DEMO_ACCOUNTS[:2], vault=runtime.vault)
    return member, stats


def test_the_planted_slot_is_found_and_explained(client: Any, planted: Any) -> None:
    member, stats = planted
    x = stats.account_ids[0]
    r = client.get(f"/api/v1/workspaces/{member.workspace_id}/accounts/{x}/best-times", headers=member.headers)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["source"] == "account_history" and body["time_zone"] == "America/Chicago"
    top = body["ranked"][0]
    assert (top["weekday"], top["hour"]) == PLANTED_SLOT
    assert top["posts"] >= 9  # every Tuesday of 90 days
    assert top["explanation"].startswith("Tue 14:00: ")
    assert f"over {top['posts']} posts, account median" in top["explanation"]
    assert top["lift_vs_account_median"] > 1.5
    assert body["heatmap"]["cells"][1][14]["posts"] == top["posts"]
    assert body["heatmap"]["cells"][6][3] is None  # nothing posted Sunday 03:00


def test_one_lucky_post_is_shrunk_below_a_consistent_slot() -> None:
    import random

    rng = random.Random(3)
    # an account around 2 %, each post off by a typical factor (log sd 0.5)
    base = [(d, h, 0.02 * rng.lognormvariate(0, 0.5)) for d in (0, 2, 3) for h in range(9, 18) for _ in range(2)]
    lucky = [(4, 20, 0.09)]  # one post at 9 %
    steady = [(1, 14, 0.04 * rng.lognormvariate(0, 0.5)) for _ in range(9)]  # twice the usual, nine times
    cells, mean, median = rank_cells(base + lucky + steady)
    best = cells[0]
    assert (best.weekday, best.hour) == (1, 14)
    friday = next(c for c in cells if (c.weekday, c.hour) == (4, 20))
    assert friday.mean_rate == 0.09 and friday.shrunk_rate < best.shrunk_rate < best.median_rate * 1.2


def test_short_history_gives_labelled_platform_defaults(runtime: Any, seed: Any) -> None:
    wid = seed.workspace()
    aid = seed.account(wid, "linkedin")
    with runtime.db.session() as s:
        acct = s.get(SocialAccount, aid)
        bt = best_times(s, acct)
    assert bt.source == "platform_default" and bt.posts < MIN_POSTS
    from clientnest.analytics.best_times import best_times_json

    with runtime.db.session() as s:
        body = best_times_json(s, s.get(SocialAccount, aid), workspace_zone("UTC"))
    assert body["source"] == "platform_default"
    assert "a general default for this platform, not this account's data" in body["ranked"][0]["explanation"]


def test_next_best_uses_slots_and_never_stacks(runtime: Any, planted: Any) -> None:
    member, stats = planted
    x = stats.account_ids[0]
    zone = workspace_zone("America/Chicago")
    with runtime.db.transaction() as s:
        acct = s.get(SocialAccount, x)
        # slots: Mon 09:00, Tue 14:00 (the planted best), Thu 10:00
        replace_slots(s, acct, [Slot(0, 540), Slot(1, 840), Slot(3, 600)])
    with runtime.db.session() as s:
        found = next_best(s, s.get(SocialAccount, x), zone, after=NOW)
    first = datetime.fromisoformat(found["scheduled_at"])
    local = first.astimezone(zone)
    assert (local.weekday(), local.hour, local.minute) == (1, 14, 0) and found["uses_posting_slots"]
    assert "Tue 14:00" in found["explanation"]
    # that Tuesday is taken by a waiting post of the account: the next Tuesday, not the same slot twice
    from clientnest.models import Post, PostStatus

    with runtime.db.transaction() as s:
        post = Post(workspace_id=member.workspace_id, text="waiting", status=PostStatus.SCHEDULED,
                    scheduled_at=first)
        s.add(post)
        s.flush()
        s.add(PostTarget(post_id=post.id, workspace_id=member.workspace_id, account_id=x, platform="twitter",
                         status=TargetStatus.SCHEDULED, scheduled_at=first, next_attempt_at=first))
    with runtime.db.session() as s:
        again = next_best(s, s.get(SocialAccount, x), zone, after=NOW, horizon_days=14)
    second = datetime.fromisoformat(again["scheduled_at"])
    assert second == first + timedelta(days=7) and again["skipped_taken"] == 1


def test_next_best_without_slots_picks_a_ranked_hour(client: Any, planted: Any) -> None:
    member, stats = planted
    x = stats.account_ids[0]
    r = client.get(f"/api/v1/workspaces/{member.workspace_id}/accounts/{x}/next-best",
                   query_string={"after": "2026-06-10T12:00:00+00:00"}, headers=member.headers)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    local = datetime.fromisoformat(body["local_time"])
    assert (local.weekday(), local.hour) == PLANTED_SLOT and not body["uses_posting_slots"]


def test_prediction_beats_the_account_median_on_the_planted_data(runtime: Any, planted: Any) -> None:
    from clientnest.analytics.predict import backtest, history

    _, stats = planted
    with runtime.db.session() as s:
        rows = history(s, stats.account_ids[0])
    result = backtest(rows)
    assert result.test >= 30
    assert result.model_mae_log < result.baseline_mae_log * 0.85


def test_predict_route_explains_and_says_when_history_is_short(client: Any, planted: Any, seed: Any) -> None:
    member, stats = planted
    x = stats.account_ids[0]
    url = f"/api/v1/workspaces/{member.workspace_id}/accounts/{x}/predict"
    tuesday = {"scheduled_at": "2026-06-16T14:00:00-05:00", "text": "New photo", "media_kind": "image"}
    sunday = {"scheduled_at": "2026-06-14T08:00:00-05:00", "text": "Plain text"}
    a = client.post(url, json=tuesday, headers=member.headers).get_json()
    b = client.post(url, json=sunday, headers=member.headers).get_json()
    assert a["available"] and a["interval"]["low"] < a["engagement_rate"] < a["interval"]["high"]
    assert a["engagement_rate"] > b["engagement_rate"] * 1.5  # the planted slot and the image lift
    assert a["factors"]["slot"]["posts"] >= 9 and a["engagements"]["expected"] > 0
    bad = client.post(url, json={"text": "no time"}, headers=member.headers)
    assert bad.status_code == 422 and "scheduled_at" in bad.get_json()["message"]
    li = stats.account_ids[1]  # instagram: plenty of history
    other = seed.account(member.workspace_id, "facebook")  # no history at all
    short = client.post(f"/api/v1/workspaces/{member.workspace_id}/accounts/{other}/predict", json=sunday,
                        headers=member.headers).get_json()
    assert short["available"] is False and "30 are needed" in short["reason"]
    assert li != other
