"""Query and response schemas of the analytics API."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from clientnest.analytics.queries import RANK_METRICS, SERIES_METRICS

from ..fields import AwareDateTime, Day, Integer

__all__ = [
    "PeriodQuerySchema",
    "AccountPeriodQuerySchema",
    "TimeseriesQuerySchema",
    "TopPostsQuerySchema",
    "BestTimesQuerySchema",
    "NextBestQuerySchema",
    "SummarySchema",
    "TimeseriesSchema",
    "TopPostsSchema",
    "AccountAnalyticsSchema",
    "DefinitionsSchema",
    "BestTimesSchema",
    "NextBestSchema",
    "MAX_DAYS",
    "PredictRequestSchema",
    "PredictionSchema",
]

#: the longest period one request may cover
MAX_DAYS = 732


class AccountPeriodQuerySchema(Schema):
    from_ = Day(data_key="from", metadata={
        "description": "first day (YYYY-MM-DD, in the workspace's time zone); default: 27 days before `to`"})
    to = Day(metadata={"description": "last day, inclusive (YYYY-MM-DD); default: today in the workspace's "
                                              "time zone"})

    @validates_schema
    def _order(self, data: dict[str, Any], **_: Any) -> None:
        start, end = data.get("from_"), data.get("to")
        if start is not None and end is not None:
            if start > end:
                raise ValidationError("must not be before from", field_name="to")
            if (end - start).days + 1 > MAX_DAYS:
                raise ValidationError(f"a period covers at most {MAX_DAYS} days", field_name="to")


class PeriodQuerySchema(AccountPeriodQuerySchema):
    account_id = Integer(validate=validate.Range(min=1), metadata={"description": "one social account"})
    platform = fields.String(validate=validate.Length(min=1, max=64),
                             metadata={"description": "one platform (twitter, facebook, instagram, linkedin ...)"})


class TimeseriesQuerySchema(PeriodQuerySchema):
    metric = fields.String(load_default="impressions",
                           validate=validate.OneOf(SERIES_METRICS, error="must be one of: {choices}"))
    interval = fields.String(load_default="day",
                             validate=validate.OneOf(("day", "week", "month"), error="must be one of: {choices}"))


class TopPostsQuerySchema(PeriodQuerySchema):
    metric = fields.String(load_default="engagements",
                           validate=validate.OneOf(RANK_METRICS, error="must be one of: {choices}"))
    limit = Integer(load_default=10, validate=validate.Range(min=1, max=100))


class BestTimesQuerySchema(Schema):
    limit = Integer(load_default=5, validate=validate.Range(min=1, max=168))


class NextBestQuerySchema(Schema):
    after = AwareDateTime(metadata={"description": "ISO 8601 with offset; default: now"})
    horizon_days = Integer(load_default=7, validate=validate.Range(min=1, max=28))


class PredictRequestSchema(Schema):
    scheduled_at = AwareDateTime(required=True, metadata={"description": "ISO 8601 with offset"})
    text = fields.String(load_default="", validate=validate.Length(max=10000))
    media_kind = fields.String(load_default="none", validate=validate.OneOf(
        ("none", "image", "images", "video"), error="must be one of: {choices}"))
    link = fields.Boolean(load_default=False, metadata={"description": "the post shares a link"})


class PredictionSchema(Schema):
    account_id = fields.Integer()
    available = fields.Boolean()
    reason = fields.String()
    posts_in_history = fields.Integer()
    min_posts = fields.Integer()
    features = fields.Dict()
    engagement_rate = fields.Float()
    interval = fields.Dict()
    engagements = fields.Dict()
    account_median_rate = fields.Float()
    factors = fields.Dict()
    method = fields.String()


class _Open(Schema):
    """Documented keys; the nested figures are described in docs/analytics.md."""

    definitions = fields.Dict(metadata={"description": "the vocabulary and each platform's definitions"})


class SummarySchema(_Open):
    period = fields.Dict()
    previous_period = fields.Dict()
    filters = fields.Dict()
    posts = fields.Dict(metadata={"description": "figures of the posts published in the period: "
                                                 "{value, previous, absolute, relative} each"})
    account = fields.Dict(metadata={"description": "the accounts' own figures: followers, impressions, reach, "
                                                   "profile_views, engagements"})


class TimeseriesSchema(_Open):
    metric = fields.String()
    interval = fields.String()
    period = fields.Dict()
    filters = fields.Dict()
    points = fields.List(fields.Dict(), metadata={"description": "{from, to, starts_at, value} per bucket"})


class TopPostsSchema(_Open):
    metric = fields.String()
    limit = fields.Integer()
    period = fields.Dict()
    filters = fields.Dict()
    posts = fields.List(fields.Dict(), metadata={"description": "text, platform, link, value and figures"})


class AccountAnalyticsSchema(_Open):
    account = fields.Dict()
    period = fields.Dict()
    previous_period = fields.Dict()
    followers = fields.Dict(metadata={"description": "first, last, growth and the daily series"})
    own_figures = fields.Dict()
    posts = fields.Dict()


class DefinitionsSchema(Schema):
    vocabulary = fields.Dict()
    platforms = fields.Dict()
    missing = fields.String()


class BestTimesSchema(Schema):
    account_id = fields.Integer()
    platform = fields.String()
    time_zone = fields.String()
    source = fields.String(metadata={"description": "account_history, or platform_default when history is short"})
    posts_with_rate = fields.Integer()
    min_posts = fields.Integer()
    history_days = fields.Integer()
    account_median_rate = fields.Float(allow_none=True)
    account_mean_rate = fields.Float(allow_none=True)
    method = fields.String()
    ranked = fields.List(fields.Dict())
    heatmap = fields.Dict()


class NextBestSchema(Schema):
    account_id = fields.Integer()
    scheduled_at = fields.String(metadata={"description": "UTC, ISO 8601: pass it as the post's scheduled_at"})
    local_time = fields.String()
    time_zone = fields.String()
    source = fields.String()
    uses_posting_slots = fields.Boolean()
    explanation = fields.String()
    skipped_taken = fields.Integer()
