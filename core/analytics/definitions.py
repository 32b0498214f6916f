"""One vocabulary across platforms, and what each figure means on each one.

Every figure the analytics API returns uses the names of :data:`POST_FIGURES`
and :data:`ACCOUNT_FIGURES`. A platform that does not give a figure leaves it
``None`` (missing, never zero); ``engagements`` is the sum of the parts the
platform defines (:attr:`PlatformDefinition.engagement_parts`) that it gave,
and ``engagement_rate`` is ``engagements / rate_denominator`` when both are
known. The table below is also ``docs/analytics.md`` and is returned by the API
with the figures, so a reader never has to guess what "engagement" meant.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "POST_FIGURES",
    "ACCOUNT_FIGURES",
    "METRICS",
    "PlatformDefinition",
    "DEFINITIONS",
    "definition",
    "engagements",
    "rate_parts",
    "definitions_json",
]

#: figures of a post (the names of :class:`clientnest.PostMetrics`)
POST_FIGURES: tuple[str, ...] = (
    "impressions", "reach", "likes", "comments", "shares", "saves", "clicks", "video_views",
)
#: figures of an account (the names of :class:`clientnest.AccountMetrics`)
ACCOUNT_FIGURES: tuple[str, ...] = ("followers", "impressions", "reach", "profile_views", "engagements")
#: every metric a time series or a ranking can ask for
METRICS: tuple[str, ...] = (*POST_FIGURES, "engagements", "engagement_rate", "posts")


@dataclass(frozen=True)
class PlatformDefinition:
    platform: str
    #: post figures whose sum is ``engagements``
    engagement_parts: tuple[str, ...]
    #: the figure ``engagement_rate`` divides by
    rate_denominator: str
    #: what each figure is on this platform; a figure not listed is never given
    figures: Mapping[str, str]
    #: account-level figures and what they are
    account_figures: Mapping[str, str]
    notes: str = ""

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["figures"] = dict(self.figures)
        d["account_figures"] = dict(self.account_figures)
        d["engagement_parts"] = list(self.engagement_parts)
        return d


DEFINITIONS: dict[str, PlatformDefinition] = {
    "twitter": PlatformDefinition(
        platform="twitter",
        engagement_parts=("likes", "comments", "shares", "saves", "clicks"),
        rate_denominator="impressions",
        figures={
            "impressions": "impression_count (non_public_metrics when the app may read them, else public_metrics)",
            "likes": "like_count",
            "comments": "reply_count",
            "shares": "retweet_count + quote_count",
            "saves": "bookmark_count",
            "clicks": "url_link_clicks (non_public_metrics only, the author's posts of the last 30 days)",
            "video_views": "view_count of the attached videos",
        },
        account_figures={"followers": "public_metrics.followers_count of GET /2/users/me"},
        notes="X has no reach, and no account-level impressions, profile views or engagements.",
    ),
    "facebook": PlatformDefinition(
        platform="facebook",
        engagement_parts=("likes", "comments", "shares", "clicks"),
        rate_denominator="reach",
        figures={
            "impressions": "post_impressions",
            "reach": "post_impressions_unique",
            "likes": "reactions of every kind",
            "comments": "comments, replies included",
            "shares": "shares",
            "clicks": "post_clicks",
            "video_views": "post_video_views (videos)",
        },
        account_figures={
            "followers": "Page followers_count (fan_count when absent)",
            "impressions": "page_impressions, daily",
            "reach": "page_impressions_unique, daily",
            "profile_views": "page_views_total, daily",
            "engagements": "page_post_engagements, daily",
        },
        notes="Page days close at midnight Pacific time; Meta retires Page metrics over time, and a retired "
              "metric is missing, not zero.",
    ),
    "instagram": PlatformDefinition(
        platform="instagram",
        engagement_parts=("likes", "comments", "shares", "saves"),
        rate_denominator="reach",
        figures={
            "impressions": "views (impressions on Graph versions before v22)",
            "reach": "reach",
            "likes": "like_count",
            "comments": "comments_count",
            "shares": "shares",
            "saves": "saved",
            "video_views": "views of videos and reels",
        },
        account_figures={
            "followers": "followers_count",
            "impressions": "impressions, daily (not given from Graph v22)",
            "reach": "reach, daily",
            "profile_views": "profile_views, daily (not given from Graph v22)",
        },
        notes="Instagram gives no clicks on posts and no account-level engagements with period=day.",
    ),
    "linkedin": PlatformDefinition(
        platform="linkedin",
        engagement_parts=("likes", "comments", "shares", "clicks"),
        rate_denominator="impressions",
        figures={
            "impressions": "impressionCount (organizations only)",
            "reach": "uniqueImpressionsCount (organizations only)",
            "likes": "likeCount; for members every kind of reaction",
            "comments": "commentCount",
            "shares": "shareCount (organizations only)",
            "clicks": "clickCount (organizations only)",
        },
        account_figures={
            "followers": "networkSizes firstDegreeSize (organizations)",
            "impressions": "daily difference of the organization's lifetime impressionCount",
            "reach": "daily difference of the lifetime uniqueImpressionsCount (an approximation: unique counts "
                     "do not add up exactly)",
            "engagements": "daily difference of lifetime clicks + likes + comments + shares",
        },
        notes="LinkedIn's API gives members' posts only reactions and comments, and members no account figures; "
              "their engagement rate is missing.",
    ),
}

_GENERIC = PlatformDefinition(
    platform="",
    engagement_parts=("likes", "comments", "shares", "saves", "clicks"),
    rate_denominator="impressions",
    figures={},
    account_figures={},
    notes="A platform of a partner plugin: the generic definition.",
)


def definition(platform: str) -> PlatformDefinition:
    return DEFINITIONS.get(platform) or PlatformDefinition(**{**asdict(_GENERIC), "platform": platform})


def engagements(platform: str, figures: Mapping[str, int | None]) -> int | None:
    """The sum of the platform's engagement parts that are known; ``None`` if none is."""
    known = [figures.get(p) for p in definition(platform).engagement_parts]
    values = [v for v in known if v is not None]
    return sum(values) if values else None


def rate_parts(platform: str, figures: Mapping[str, int | None]) -> tuple[int, int] | None:
    """``(engagements, denominator)`` when both are known and the denominator
    is positive (a rate over zero impressions means nothing)."""
    eng = figures.get("engagements")
    if eng is None:
        eng = engagements(platform, figures)
    den = figures.get(definition(platform).rate_denominator)
    if eng is None or den is None or den <= 0:
        return None
    return int(eng), int(den)


def definitions_json(platforms: list[str] | None = None) -> dict[str, Any]:
    """The table as the API returns it (every platform, or those named)."""
    names = sorted(platforms) if platforms is not None else sorted(DEFINITIONS)
    return {
        "vocabulary": {"post": list(POST_FIGURES), "account": list(ACCOUNT_FIGURES),
                       "derived": {"engagements": "sum of the platform's engagement_parts that it gave",
                                   "engagement_rate": "engagements / rate_denominator, over posts where both are "
                                                      "known; missing otherwise"}},
        "platforms": {n: definition(n).to_json() for n in names},
        "missing": "null: the platform does not give this figure (never reported as zero)",
    }
