"""Request and response shapes of the inbox, post metrics and the reply policy.

Responses are plain dicts built by :func:`comment_json` and
:func:`clientnest.services.metrics.post_metrics`, dumped through the schemas
below; every response field is ``required=True`` so a test that loads a
response through its schema proves it has exactly the documented keys.
"""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from clientnest.models import InboxComment, ReplyMode, ReplyStatus
from clientnest.services.metrics import METRIC_NAMES
from clientnest.services.replies import MAX_REPLY

from ..fields import Cursor, Integer

__all__ = [
    "SENTIMENTS",
    "CommentListArgsSchema",
    "CommentSchema",
    "CommentPageSchema",
    "ReplyRequestSchema",
    "DraftRequestSchema",
    "PostMetricsSchema",
    "ReplyPolicySchema",
    "ReplyPolicyUpdateSchema",
    "comment_json",
]

#: the ``sentiment`` filter: a label, or ``unscored``
SENTIMENTS = ("positive", "neutral", "negative", "unscored")
_REPLY_FILTER = [s.value for s in ReplyStatus] + ["none"]


# -- requests -----------------------------------------------------------------------

class CommentListArgsSchema(Schema):
    account_id = Integer(metadata={"description": "comments on this social account"})
    target_id = Integer(metadata={"description": "comments on this post target (one post on one account)"})
    post_id = Integer(metadata={"description": "comments on any target of this post"})
    sentiment = fields.String(validate=validate.OneOf(SENTIMENTS, error="must be one of: {choices}"),
                              metadata={"description": "positive, neutral, negative, or unscored"})
    needs_human = fields.Boolean(metadata={"description": "flagged (or not) as needing a human"})
    reply_status = fields.String(validate=validate.OneOf(_REPLY_FILTER, error="must be one of: {choices}"),
                                 metadata={"description": "a reply status, or none (no reply activity)"})
    cursor = Cursor()
    limit = Integer(load_default=20, validate=validate.Range(min=1, max=100))


class ReplyRequestSchema(Schema):
    text = fields.String(
        allow_none=True, load_default=None, validate=validate.Length(min=1, max=MAX_REPLY),
        metadata={"description": "the reply; omitted or null: send the drafted reply"},
    )
    resend = fields.Boolean(
        load_default=False,
        metadata={"description": "send although the last attempt's outcome is unknown (after checking the "
                                 "platform that the reply is not there)"},
    )


class DraftRequestSchema(Schema):
    """No fields yet: the draft follows the workspace's brand voice and reply rules."""


class ReplyPolicyUpdateSchema(Schema):
    reply_mode = fields.String(
        required=True, validate=validate.OneOf([m.value for m in ReplyMode], error="must be one of: {choices}"),
        metadata={"description": "off: nothing is drafted or sent; draft: every scored comment gets an AI draft "
                                 "for a human to send; auto_positive: positive comments that need no human are "
                                 "answered automatically, the rest drafted"},
    )


# -- responses -------------------------------------------------------------------------

def _dt(**kw: Any) -> fields.AwareDateTime:
    return fields.AwareDateTime(format="iso", required=True, allow_none=True, **kw)


class SentimentSchema(Schema):
    label = fields.String(required=True, metadata={"description": "positive, neutral or negative"})
    score = fields.Float(required=True, metadata={"description": "-1 (negative) to 1 (positive)"})
    needs_human = fields.Boolean(required=True, metadata={"description": "complaints, questions, urgency"})
    reasons = fields.List(fields.String(), required=True)
    scored_at = _dt()


class ReplySchema(Schema):
    status = fields.String(required=True, allow_none=True,
                           validate=validate.OneOf([s.value for s in ReplyStatus]),
                           metadata={"description": "null: nothing yet; pending: a draft is being written; "
                                                    "drafted; scheduled (retry); queued; sending; sent; failed; "
                                                    "unknown (may or may not be on the platform: check it)"})
    text = fields.String(required=True, allow_none=True, metadata={"description": "the draft, or what is sent"})
    violations = fields.List(fields.String(), required=True,
                             metadata={"description": "reply rules the draft still breaks"})
    automatic = fields.Boolean(required=True, metadata={"description": "sent by the auto_positive policy"})
    requested_by = fields.Integer(required=True, allow_none=True)
    attempts = fields.Integer(required=True)
    queued_at = _dt()
    next_attempt_at = _dt()
    attempted_at = _dt()
    sent_at = _dt()
    external_id = fields.String(required=True, allow_none=True, metadata={"description": "the reply's platform id"})
    error = fields.Dict(required=True, allow_none=True, metadata={"description": "kind and message of the failure"})


