"""AI request and response bodies.

Every response names the ``provider`` and ``model`` that produced it, says
whether that provider is the bundled ``offline`` one, whether the answer came
from the response cache, and gives the tokens and the cost it was metered at.
"""
from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from ..fields import Integer, check_datetime_range

__all__ = [
    "DraftsIn", "DraftsOut", "RewriteIn", "RewriteOut", "HashtagsIn", "HashtagsOut",
    "SentimentIn", "SentimentOut", "RepliesIn", "RepliesOut", "UsageQuery", "UsageOut",
    "DayOrInstant",
]

_PLATFORM = validate.Length(min=1, max=64)
_LANGUAGE = validate.Regexp(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?$", error="must be a language tag such as en or pt-BR")


class _Trimmed(fields.String):
    """A string trimmed before validation, so "   " is empty."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return super()._deserialize(value, attr, data, **kwargs).strip()


def _provider() -> fields.Field:
    return fields.String(
        load_default=None, validate=validate.Length(min=1, max=64),
        metadata={"description": "AI provider to use (e.g. deepseek, offline); default: the configured one, "
                                 "or the offline provider when no provider has a key"},
    )


# -- requests ----------------------------------------------------------------------

class DraftsIn(Schema):
    brief = _Trimmed(required=True, validate=validate.Length(min=1, max=4000),
                     metadata={"description": "what the posts should say"})
    platforms = fields.List(_Trimmed(validate=_PLATFORM), required=True, validate=validate.Length(min=1, max=10),
                            metadata={"description": "platform names, e.g. twitter, instagram"})
    tone = _Trimmed(load_default="friendly", validate=validate.Length(min=1, max=40),
                    metadata={"description": "e.g. friendly, professional, playful, excited"})
    language = _Trimmed(load_default="en", validate=_LANGUAGE)
    variants = Integer(load_default=1, validate=validate.Range(min=1, max=5),
                       metadata={"description": "drafts per platform"})
    provider = _provider()


class RewriteIn(Schema):
    text = _Trimmed(required=True, validate=validate.Length(min=1, max=10000))
    platform = _Trimmed(required=True, validate=_PLATFORM, metadata={"description": "the platform to adapt it for"})
    provider = _provider()


class HashtagsIn(Schema):
    text = _Trimmed(required=True, validate=validate.Length(min=1, max=10000))
    platform = _Trimmed(required=True, validate=_PLATFORM)
    count = Integer(load_default=5, validate=validate.Range(min=1, max=30))
    provider = _provider()


class SentimentIn(Schema):
    texts = fields.List(
        _Trimmed(validate=validate.Length(min=1, max=5000)), required=True, validate=validate.Length(min=1, max=100),
        metadata={"description": "up to 100 texts, scored in one provider call"},
    )
    provider = _provider()


class ReplyContextIn(Schema):
    post_text = _Trimmed(load_default="", validate=validate.Length(max=10000),
                         metadata={"description": "the post the comment is on"})
    platform = _Trimmed(load_default=None, validate=_PLATFORM,
                        metadata={"description": "where the reply goes; its length limit applies"})
    max_length = Integer(load_default=None, validate=validate.Range(min=20, max=10000))
    rules = fields.List(
        _Trimmed(validate=validate.Length(min=1, max=500)), load_default=list, validate=validate.Length(max=20),
        metadata={"description": "rules for this reply, added to the workspace's reply rules"},
    )


class RepliesIn(Schema):
    comment = _Trimmed(required=True, validate=validate.Length(min=1, max=5000))
    context = fields.Nested(ReplyContextIn, load_default=dict)
    provider = _provider()


class DayOrInstant(fields.String):
    """``YYYY-MM-DD`` (a UTC day) or ISO 8601 with an offset; loads as
    ``(aware UTC datetime, is_day)``. A naive date-time is refused."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> tuple[datetime, bool]:  # type: ignore[override]
        if not isinstance(value, str) or not value.strip():
            raise ValidationError("must be a date (YYYY-MM-DD) or an ISO 8601 date-time with an offset")
        text = value.strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            try:
                d = date.fromisoformat(text)
            except ValueError:
                raise ValidationError("not a valid date") from None
            return check_datetime_range(datetime(d.year, d.month, d.day, tzinfo=UTC)), True
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+", 1) if "T" in text else text)
        except ValueError:
            raise ValidationError("must be a date (YYYY-MM-DD) or an ISO 8601 date-time with an offset") from None
        if dt.tzinfo is None:
            raise ValidationError("must include a UTC offset, e.g. 2025-01-31T00:00:00+00:00")
        return check_datetime_range(dt), False


class UsageQuery(Schema):
    from_ = DayOrInstant(data_key="from", load_default=None,
                         metadata={"description": "start (inclusive): a UTC day or a date-time with offset; "
                                                  "default: the start of this UTC month",
                                   "example": "2025-03-01"})
    to = DayOrInstant(load_default=None,
                      metadata={"description": "end: a UTC day (inclusive) or a date-time with offset "
                                               "(exclusive); default: the end of this UTC month",
                                "example": "2025-03-31T12:00:00+00:00"})


# -- responses -----------------------------------------------------------------------

class UsageFigures(Schema):
    prompt_cache_hit_tokens = fields.Integer(required=True)
    prompt_cache_miss_tokens = fields.Integer(required=True)
    prompt_tokens = fields.Integer(required=True)
    completion_tokens = fields.Integer(required=True)


class _Meta(Schema):
    provider = fields.String(required=True, metadata={"description": "the provider that produced this result"})
    model = fields.String(required=True, metadata={"description": "the model that produced this result"})
    offline = fields.Boolean(required=True, metadata={"description": "true: the bundled offline provider "
                                                                     "(templates and VADER), not an AI model"})
    cached = fields.Boolean(required=True, metadata={"description": "answered from the response cache, at no cost"})
    notice = fields.String(allow_none=True, metadata={"description": "why this provider answered, if a fallback"})
    usage = fields.Nested(UsageFigures, required=True)
    cost_usd = fields.Float(required=True, metadata={"description": "priced from the provider's price table"})


class Checks(Schema):
    length = fields.Integer(required=True)
    max_length = fields.Integer(allow_none=True)
    media_required = fields.Boolean(required=True, metadata={"description": "the platform needs a photo or video"})
    fits_rules = fields.Boolean(required=True)
    problems = fields.List(fields.String(), required=True)


class DraftOut(Checks):
    platform = fields.String(required=True)
    text = fields.String(required=True, metadata={"description": "the whole post, hashtags included"})
    hashtags = fields.List(fields.String(), required=True)


class DraftsOut(_Meta):
    drafts = fields.List(fields.Nested(DraftOut), required=True)


class RewriteOut(_Meta):
    platform = fields.String(required=True)
    text = fields.String(required=True)
    checks = fields.Nested(Checks, required=True)


class HashtagsOut(_Meta):
    platform = fields.String(required=True)
    hashtags = fields.List(fields.String(), required=True)


class SentimentResult(Schema):
    index = fields.Integer(required=True)
    label = fields.String(required=True, metadata={"enum": ["positive", "neutral", "negative"]})
    score = fields.Float(required=True, metadata={"description": "-1 (very negative) to 1 (very positive)"})
    needs_human = fields.Boolean(required=True, metadata={"description": "a complaint, a question or urgent"})
    reasons = fields.List(fields.String(), required=True)


class SentimentOut(_Meta):
    results = fields.List(fields.Nested(SentimentResult), required=True)


class RepliesOut(_Meta):
    reply = fields.String(required=True)
    compliant = fields.Boolean(required=True, metadata={"description": "false: the reply breaks a checkable rule"})
    violations = fields.List(fields.String(), required=True)
    rules = fields.List(fields.String(), required=True, metadata={"description": "the rules the reply followed"})


class UsageRow(UsageFigures):
    day = fields.String(required=True, metadata={"description": "UTC day, YYYY-MM-DD"})
    feature = fields.String(required=True)
    provider = fields.String(required=True)
    model = fields.String(required=True)
    requests = fields.Integer(required=True, metadata={"description": "cache hits and failures included"})
    cache_hits = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    items = fields.Integer(required=True, metadata={"description": "texts scored or posts drafted"})
    cost_usd = fields.Float(required=True)


class UsageTotals(UsageFigures):
    requests = fields.Integer(required=True)
    cache_hits = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    cost_usd = fields.Float(required=True)


class BudgetOut(Schema):
    budget_usd = fields.Float(required=True, metadata={"description": "monthly budget; admins change it with "
                                                                     "PATCH /api/v1/workspaces/{wid}"})
    spent_usd = fields.Float(required=True, metadata={"description": "spent (and reserved) this UTC month"})
    remaining_usd = fields.Float(required=True)
    period_start = fields.DateTime(required=True)
    period_end = fields.DateTime(required=True)


class UsageOut(Schema):
    from_ = fields.DateTime(data_key="from", required=True)
    to = fields.DateTime(required=True)
    days = fields.List(fields.Nested(UsageRow), required=True)
    totals = fields.Nested(UsageTotals, required=True)
    budget = fields.Nested(BudgetOut, required=True)
