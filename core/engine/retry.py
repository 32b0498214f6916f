"""When to try again: exponential backoff with jitter, the platform's word first."""
from __future__ import annotations

import random
from datetime import datetime, timedelta

from ..settings import Settings

__all__ = ["backoff_delay", "next_retry_at"]


def backoff_delay(settings: Settings, failures: int, *, rng: random.Random | None = None) -> float:
    """Seconds to wait after the ``failures``-th failure (1-based): the base
    doubles per failure up to ``retry_max_seconds``; the delay is drawn in
    [d/2, d] ("equal jitter"), so workers that failed together spread out
    but none comes back sooner than half the backoff."""
    d = min(settings.retry_max_seconds, settings.retry_base_seconds * 2 ** max(0, failures - 1))
    r = (rng or random).random()
    return d / 2 + r * d / 2


def next_retry_at(settings: Settings, failures: int, now: datetime, retry_at: datetime | None) -> datetime:
    """The platform's ``retry_at`` (``Retry-After``, rate-limit reset) exactly
    when it gave one in the future; our own backoff otherwise."""
    if retry_at is not None and retry_at > now:
        return retry_at
    return now + timedelta(seconds=backoff_delay(settings, failures))
