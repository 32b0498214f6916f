"""Post statistics, normalised to :class:`clientnest.PostMetrics`.

Organizations: ``organizationalEntityShareStatistics`` (impressions, unique
impressions as reach, likes, comments, shares, clicks). Members:
``socialMetadata`` (reactions as likes, comments); LinkedIn gives members no
impressions there, so those stay ``None``, never a made-up zero.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from clientnest import PostMetrics

from . import urns
from .client import LinkedInClient

__all__ = ["share_statistics_metrics", "social_metadata_metrics", "organization_metrics", "member_metrics"]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def share_statistics_metrics(urn: str, element: Mapping[str, Any]) -> PostMetrics:
    """One ``organizationalEntityShareStatistics`` element."""
    s = element.get("totalShareStatistics") or {}
    return PostMetrics(
        external_id=urn,
        impressions=_int(s.get("impressionCount")),
        reach=_int(s.get("uniqueImpressionsCount")),
        likes=_int(s.get("likeCount")),
        comments=_int(s.get("commentCount")),
        shares=_int(s.get("shareCount")),
        clicks=_int(s.get("clickCount")),
        raw=dict(element),
    )


def social_metadata_metrics(urn: str, meta: Mapping[str, Any]) -> PostMetrics:
    """One ``socialMetadata`` entity; every kind of reaction counts as a like."""
    reactions = meta.get("reactionSummaries")
    likes = None
    if isinstance(reactions, Mapping):
        counts = [_int(r.get("count")) for r in reactions.values() if isinstance(r, Mapping)]
        likes = sum(c for c in counts if c is not None)
    summary = meta.get("commentSummary") or {}
    return PostMetrics(external_id=urn, likes=likes, comments=_int(summary.get("count")), raw=dict(meta))


def organization_metrics(client: LinkedInClient, token: str, org: str, ids: Sequence[str]) -> dict[str, PostMetrics]:
    """Statistics of an organization's ``share`` and ``ugcPost`` posts."""
    shares = [i for i in ids if urns.kind_of(i) == "share"]
    ugc = [i for i in ids if urns.kind_of(i) == "ugcPost"]
    if not shares and not ugc:
        return {}
    query = [("q", "organizationalEntity"), ("organizationalEntity", urns.encode(org))]
    if shares:
        query.append(("shares", urns.restli_list(shares)))
    if ugc:
        query.append(("ugcPosts", urns.restli_list(ugc)))
    data = client.json(client.send("GET", client.api("/rest/organizationalEntityShareStatistics", query), token))
    out: dict[str, PostMetrics] = {}
    for el in data.get("elements") or []:
        if not isinstance(el, Mapping):
            continue
        urn = el.get("share") or el.get("ugcPost")
        if isinstance(urn, str) and urn in ids:
            out[urn] = share_statistics_metrics(urn, el)
    return out


def member_metrics(client: LinkedInClient, token: str, ids: Sequence[str]) -> dict[str, PostMetrics]:
    """Reaction and comment counts of posts (a batch ``socialMetadata`` GET)."""
    data = client.json(client.send("GET", client.api("/rest/socialMetadata", (("ids", urns.restli_list(ids)),)),
                                   token))
    results = data.get("results") or {}
    return {urn: social_metadata_metrics(urn, meta) for urn, meta in results.items()
            if urn in ids and isinstance(meta, Mapping)}
