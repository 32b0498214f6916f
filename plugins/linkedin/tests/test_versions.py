"""The LinkedIn-Version default follows the calendar and never goes stale."""
from __future__ import annotations

from datetime import date

import pytest

from clientnest_linkedin.versions import default_api_version, is_active


@pytest.mark.parametrize(("today", "expected"), [
    (date(2026, 12, 2), "202610"),
    (date(2027, 1, 31), "202611"),   # across a year end
    (date(2027, 2, 1), "202612"),
    (date(2025, 3, 15), "202501"),
])
def test_default_is_two_months_back(today: date, expected: str) -> None:
    assert default_api_version(today) == expected
    assert is_active(expected, today)


def test_the_default_stays_inside_linkedins_window_every_day_for_years() -> None:
    day = date(2024, 1, 1)
    while day < date(2031, 1, 1):
        assert is_active(default_api_version(day), day), day
        day = date.fromordinal(day.toordinal() + 1)


@pytest.mark.parametrize(("version", "active"), [
    ("202612", True),       # this month's release
    ("202601", True),       # eleven months old
    ("202512", False),      # a year old: LinkedIn has sunset it
    ("202405", False),      # the old hard-coded default
    ("202701", False),      # not released yet
    ("202608.02", True),    # a fix release
    ("202613", False), ("2026-05", False), ("", False),
])
def test_window(version: str, active: bool) -> None:
    assert is_active(version, date(2026, 12, 2)) is active