class CommentSchema(Schema):
    id = fields.Integer(required=True)
    account_id = fields.Integer(required=True)
    platform = fields.String(required=True)
    target_id = fields.Integer(required=True, allow_none=True)
    post_id = fields.Integer(required=True, allow_none=True)
    external_id = fields.String(required=True)
    post_external_id = fields.String(required=True, allow_none=True)
    parent_external_id = fields.String(required=True, allow_none=True)
    author_id = fields.String(required=True, allow_none=True)
    author_name = fields.String(required=True, allow_none=True)
    text = fields.String(required=True)
    commented_at = _dt()
    received_at = _dt()
    sentiment = fields.Nested(SentimentSchema, required=True, allow_none=True,
                              metadata={"description": "null until scored"})
    reply = fields.Nested(ReplySchema, required=True)


class CommentPageSchema(Schema):
    items = fields.List(fields.Nested(CommentSchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True,
                                metadata={"description": "pass as cursor for the next page; null on the last"})


def _metric_fields() -> dict[str, fields.Field]:
    return {name: fields.Integer(required=True, allow_none=True) for name in METRIC_NAMES}


MetricValuesSchema = Schema.from_dict(_metric_fields(), name="MetricValues")


class SnapshotSchema(Schema):
    id = fields.Integer(required=True)
    fetched_at = _dt()
    metrics = fields.Nested(MetricValuesSchema, required=True,
                            metadata={"description": "normalised figures; null where the platform gives none"})


class TargetMetricsSchema(Schema):
    target_id = fields.Integer(required=True)
    account_id = fields.Integer(required=True)
    platform = fields.String(required=True)
    status = fields.String(required=True)
    external_id = fields.String(required=True, allow_none=True)
    published_at = _dt()
    latest = fields.Nested(SnapshotSchema, required=True, allow_none=True)
    history = fields.List(fields.Nested(SnapshotSchema), required=True, metadata={"description": "oldest first"})


class PostMetricsSchema(Schema):
    post_id = fields.Integer(required=True)
    totals = fields.Nested(MetricValuesSchema, required=True,
                           metadata={"description": "sum of each target's latest snapshot"})
    targets = fields.List(fields.Nested(TargetMetricsSchema), required=True)


class ReplyPolicySchema(Schema):
    reply_mode = fields.String(required=True, validate=validate.OneOf([m.value for m in ReplyMode]))
    brand_voice = fields.String(required=True, metadata={"description": "changed with PATCH /workspaces/{wid}"})
    reply_rules = fields.List(fields.String(), required=True,
                              metadata={"description": "changed with PATCH /workspaces/{wid}"})


def comment_json(c: InboxComment, post_id: int | None) -> dict[str, Any]:
    sentiment = None
    if c.sentiment_label is not None:
        sentiment = {
            "label": c.sentiment_label,
            "score": c.sentiment_score if c.sentiment_score is not None else 0.0,
            "needs_human": bool(c.needs_human),
            "reasons": list(c.sentiment_reasons or []),
            "scored_at": c.scored_at,
        }
    return {
        "id": c.id,
        "account_id": c.account_id,
        "platform": c.platform,
        "target_id": c.target_id,
        "post_id": post_id,
        "external_id": c.external_id,
        "post_external_id": c.post_external_id,
        "parent_external_id": c.parent_external_id,
        "author_id": c.author_id,
        "author_name": c.author_name,
        "text": c.text or "",
        "commented_at": c.commented_at,
        "received_at": c.received_at,
        "sentiment": sentiment,
        "reply": {
            "status": c.reply_status,
            "text": c.reply_text,
            "violations": list(c.reply_violations or []),
            "automatic": c.reply_status in (ReplyStatus.QUEUED, ReplyStatus.SENDING, ReplyStatus.SENT,
                                            ReplyStatus.SCHEDULED, ReplyStatus.UNKNOWN, ReplyStatus.FAILED)
            and c.reply_requested_by is None and c.reply_queued_at is not None,
            "requested_by": c.reply_requested_by,
            "attempts": c.reply_attempts or 0,
            "queued_at": c.reply_queued_at,
            "next_attempt_at": c.reply_due_at,
            "attempted_at": c.reply_attempted_at,
            "sent_at": c.replied_at,
            "external_id": c.reply_external_id,
            "error": c.reply_error,
        },
    }
