"""Facebook Page figures: the recorded Page fields, the Graph insights
envelope, the fallback when Meta retired a metric, and the sandbox."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from clientnest import Account, Credentials
from clientnest_facebook import FacebookConnector

from .conftest import Replay

PAGE = "20531316728"
REDIRECT = "https://app.example/oauth/callback"
SANDBOX_PAGE = "110658944785122"


def _account(page: str = PAGE) -> Account:
    return Account(page, Credentials("PAGE-TOKEN"), kind="page")


def _series(name: str, a: int, b: int) -> dict[str, Any]:
    return {"name": name, "period": "day", "values": [
        {"value": a, "end_time": "2026-03-01T08:00:00+0000"}, {"value": b, "end_time": "2026-03-02T08:00:00+0000"}],
        "title": name, "description": name, "id": f"{PAGE}/insights/{name}/day"}


def test_recorded_page_fields_give_followers(replay: Replay, replay_connector: FacebookConnector,
                                             recorded: Callable[[str], Any]) -> None:
    page = recorded("pyfacebook_apidata/pages/single_fields_page.json")
    replay.add("GET", rf"/{PAGE}", page)
    replay.add("GET", rf"/{PAGE}/insights", {"data": [
        _series("page_impressions", 10, 1200), _series("page_impressions_unique", 5, 800),
        _series("page_views_total", 1, 40), _series("page_post_engagements", 2, 95)]})
    m = replay_connector.fetch_account_metrics(_account())
    # recorded Page without followers_count: fan_count is the followers figure
    assert m.followers == page.get("followers_count", page["fan_count"])
    assert (m.impressions, m.reach, m.profile_views, m.engagements) == (1200, 800, 40, 95)
    assert m.period_end is not None and m.period_end.day == 2
    assert replay.form(1)["period"] == "day"


def test_retired_metrics_fall_back(replay: Replay, replay_connector: FacebookConnector) -> None:
    replay.add("GET", rf"/{PAGE}", {"id": PAGE, "followers_count": 77})
    replay.add("GET", rf"/{PAGE}/insights", {"error": {
        "message": "(#100) The value must be a valid insights metric", "type": "OAuthException", "code": 100,
        "fbtrace_id": "A"}}, status=400)
    replay.add("GET", rf"/{PAGE}/insights", {"data": [_series("page_post_engagements", 1, 9)]})
    m = replay_connector.fetch_account_metrics(_account())
    assert (m.followers, m.engagements, m.impressions, m.reach) == (77, 9, None, None)


@pytest.fixture
def page(connector: FacebookConnector) -> Account:
    answer = httpx.get(connector.authorization_url(REDIRECT, "st").url)
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    return next(a for a in connector.complete_authorization(code, REDIRECT, None) if a.external_id == SANDBOX_PAGE)


def test_sandbox_answers_page_insights(sandbox: Any, connector: FacebookConnector, page: Account) -> None:
    sandbox.set_account_metrics(page.external_id, {"followers": 5120, "impressions": 3000, "reach": 1800,
                                                   "profile_views": 44, "engagements": 210})
    m = connector.fetch_account_metrics(page)
    assert (m.followers, m.impressions, m.reach, m.profile_views, m.engagements) == (5120, 3000, 1800, 44, 210)
    with pytest.raises(KeyError):
        sandbox.set_account_metrics("999", {"followers": 1})
