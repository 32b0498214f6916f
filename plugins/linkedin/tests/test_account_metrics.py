"""LinkedIn account figures: the recorded follower count and share statistics
records, the sandbox's networkSizes, and members (nothing to read)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from clientnest import Account, PostContent
from clientnest_linkedin import LinkedInConnector
from clientnest_linkedin.account_metrics import normalize_organization
from clientnest_linkedin.sandbox import LinkedInSandbox


def test_recorded_records_are_real_zeros_not_missing(recording: Callable[[str], Any]) -> None:
    records = {r["stream"]: r["data"] for r in recording("airbyte_expected_records.jsonl")}
    stats = records["share_statistics"]
    m = normalize_organization(stats["organizationalEntity"], records["total_follower_count"], stats)
    # the recorded sandbox organization had nobody: zeros LinkedIn sent, kept as zeros
    assert (m.followers, m.impressions, m.reach, m.engagements) == (0, 0, 0, 0)
    assert m.profile_views is None and m.period == "lifetime"


def test_share_statistics_sum_to_engagements() -> None:
    m = normalize_organization("urn:li:organization:1", {"firstDegreeSize": 812}, {"totalShareStatistics": {
        "impressionCount": 1000, "uniqueImpressionsCount": 640, "clickCount": 12, "likeCount": 30,
        "commentCount": 4, "shareCount": 2, "engagement": 0.048}})
    assert (m.followers, m.impressions, m.reach, m.engagements) == (812, 1000, 640, 48)
    assert normalize_organization("urn:li:organization:1", {}, None).impressions is None


def test_sandbox_organization_figures(sandbox: LinkedInSandbox, connector: LinkedInConnector, org: Account) -> None:
    sandbox.set_account_metrics(org.external_id, {"followers": 1500})
    post = connector.publish(org, PostContent(text="figures"))
    sandbox.engage(post.external_id, impressions=400, unique_impressions=300, likes=9, clicks=3)
    m = connector.fetch_account_metrics(org)
    assert (m.external_id, m.followers, m.impressions, m.reach) == (org.external_id, 1500, 400, 300)
    assert m.engagements is not None and m.engagements >= 12
    with pytest.raises(ValueError):
        sandbox.set_account_metrics(org.external_id, {"impressions": 1})


def test_members_have_no_figures(connector: LinkedInConnector, member: Account) -> None:
    m = connector.fetch_account_metrics(member)
    assert m.external_id == member.external_id
    assert all(getattr(m, n) is None for n in m.NAMES)
