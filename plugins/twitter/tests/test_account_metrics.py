"""Account-level figures: the recorded ``public_metrics`` shape, and the sandbox."""
from __future__ import annotations

import json
from pathlib import Path

from clientnest import Account
from clientnest_twitter import TwitterConnector
from clientnest_twitter.account_metrics import normalize_user
from clientnest_twitter.sandbox import TwitterSandbox


def test_recorded_public_metrics_give_followers_and_nothing_made_up(recorded: Path) -> None:
    interactions = json.loads(
        (recorded / "superface_station" / "social-media_profiles__twitter.recording.json").read_text())["interactions"]
    users = next(i["response_body"]["data"] for i in interactions
                 if "public_metrics" in json.dumps(i.get("response_body")))
    jack = next(u for u in users if u["username"] == "jack")
    m = normalize_user(jack)
    assert (m.external_id, m.followers) == ("12", 6235639)
    # X gives no account-level impressions, reach, profile views or engagements
    assert (m.impressions, m.reach, m.profile_views, m.engagements) == (None, None, None, None)
    assert m.raw["public_metrics"]["tweet_count"] == 28306


def test_sandbox_followers_are_read_back(sandbox: TwitterSandbox, connector: TwitterConnector,
                                         account: Account) -> None:
    sandbox.set_account_metrics(account.external_id, {"followers": 4321, "impressions": 99})
    m = connector.fetch_account_metrics(account)
    assert (m.external_id, m.followers, m.impressions) == (account.external_id, 4321, None)


def test_sandbox_refuses_unknown_figures(sandbox: TwitterSandbox, account: Account) -> None:
    import pytest

    with pytest.raises(ValueError):
        sandbox.set_account_metrics(account.external_id, {"fans": 1})
    with pytest.raises(KeyError):
        sandbox.set_account_metrics("999", {"followers": 1})
