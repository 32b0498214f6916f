"""The analytics API over a generated history: figures agree with the
rollups, name their period and zone, and bad input is a 422 naming the field."""
from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from clientnest.analytics.demo import DEMO_ACCOUNTS, generate_history
from clientnest.analytics.tables import PostRollup
from clientnest.models import Workspace

NOW = datetime(2026, 6, 10, 12, tzinfo=UTC)  # a Wednesday


@pytest.fixture
def history(runtime: Any, register: Any) -> Any:
    member = register()
    with runtime.db.transaction() as s:
        s.get(Workspace, member.workspace_id).timezone = "Europe/Berlin"
        stats = generate_history(s, member.workspace_id, days=35, now=NOW, snapshot_hours=(168,),
                                 vault=runtime.vault)
    return member, stats


def _get(client: Any, member: Any, path: str, **params: Any) -> Any:
    return client.get(f"/api/v1/workspaces/{member.workspace_id}/{path}", query_string=params,
                      headers=member.headers)


def _rollup_sum(runtime: Any, wid: int, column: str, start: date, end: date, **where: Any) -> Any:
    with runtime.db.session() as s:
        q = select(func.sum(getattr(PostRollup, column))).where(
            PostRollup.workspace_id == wid, PostRollup.local_day.between(start, end),
            *[getattr(PostRollup, k) == v for k, v in where.items()])
        value = s.scalar(q)
        return None if value is None else int(value)  # PostgreSQL sums bigints as numeric


