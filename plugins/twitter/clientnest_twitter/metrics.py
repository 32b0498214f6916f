"""X's post metrics, normalised to :class:`~clientnest.PostMetrics`.

X gives (``tweet.fields``):

* ``public_metrics``: ``retweet_count``, ``reply_count``, ``like_count``,
  ``quote_count`` (recorded), plus ``bookmark_count`` and ``impression_count``
  on current API versions;
* ``non_public_metrics`` (the author's own posts, user token, last 30 days):
  ``impression_count``, ``url_link_clicks``, ``user_profile_clicks``;
* ``organic_metrics`` (same conditions);
* per video, ``public_metrics.view_count`` on the expanded media.

Mapping: impressions = non-public impressions, else public ones; likes =
likes; comments = replies; shares = retweets + quotes; saves = bookmarks;
clicks = link clicks; video views = the sum of the attached videos' views.
X has no reach: always ``None``. The whole tweet (and its media) is kept in ``raw``.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clientnest import PostMetrics

__all__ = ["normalize", "PUBLIC_FIELDS", "PRIVATE_FIELDS", "TO_PUBLIC"]

PUBLIC_FIELDS = ("public_metrics",)
PRIVATE_FIELDS = ("non_public_metrics", "organic_metrics")

#: PostMetrics name -> the public_metrics / non_public_metrics key that carries it
#: (used by the sandbox's metrics control too)
TO_PUBLIC = {
    "likes": "like_count",
    "comments": "reply_count",
    "saves": "bookmark_count",
    "impressions": "impression_count",
}


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def normalize(tweet: Mapping[str, Any], media_by_key: Mapping[str, Mapping[str, Any]] | None = None) -> PostMetrics:
    public = tweet.get("public_metrics") or {}
    private = tweet.get("non_public_metrics") or {}
    media = [
        media_by_key[k] for k in ((tweet.get("attachments") or {}).get("media_keys") or [])
        if media_by_key and k in media_by_key
    ]
    impressions = _int(private.get("impression_count"))
    if impressions is None:
        impressions = _int(public.get("impression_count"))
    retweets, quotes = _int(public.get("retweet_count")), _int(public.get("quote_count"))
    shares = None if retweets is None and quotes is None else (retweets or 0) + (quotes or 0)
    views = [_int((m.get("public_metrics") or {}).get("view_count")) for m in media if m.get("type") == "video"]
    views_known = [v for v in views if v is not None]
    raw: dict[str, Any] = dict(tweet)
    if media:
        raw["includes_media"] = media
    return PostMetrics(
        external_id=str(tweet["id"]),
        impressions=impressions,
        reach=None,
        likes=_int(public.get("like_count")),
        comments=_int(public.get("reply_count")),
        shares=shares,
        saves=_int(public.get("bookmark_count")),
        clicks=_int(private.get("url_link_clicks")),
        video_views=sum(views_known) if views_known else None,
        raw=raw,
    )
