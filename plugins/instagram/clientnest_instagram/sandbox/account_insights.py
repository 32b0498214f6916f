"""The Instagram sandbox's user insights: ``GET /{ig-user-id}/insights``.

The shape is the recorded one (``fixtures/real-api/instagram/pyfacebook_apidata
/users/user_insights.json``): ``data[]`` of ``{name, period, values[{value,
end_time}], title, description, id}``, two daily values ending at 07:00 UTC
(midnight Pacific, where Graph closes its days). Values are those set with
``set_account_metrics``, else small stable numbers so a fresh account has
believable insights.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["USER_METRICS", "FIGURE_OF", "user_insights", "InsightsRefused"]

#: user insight name -> the figure name it carries
USER_METRICS = {"impressions": "impressions", "reach": "reach", "profile_views": "profile_views",
                "follower_count": "new_followers", "accounts_engaged": "engagements"}
FIGURE_OF = USER_METRICS
_TITLES = {"impressions": "Impressions", "reach": "Reach", "profile_views": "Profile Views",
           "follower_count": "Follower Count", "accounts_engaged": "Accounts engaged"}


class InsightsRefused(ValueError):
    """A request Graph answers with its code 100 error (the message is Graph's)."""


def _default(ig_id: str, name: str, day: int) -> int:
    seed = int(hashlib.sha256(f"{ig_id}:{name}:{day}".encode()).hexdigest()[:8], 16)
    return {"impressions": 200 + seed % 900, "reach": 120 + seed % 500, "profile_views": seed % 40,
            "new_followers": seed % 15, "engagements": 10 + seed % 60}.get(name, 0)


def _graph_time(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def user_insights(ig_id: str, figures: Mapping[str, int], params: Mapping[str, str],
                  now: datetime | None = None) -> dict[str, Any]:
    names = [m.strip() for m in params.get("metric", "").split(",") if m.strip()]
    if not names:
        raise InsightsRefused("(#100) The parameter metric is required")
    bad = [n for n in names if n not in USER_METRICS]
    if bad:
        raise InsightsRefused(f"(#100) metric[{names.index(bad[0])}] must be one of the following values: "
                              f"{', '.join(sorted(USER_METRICS))}")
    period = params.get("period", "")
    if period != "day":
        raise InsightsRefused("(#100) Param period must be one of {day, week, days_28, lifetime}"
                              if period else "(#100) The parameter period is required")
    now = now or datetime.now(UTC)
    close = now.replace(hour=7, minute=0, second=0, microsecond=0)
    if close > now:
        close -= timedelta(days=1)
    ends = [close - timedelta(days=1), close]
    data = []
    for name in names:
        figure = USER_METRICS[name]
        values = []
        for i, end in enumerate(ends):
            day = int(end.timestamp() // 86400)
            # the set value is the last complete day's; the day before keeps its default
            value = figures[figure] if (i == 1 and figure in figures) else _default(ig_id, figure, day)
            values.append({"value": int(value), "end_time": _graph_time(end)})
        data.append({"name": name, "period": "day", "values": values, "title": _TITLES[name],
                     "description": f"Daily {_TITLES[name].lower()} of the account",
                     "id": f"{ig_id}/insights/{name}/day"})
    return {"data": data}