def test_summary_totals_change_period_and_definitions(client: Any, runtime: Any, history: Any) -> None:
    member, _ = history
    r = _get(client, member, "analytics/summary", **{"from": "2026-05-25", "to": "2026-06-07"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["period"]["time_zone"] == "Europe/Berlin" and body["period"]["days"] == 14
    assert body["period"]["starts_at"] == "2026-05-25T00:00:00+02:00"
    assert body["previous_period"]["from"] == "2026-05-11" and body["previous_period"]["to"] == "2026-05-24"
    wid = member.workspace_id
    likes = _rollup_sum(runtime, wid, "likes", date(2026, 5, 25), date(2026, 6, 7))
    before = _rollup_sum(runtime, wid, "likes", date(2026, 5, 11), date(2026, 5, 24))
    assert body["posts"]["likes"] == {"value": likes, "previous": before, "absolute": likes - before,
                                      "relative": (likes - before) / before}
    num = _rollup_sum(runtime, wid, "rate_num", date(2026, 5, 25), date(2026, 6, 7))
    den = _rollup_sum(runtime, wid, "rate_den", date(2026, 5, 25), date(2026, 6, 7))
    assert body["posts"]["engagement_rate"]["value"] == pytest.approx(num / den)
    assert body["account"]["followers"]["value"] > 0
    assert set(body["definitions"]["platforms"]) == {a.platform for a in DEMO_ACCOUNTS}
    assert body["definitions"]["platforms"]["instagram"]["rate_denominator"] == "reach"


def test_a_missing_figure_is_null_not_zero(client: Any, history: Any) -> None:
    member, stats = history
    x = stats.account_ids[0]  # X: no reach, no account impressions
    body = _get(client, member, "analytics/summary", account_id=x, to="2026-06-09").get_json()
    assert body["posts"]["reach"]["value"] is None and body["posts"]["likes"]["value"] > 0
    assert body["account"]["impressions"]["value"] is None and body["account"]["followers"]["value"] > 0


def test_timeseries_weeks_add_up_to_the_summary(client: Any, history: Any) -> None:
    member, _ = history
    span = {"from": "2026-05-18", "to": "2026-06-07"}  # three whole ISO weeks
    series = _get(client, member, "analytics/timeseries", metric="impressions", interval="week", **span).get_json()
    assert [p["from"] for p in series["points"]] == ["2026-05-18", "2026-05-25", "2026-06-01"]
    total = _get(client, member, "analytics/summary", **span).get_json()["posts"]["impressions"]["value"]
    assert sum(p["value"] for p in series["points"]) == total
    daily = _get(client, member, "analytics/timeseries", metric="followers", interval="day", **span).get_json()
    assert len(daily["points"]) == 21 and daily["points"][-1]["value"] >= daily["points"][0]["value"]
    month = _get(client, member, "analytics/timeseries", metric="engagement_rate", interval="month", **span)
    assert [p["from"] for p in month.get_json()["points"]] == ["2026-05-18", "2026-06-01"]


@pytest.mark.parametrize(("path", "params", "field"), [
    ("analytics/timeseries", {"metric": "vibes"}, "metric"),
    ("analytics/timeseries", {"interval": "hour"}, "interval"),
    ("analytics/summary", {"from": "2026-06-07", "to": "2026-06-01"}, "to"),
    ("analytics/summary", {"from": "yesterday"}, "from"),
    ("analytics/top-posts", {"limit": 0}, "limit"),
    ("accounts/1/next-best", {"after": "2026-06-10T10:00:00"}, "after"),  # no offset
])
def test_bad_input_is_422_naming_the_field(client: Any, register: Any, path: str, params: dict[str, Any],
                                           field: str) -> None:
    member = register()
    r = client.get(f"/api/v1/workspaces/{member.workspace_id}/{path}", query_string=params, headers=member.headers)
    assert r.status_code == 422, r.get_json()
    assert field in r.get_json()["message"]


def test_top_posts_ranked_with_text_platform_and_link(client: Any, history: Any) -> None:
    member, _ = history
    r = _get(client, member, "analytics/top-posts", metric="engagement_rate", limit=5, to="2026-06-09")
    posts = r.get_json()["posts"]
    assert len(posts) == 5
    values = [p["value"] for p in posts]
    assert values == sorted(values, reverse=True)
    assert all(p["text"] and p["platform"] and p["link"].startswith("https://") for p in posts)
    assert posts[0]["published_at"].endswith(("+02:00", "+01:00"))


def test_account_figures_and_follower_growth(client: Any, runtime: Any, history: Any, register: Any) -> None:
    member, stats = history
    fb = stats.account_ids[2]
    body = _get(client, member, f"analytics/accounts/{fb}", **{"from": "2026-05-20", "to": "2026-06-08"}).get_json()
    f = body["followers"]
    assert f["series"][0]["day"] == "2026-05-20" and f["last"] > f["first"]
    assert f["growth"]["absolute"] == f["last"] - f["first"]
    assert body["own_figures"]["impressions"]["value"] > 0
    assert list(body["definitions"]["platforms"]) == ["facebook"]
    other = register()
    r = client.get(f"/api/v1/workspaces/{other.workspace_id}/analytics/accounts/{fb}", headers=other.headers)
    assert r.status_code == 404  # another workspace's account does not exist here


def test_export_streams_every_post_of_the_period(client: Any, runtime: Any, history: Any) -> None:
    member, _ = history
    r = _get(client, member, "analytics/export.csv", **{"from": "2026-05-11", "to": "2026-06-09"})
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert r.is_streamed
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    with runtime.db.session() as s:
        n = s.scalar(select(func.count()).select_from(PostRollup).where(
            PostRollup.workspace_id == member.workspace_id,
            PostRollup.local_day.between(date(2026, 5, 11), date(2026, 6, 9))))
    assert len(rows) == n > 20
    assert rows[0]["published_at"] <= rows[-1]["published_at"]
    x_rows = [row for row in rows if row["platform"] == "twitter"]
    assert x_rows and all(row["reach"] == "" for row in x_rows)  # missing stays empty, not 0


def test_definitions_table(client: Any, register: Any) -> None:
    member = register()
    body = _get(client, member, "analytics/definitions").get_json()
    assert body["platforms"]["linkedin"]["engagement_parts"] == ["likes", "comments", "shares", "clicks"]
    assert "null" in body["missing"]


def test_days_are_days_of_the_workspace_zone(client: Any, runtime: Any, history: Any) -> None:
    member, _ = history
    with runtime.db.session() as s:
        late = s.scalars(select(PostRollup).where(PostRollup.workspace_id == member.workspace_id)).all()
    for roll in late:
        local = roll.published_at.astimezone(ZoneInfo("Europe/Berlin"))
        assert (roll.local_day, roll.local_weekday, roll.local_hour) == (local.date(), local.weekday(), local.hour)
