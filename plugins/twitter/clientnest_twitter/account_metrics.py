"""X's account-level figures, normalised to :class:`~clientnest.AccountMetrics`.

X API v2 gives a user's ``public_metrics`` (``followers_count``,
``following_count``, ``tweet_count``, ``listed_count``; recorded in
``fixtures/real-api/twitter/superface_station``). It has no account-level
impressions, reach, profile views or engagements for a standard app, so those
stay ``None``: missing, not zero.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clientnest import AccountMetrics

__all__ = ["normalize_user", "USER_FIELDS"]

#: what the collection asks for (``user.fields``)
USER_FIELDS = "public_metrics"


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    try:
        n = int(str(value))
    except (TypeError, ValueError):
        return None
    return n if n >= 0 else None


def normalize_user(user: Mapping[str, Any]) -> AccountMetrics:
    """One ``data`` object of ``GET /2/users/me?user.fields=public_metrics``."""
    public = user.get("public_metrics") or {}
    return AccountMetrics(
        external_id=str(user.get("id") or ""),
        followers=_int(public.get("followers_count")),
        period="day",
        raw=dict(user),
    )
