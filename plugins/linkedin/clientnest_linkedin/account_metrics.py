"""LinkedIn account figures, normalised to :class:`~clientnest.AccountMetrics`.

Organizations (shapes recorded in ``fixtures/real-api/linkedin/
airbyte_expected_records``):

* followers: ``GET /rest/networkSizes/{org}?edgeType=COMPANY_FOLLOWED_BY_MEMBER``
  answers ``{"firstDegreeSize": n}`` (the ``total_follower_count`` record);
* ``GET /rest/organizationalEntityShareStatistics?q=organizationalEntity&
  organizationalEntity={org}`` without post lists answers the organization's
  lifetime ``totalShareStatistics`` (the ``share_statistics`` record):
  impressions (``impressionCount``), reach (``uniqueImpressionsCount``), and
  engagements = clicks + likes + comments + shares (LinkedIn's own
  ``engagement`` field is already a rate). These are running totals:
  ``period="lifetime"``; the core turns them into daily amounts.

Members: LinkedIn's API gives a member's app no follower count or profile
statistics, so every figure is ``None`` (missing, not zero) and no call is made.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clientnest import AccountMetrics

from . import urns
from .client import LinkedInClient

__all__ = ["normalize_organization", "organization_figures", "member_figures"]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def normalize_organization(org: str, network_size: Mapping[str, Any],
                           statistics: Mapping[str, Any] | None) -> AccountMetrics:
    """From the ``networkSizes`` answer and one share statistics element (or ``None``)."""
    s = (statistics or {}).get("totalShareStatistics") or {}
    parts = [_int(s.get(k)) for k in ("clickCount", "likeCount", "commentCount", "shareCount")]
    known = [p for p in parts if p is not None]
    return AccountMetrics(
        external_id=org,
        followers=_int(network_size.get("firstDegreeSize")),
        impressions=_int(s.get("impressionCount")),
        reach=_int(s.get("uniqueImpressionsCount")),
        profile_views=None,  # page statistics need the Community Management API's own product
        engagements=sum(known) if known else None,
        period="lifetime",
        raw={"networkSizes": dict(network_size), "shareStatistics": dict(statistics) if statistics else None},
    )


def organization_figures(client: LinkedInClient, token: str, org: str) -> AccountMetrics:
    size = client.json(client.send("GET", client.api(
        f"/rest/networkSizes/{urns.encode(org)}", (("edgeType", "COMPANY_FOLLOWED_BY_MEMBER"),)), token))
    stats = client.json(client.send("GET", client.api("/rest/organizationalEntityShareStatistics", (
        ("q", "organizationalEntity"), ("organizationalEntity", urns.encode(org)))), token))
    element = next((e for e in stats.get("elements") or [] if isinstance(e, Mapping)
                    and not e.get("share") and not e.get("ugcPost")), None)
    return normalize_organization(org, size, element)


def member_figures(member: str) -> AccountMetrics:
    return AccountMetrics(external_id=member, period="day", raw=None)
