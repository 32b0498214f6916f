"""Which ``LinkedIn-Version`` to send, derived from the calendar.

LinkedIn releases a version of its versioned (``/rest``) API every month, named
``YYYYMM`` (a rare fix release adds ``.NN``), and supports each one for at least
a year; after that it answers ``426 NONEXISTENT_VERSION`` ("Requested version
... is not active") to every call. A default written into the code therefore
goes stale a year after the release that wrote it, and every post fails.

So the default is computed: the month :data:`DEFAULT_AGE_MONTHS` before the
current one. That version has certainly been released (LinkedIn publishes a
month's version during that month) and stays supported for about ten more
months; since the default moves with the calendar, it never reaches its
sunset. An operator may pin a version (``CLIENTNEST_LINKEDIN_API_VERSION``)
to hold back a behaviour change; :func:`is_active` tells whether a pinned
version is still inside LinkedIn's window, which the connector warns about at
start-up and names in the error of a 426.
"""
from __future__ import annotations

import re
from datetime import UTC, date, datetime

__all__ = [
    "DEFAULT_AGE_MONTHS",
    "SUPPORT_MONTHS",
    "VERSION_RE",
    "default_api_version",
    "is_active",
    "month_of",
]

#: how many months older than the current month the default version is
DEFAULT_AGE_MONTHS = 2
#: LinkedIn supports a version for (at least) this many months after its release
SUPPORT_MONTHS = 12
#: ``YYYYMM`` or ``YYYYMM.NN``
VERSION_RE = re.compile(r"^(\d{4})(\d{2})(\.\d{2})?$")


def _today(today: date | None) -> date:
    return today or datetime.now(UTC).date()


def _months(year: int, month: int) -> int:
    """A month as a single number, so that distances are subtractions."""
    return year * 12 + (month - 1)


def month_of(version: str) -> int | None:
    """The release month of ``version`` as :func:`_months` counts, or None
    when it is not a ``YYYYMM`` version."""
    m = VERSION_RE.match(version)
    if not m or not 1 <= int(m.group(2)) <= 12:
        return None
    return _months(int(m.group(1)), int(m.group(2)))


def default_api_version(today: date | None = None) -> str:
    """The version sent when none is configured: :data:`DEFAULT_AGE_MONTHS`
    before ``today``'s month (UTC today by default)."""
    d = _today(today)
    n = _months(d.year, d.month) - DEFAULT_AGE_MONTHS
    return f"{n // 12:04d}{n % 12 + 1:02d}"


def is_active(version: str, today: date | None = None) -> bool:
    """Whether LinkedIn still serves ``version`` on ``today``: released (not in
    the future) and less than :data:`SUPPORT_MONTHS` old."""
    released = month_of(version)
    if released is None:
        return False
    d = _today(today)
    age = _months(d.year, d.month) - released
    return 0 <= age < SUPPORT_MONTHS
