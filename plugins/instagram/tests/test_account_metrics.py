"""Instagram account figures: the recorded user fields and user insights, the
fallback when a Graph version refuses a metric, and the sandbox."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from clientnest import Account, Credentials
from clientnest_instagram import InstagramConnector

from .conftest import Replay

IG = "17841400008460056"
REDIRECT = "http://127.0.0.1:9/api/v1/oauth/instagram/callback"


def _account() -> Account:
    return Account(IG, Credentials("PAGE-TOKEN"), kind="business")


def test_recorded_user_fields_and_insights(replay: Replay, replay_connector: InstagramConnector,
                                           recorded: Callable[[str], Any]) -> None:
    replay.add("GET", rf"/{IG}", recorded("pyfacebook_apidata/users/user_fields.json"))
    replay.add("GET", rf"/{IG}/insights", recorded("pyfacebook_apidata/users/user_insights.json"))
    m = replay_connector.fetch_account_metrics(_account())
    assert m.followers == 64363
    # the last value of each daily series is the last complete day
    assert (m.impressions, m.reach, m.profile_views) == (66, 36, 2)
    assert m.period == "day" and m.period_end is not None and m.period_end.isoformat() == "2017-05-05T07:00:00+00:00"
    assert m.engagements is None  # not given with period=day: missing, not zero
    assert replay.form(1)["period"] == "day"


def test_a_refused_metric_falls_back_to_reach(replay: Replay, replay_connector: InstagramConnector,
                                              recorded: Callable[[str], Any]) -> None:
    replay.add("GET", rf"/{IG}", {"id": IG, "followers_count": 10})
    replay.add("GET", rf"/{IG}/insights", {"error": {
        "message": "(#100) metric[0] must be one of the following values: reach, follower_count",
        "type": "OAuthException", "code": 100, "fbtrace_id": "A1"}}, status=400)
    replay.add("GET", rf"/{IG}/insights", {"data": [{"name": "reach", "period": "day", "values": [
        {"value": 5, "end_time": "2026-01-01T08:00:00+0000"}, {"value": 7, "end_time": "2026-01-02T08:00:00+0000"}]}]})
    m = replay_connector.fetch_account_metrics(_account())
    assert (m.followers, m.reach, m.impressions, m.profile_views) == (10, 7, None, None)
    assert replay.form(2)["metric"] == "reach"


@pytest.fixture
def account(connector: InstagramConnector) -> Account:
    answer = httpx.get(connector.authorization_url(REDIRECT, "st").url)
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    return connector.complete_authorization(code, REDIRECT, None)[0]


def test_sandbox_answers_user_insights(sandbox: Any, connector: InstagramConnector, account: Account) -> None:
    sandbox.set_account_metrics(account.external_id, {"followers": 2048, "impressions": 900, "reach": 500,
                                                      "profile_views": 31})
    m = connector.fetch_account_metrics(account)
    assert (m.followers, m.impressions, m.reach, m.profile_views) == (2048, 900, 500, 31)
    with pytest.raises(ValueError):
        sandbox.set_account_metrics(account.external_id, {"fans": 1})
