"""Facebook Page figures, normalised to :class:`~clientnest.AccountMetrics`.

Two Graph reads:

* ``GET /{page-id}?fields=followers_count,fan_count`` (``fan_count`` is in the
  recordings; ``followers_count`` is what Meta counts as followers since the
  2023 Page experience; ``fan_count`` (likes) is the fallback);
* ``GET /{page-id}/insights?metric=...&period=day``: ``page_impressions``,
  ``page_impressions_unique`` (reach), ``page_views_total``,
  ``page_post_engagements``, in the Graph insights envelope (no Page insights
  were recorded; the envelope is the recorded Instagram one). Meta retires
  Page metrics over time, so when the set is refused the connector asks for
  :data:`FALLBACK_INSIGHTS` and the rest stays ``None``.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from clientnest import AccountMetrics

__all__ = ["PAGE_INSIGHTS", "FALLBACK_INSIGHTS", "normalize"]

PAGE_INSIGHTS = ("page_impressions", "page_impressions_unique", "page_views_total", "page_post_engagements")
FALLBACK_INSIGHTS = ("page_post_engagements",)
_FIGURE = {"page_impressions": "impressions", "page_impressions_unique": "reach",
           "page_views_total": "profile_views", "page_post_engagements": "engagements"}


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def normalize(page_id: str, page: Mapping[str, Any], insights: Mapping[str, Any] | None) -> AccountMetrics:
    figures: dict[str, int | None] = {}
    period_end: datetime | None = None
    for metric in (insights or {}).get("data") or []:
        if not isinstance(metric, Mapping) or metric.get("name") not in _FIGURE:
            continue
        values = metric.get("values") or []
        last = values[-1] if values and isinstance(values[-1], Mapping) else {}
        figures[_FIGURE[str(metric["name"])]] = _count(last.get("value"))
        end = last.get("end_time")
        if period_end is None and isinstance(end, str):
            try:
                period_end = datetime.strptime(end, "%Y-%m-%dT%H:%M:%S%z")
            except ValueError:
                pass
    followers = _count(page.get("followers_count"))
    if followers is None:
        followers = _count(page.get("fan_count"))
    return AccountMetrics(
        external_id=str(page_id), followers=followers, impressions=figures.get("impressions"),
        reach=figures.get("reach"), profile_views=figures.get("profile_views"),
        engagements=figures.get("engagements"), period="day", period_end=period_end,
        raw={"page": dict(page), "insights": insights},
    )
