"""Marshmallow fields and checks shared by every request schema.

Each holds one rule that plain marshmallow does not, so that a value the
database or the rest of the code cannot hold is refused at the door with a
422 naming the field, never met later as a 500:

- :class:`Integer`: a signed 64-bit integer (every id column is a BIGINT;
  SQLite and psycopg refuse larger Python ints with ``OverflowError``);
- :func:`Cursor`: a page cursor, which is an id spelt as a string;
- :class:`AwareDateTime`: ISO 8601 with an offset, loaded in UTC, within
  :data:`MIN_DATETIME` and :data:`MAX_DATETIME` (``9999-12-31T23:59:59-14:00``
  is year 10000 in UTC, which Python cannot represent);
- :func:`text_problem`: a lone UTF-16 surrogate or a NUL character, which no
  UTF-8 encoder (and no PostgreSQL text column) accepts. The request parser
  (:mod:`clientnest.api.extensions`) applies it to every string of every
  request, keys included, so no string field needs its own check.
"""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from marshmallow import ValidationError, fields, validate

__all__ = [
    "INT64_MIN",
    "INT64_MAX",
    "MIN_DATETIME",
    "Day",
    "MAX_DATETIME",
    "Integer",
    "Cursor",
    "AwareDateTime",
    "fits_int64",
    "check_datetime_range",
    "text_problem",
    "escape_bad_text",
]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

#: the range every date-time the API takes must fall in (in UTC). The margins
#: leave room for the arithmetic done on them (retry backoffs, metrics
#: schedules, "the whole day" of a date) without leaving Python's range.
MIN_DATETIME = datetime(1900, 1, 1, tzinfo=UTC)
MAX_DATETIME = datetime(9999, 1, 1, tzinfo=UTC)

_INT64_RANGE = validate.Range(
    min=INT64_MIN, max=INT64_MAX, error=f"must be a 64-bit integer, from {INT64_MIN} to {INT64_MAX}",
)


def fits_int64(value: int) -> bool:
    return INT64_MIN <= value <= INT64_MAX


class Integer(fields.Integer):
    """An integer that fits a signed 64-bit column.

    The bound is a ``Range`` validator, so the OpenAPI document shows it as
    ``minimum``/``maximum`` next to any narrower range the field also has.
    """

    def __init__(self, **kwargs: Any) -> None:
        given = kwargs.pop("validate", None)
        extra = [] if given is None else list(given) if isinstance(given, (list, tuple)) else [given]
        super().__init__(validate=[_INT64_RANGE, *extra], **kwargs)


def _cursor_fits(value: str) -> None:
    # marshmallow runs every validator: one that is not digits is the regex's to refuse
    if value.isascii() and value.isdigit() and int(value) > INT64_MAX:
        raise ValidationError("not a cursor from this API")


def Cursor(**kwargs: Any) -> fields.String:  # noqa: N802 - reads like a field class
    """The ``next_cursor`` of a previous page: an id, as a string of digits."""
    kwargs.setdefault("metadata", {"description": "next_cursor of the previous page"})
    return fields.String(
        validate=[validate.Regexp(r"^[0-9]{1,19}$", error="not a cursor from this API"), _cursor_fits],
        **kwargs,
    )


def check_datetime_range(value: datetime) -> datetime:
    """``value`` (aware) in UTC, or a :class:`ValidationError` when it lies
    outside :data:`MIN_DATETIME` .. :data:`MAX_DATETIME`."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError:  # beyond year 1 or 9999 once the offset is applied
        utc = None
    if utc is None or not MIN_DATETIME <= utc < MAX_DATETIME:
        raise ValidationError(
            f"out of range: must be from {MIN_DATETIME.isoformat()} to before {MAX_DATETIME.isoformat()}"
        )
    return utc


class AwareDateTime(fields.AwareDateTime):
    """ISO 8601 with a UTC offset, loaded as an aware datetime in UTC.

    A naive value is refused, not guessed; so is one outside
    :data:`MIN_DATETIME` .. :data:`MAX_DATETIME`.
    """

    default_error_messages = {
        "invalid": "not a valid ISO 8601 datetime",
        "invalid_awareness": "needs a UTC offset, e.g. 2030-01-31T09:00:00+01:00",
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("format", "iso")
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        return check_datetime_range(super()._deserialize(value, attr, data, **kwargs))


class Day(fields.Date):
    """``YYYY-MM-DD`` within :data:`MIN_DATETIME` .. :data:`MAX_DATETIME`, less
    two days, so that a day turned into its instants in any time zone (and the
    day after it) stays a valid date-time."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date:
        day = super()._deserialize(value, attr, data, **kwargs)
        first, last = MIN_DATETIME.date(), MAX_DATETIME.date() - timedelta(days=2)
        if not first <= day <= last:
            raise ValidationError(f"out of range: must be from {first.isoformat()} to {last.isoformat()}")
        return day


# U+D800..U+DFFF on their own (JSON's "\ud800" escape) and U+0000
_BAD_TEXT = re.compile("[\ud800-\udfff\x00]")


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or ``None`` when it can."""
    found = _BAD_TEXT.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "must not contain the NUL character (U+0000)"
    return "must not contain a lone UTF-16 surrogate (U+D800 to U+DFFF): send valid Unicode text"


def escape_bad_text(value: str) -> str:
    """``value`` with what :func:`text_problem` refuses spelt as ``\\uXXXX``
    (to name a bad key in an error without sending the bad character back)."""
    return _BAD_TEXT.sub(lambda m: f"\\u{ord(m.group()):04x}", value)
