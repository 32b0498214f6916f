"""Instagram account figures, normalised to :class:`~clientnest.AccountMetrics`.

Two Graph reads (both shapes recorded in ``fixtures/real-api/instagram``):

* ``GET /{ig-user-id}?fields=followers_count`` (``users/user_fields.json``);
* ``GET /{ig-user-id}/insights?metric=impressions,reach,profile_views&period=day``
  (``users/user_insights.json``): ``data[]`` of ``{name, period, values[{value,
  end_time}]}``; the last value is the last complete day. Graph versions from
  v22 dropped ``impressions`` and ``profile_views`` for accounts, so when the
  full set is refused the connector asks for ``reach`` alone
  (:data:`FALLBACK_INSIGHTS`) and the other figures stay ``None``.

Instagram has no account-level engagements figure with ``period=day`` (it
needs ``metric_type=total_value``): ``engagements`` stays ``None``.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from clientnest import AccountMetrics

__all__ = ["USER_INSIGHTS", "FALLBACK_INSIGHTS", "normalize"]

USER_INSIGHTS = ("impressions", "reach", "profile_views")
FALLBACK_INSIGHTS = ("reach",)


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _last(metric: Mapping[str, Any]) -> tuple[int | None, datetime | None]:
    values = metric.get("values") or []
    if values and isinstance(values[-1], Mapping):
        end = values[-1].get("end_time")
        try:
            when = datetime.strptime(end, "%Y-%m-%dT%H:%M:%S%z") if isinstance(end, str) else None
        except ValueError:
            when = None
        return _count(values[-1].get("value")), when
    return _count((metric.get("total_value") or {}).get("value")), None


def normalize(account_id: str, user: Mapping[str, Any], insights: Mapping[str, Any] | None) -> AccountMetrics:
    """From the user fields and the insights answer (``None`` when refused)."""
    figures: dict[str, int | None] = {}
    period_end: datetime | None = None
    for metric in (insights or {}).get("data") or []:
        if isinstance(metric, Mapping) and metric.get("name") in USER_INSIGHTS:
            value, end = _last(metric)
            figures[str(metric["name"])] = value
            period_end = period_end or end
    return AccountMetrics(
        external_id=str(account_id),
        followers=_count(user.get("followers_count")),
        impressions=figures.get("impressions"),
        reach=figures.get("reach"),
        profile_views=figures.get("profile_views"),
        engagements=None,
        period="day",
        period_end=period_end,
        raw={"user": dict(user), "insights": insights},
    )
