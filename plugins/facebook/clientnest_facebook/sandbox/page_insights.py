"""The Facebook sandbox's Page insights: ``GET /{page-id}/insights``.

No Page insights were recorded from the real API (see the fixtures' README);
the envelope is the one Graph uses for every insights edge and that the
Instagram user insights recordings show: ``data[]`` of ``{name, period,
values[{value, end_time}], title, description, id}``, two daily values ending
at 07:00 UTC (midnight Pacific). Values are those set with
``set_account_metrics``, else small stable numbers.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["PAGE_METRICS", "page_insights", "InsightsRefused"]

#: Page insight name -> the figure name it carries
PAGE_METRICS = {
    "page_impressions": "impressions",
    "page_impressions_unique": "reach",
    "page_views_total": "profile_views",
    "page_post_engagements": "engagements",
    "page_daily_follows_unique": "new_followers",
}
_TITLES = {
    "page_impressions": "Daily Total Impressions",
    "page_impressions_unique": "Daily Total Reach",
    "page_views_total": "Daily Total views count per Page",
    "page_post_engagements": "Daily Post Engagements",
    "page_daily_follows_unique": "Daily New Follows",
}


class InsightsRefused(ValueError):
    """A request Graph answers with its code 100 error (the message is Graph's)."""


def _default(page_id: str, figure: str, day: int) -> int:
    seed = int(hashlib.sha256(f"{page_id}:{figure}:{day}".encode()).hexdigest()[:8], 16)
    return {"impressions": 300 + seed % 1200, "reach": 150 + seed % 600, "profile_views": seed % 50,
            "engagements": 20 + seed % 80, "new_followers": seed % 10}.get(figure, 0)


def _graph_time(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def page_insights(page_id: str, figures: Mapping[str, int], params: Mapping[str, str],
                  now: datetime | None = None) -> dict[str, Any]:
    names = [m.strip() for m in params.get("metric", "").split(",") if m.strip()]
    if not names:
        raise InsightsRefused("(#100) The parameter metric is required")
    bad = [n for n in names if n not in PAGE_METRICS]
    if bad:
        raise InsightsRefused(f"(#100) The value must be a valid insights metric: {bad[0]}")
    period = params.get("period", "day")
    if period != "day":
        raise InsightsRefused("(#100) The sandbox answers period=day only")
    now = now or datetime.now(UTC)
    close = now.replace(hour=7, minute=0, second=0, microsecond=0)
    if close > now:
        close -= timedelta(days=1)
    ends = [close - timedelta(days=1), close]
    data = []
    for name in names:
        figure = PAGE_METRICS[name]
        values = []
        for i, end in enumerate(ends):
            value = figures[figure] if (i == 1 and figure in figures) else \
                _default(page_id, figure, int(end.timestamp() // 86400))
            values.append({"value": int(value), "end_time": _graph_time(end)})
        data.append({"name": name, "period": "day", "values": values, "title": _TITLES[name],
                     "description": f"{_TITLES[name]} of the Page", "id": f"{page_id}/insights/{name}/day"})
    return {"data": data}
