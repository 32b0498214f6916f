"""Request and response shapes of posts and posting slots.

Responses are built by :func:`post_json` (plain dict building: the list
endpoint is on the hot path) and documented by the ``*Schema`` classes; a
test checks that every response loads cleanly through its schema, so the
two cannot drift apart.
"""
from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from clientnest.models import PostStatus, PublishAttempt, TargetStatus
from clientnest.services.posts import POST_FIELDS, TARGET_FIELDS

from ..fields import AwareDateTime, Cursor, Integer

__all__ = [
    "MAX_TEXT",
    "PostCreateSchema",
    "PostUpdateSchema",
    "PostListArgsSchema",
    "PostSchema",
    "PostDetailSchema",
    "PostPageSchema",
    "CancelResultSchema",
    "SlotsSchema",
    "SlotsResponseSchema",
    "post_json",
    "iso",
]

_N_POST_FIELDS = len(POST_FIELDS)

#: far above every platform's limit (Facebook: 63,206); stops abuse, not posts
MAX_TEXT = 100_000
MAX_ACCOUNTS = 50
MAX_MEDIA = 20
MAX_THREAD = 50


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with offset, in UTC (``+00:00``)."""
    return None if value is None else value.astimezone(UTC).isoformat()


# -- requests -------------------------------------------------------------------

class OverrideSchema(Schema):
    text = fields.String(
        allow_none=True, validate=validate.Length(max=MAX_TEXT),
        metadata={"description": "this account's text instead of the post's; null: use the post's"},
    )


_ACCOUNT_IDS = dict(
    validate=validate.Length(min=1, max=MAX_ACCOUNTS),
    metadata={"description": "the workspace's social accounts to publish on (one target each)"},
)


class _PostFields(Schema):
    text = fields.String(validate=validate.Length(max=MAX_TEXT), metadata={"description": "may be empty only with media"})
    overrides = fields.Dict(
        keys=fields.String(validate=validate.Regexp(r"^[0-9]+$", error="keys are account ids")),
        values=fields.Nested(OverrideSchema),
        metadata={"description": "per-account changes: {\"<account_id>\": {\"text\": \"...\"}}"},
    )
    media_ids = fields.List(Integer(strict=True), validate=validate.Length(max=MAX_MEDIA),
                            metadata={"description": "uploaded media of this workspace, in order"})
    link = fields.Url(schemes={"http", "https"}, allow_none=True, validate=validate.Length(max=2048))
    thread = fields.List(
        fields.String(validate=validate.Length(min=1, max=MAX_TEXT)), validate=validate.Length(max=MAX_THREAD),
        metadata={"description": "follow-up texts published as a reply chain, where the platform has threads"},
    )
    first_comment = fields.String(allow_none=True, validate=validate.Length(min=1, max=MAX_TEXT))
    scheduled_at = AwareDateTime(
        allow_none=True,
        metadata={"description": "ISO 8601 with offset; at most 60 s in the past (then it counts as now)"},
    )
    publish_now = fields.Boolean(metadata={"description": "publish as soon as possible"})
    queue = fields.Boolean(metadata={"description": "take each account's next free posting slot"})

    @validates_schema
    def _one_schedule(self, data: dict[str, Any], **_: Any) -> None:
        given = [n for n in ("scheduled_at", "publish_now", "queue")
                 if (data.get(n) is not None if n == "scheduled_at" else data.get(n))]
        if len(given) > 1:
            raise ValidationError(
                f"give only one of scheduled_at, publish_now and queue (got {' and '.join(given)})",
                field_name=given[1],
            )


class PostCreateSchema(_PostFields):
    """A new post: exactly one of ``scheduled_at``, ``publish_now`` and
    ``queue``, or none of them for a draft."""

    text = fields.String(load_default="", validate=validate.Length(max=MAX_TEXT),
                         metadata={"description": "may be empty only with media"})
    account_ids = fields.List(Integer(strict=True), required=True, **_ACCOUNT_IDS)
    overrides = fields.Dict(
        keys=fields.String(validate=validate.Regexp(r"^[0-9]+$", error="keys are account ids")),
        values=fields.Nested(OverrideSchema), load_default=dict,
        metadata={"description": "per-account changes: {\"<account_id>\": {\"text\": \"...\"}}"},
    )
    media_ids = fields.List(Integer(strict=True), load_default=list, validate=validate.Length(max=MAX_MEDIA))
    link = fields.Url(schemes={"http", "https"}, allow_none=True, load_default=None, validate=validate.Length(max=2048))
    thread = fields.List(
        fields.String(validate=validate.Length(min=1, max=MAX_TEXT)), load_default=list,
        validate=validate.Length(max=MAX_THREAD),
    )
    first_comment = fields.String(allow_none=True, load_default=None, validate=validate.Length(min=1, max=MAX_TEXT))
    scheduled_at = AwareDateTime(
        allow_none=True, load_default=None,
        metadata={"description": "ISO 8601 with offset; at most 60 s in the past (then it counts as now)"},
    )
    publish_now = fields.Boolean(load_default=False)
    queue = fields.Boolean(load_default=False)


class PostUpdateSchema(_PostFields):
    """Only the fields given change. ``scheduled_at: null`` makes the post a
    draft again; ``account_ids`` replaces the accounts."""

    account_ids = fields.List(Integer(strict=True), **_ACCOUNT_IDS)


class PostListArgsSchema(Schema):
    status = fields.List(
        fields.String(validate=validate.OneOf([s.value for s in PostStatus])),
        metadata={"description": "post status; repeat to give several"},
    )
    account_id = Integer(metadata={"description": "posts with a target on this account"})
    from_ = AwareDateTime(data_key="from", metadata={"description": "scheduled_at at or after (ISO 8601 with offset)"})
    to = AwareDateTime(metadata={"description": "scheduled_at before (ISO 8601 with offset)"})
    cursor = Cursor()
    limit = Integer(load_default=20, validate=validate.Range(min=1, max=100))

    @validates_schema
    def _range(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("from_") and data.get("to") and data["from_"] >= data["to"]:
            raise ValidationError("must be later than from", field_name="to")


# -- responses ------------------------------------------------------------------
# Every field is required=True so that loading a response through its schema
# (in the tests) proves the response has exactly the documented keys.

def _dt(**kw: Any) -> fields.AwareDateTime:
    return fields.AwareDateTime(format="iso", required=True, allow_none=True, **kw)


class AttemptSchema(Schema):
    number = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={"description": "publish or reconcile"})
    outcome = fields.String(required=True)
    started_at = _dt()
    finished_at = _dt()
    error = fields.Dict(required=True, allow_none=True, metadata={"description": "class and message of the failure"})


class TargetSchema(Schema):
    id = fields.Integer(required=True)
    account_id = fields.Integer(required=True)
    platform = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf([s.value for s in TargetStatus]), metadata={
        "description": "unconfirmed: final, may have been published (check last_error.profile_url before "
                       "posting again); failed: final, not published"})
    text = fields.String(required=True, metadata={"description": "the text this account publishes (override applied)"})
    text_override = fields.String(required=True, allow_none=True)
    scheduled_at = _dt(metadata={"description": "the time asked for"})
    next_attempt_at = _dt(metadata={"description": "when it is due next: the scheduled time or the next retry"})
    attempts = fields.Integer(required=True)
    external_id = fields.String(required=True, allow_none=True)
    external_url = fields.String(required=True, allow_none=True)
    published_at = _dt()
    last_error = fields.Dict(required=True, allow_none=True, metadata={
        "description": "kind and message of what went wrong; for unconfirmed, profile_url: where to check"})
    updated_at = _dt()


class TargetDetailSchema(TargetSchema):
    attempt_log = fields.List(fields.Nested(AttemptSchema), required=True)


class PostSchema(Schema):
    id = fields.Integer(required=True)
    workspace_id = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf([s.value for s in PostStatus]),
                           metadata={"description": "derived from the targets' statuses"})
    text = fields.String(required=True)
    link = fields.String(required=True, allow_none=True)
    thread = fields.List(fields.String(), required=True)
    first_comment = fields.String(required=True, allow_none=True)
    media_ids = fields.List(fields.Integer(), required=True)
    scheduled_at = _dt()
    created_by = fields.Integer(required=True, allow_none=True)
    created_at = _dt()
    updated_at = _dt()
    targets = fields.List(fields.Nested(TargetSchema), required=True)


class PostDetailSchema(PostSchema):
    targets = fields.List(fields.Nested(TargetDetailSchema), required=True)


class PostPageSchema(Schema):
    items = fields.List(fields.Nested(PostSchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True,
                                metadata={"description": "pass as cursor for the next page; null on the last"})


class SkippedTargetSchema(Schema):
    target_id = fields.Integer(required=True)
    account_id = fields.Integer(required=True)
    status = fields.String(required=True)
    reason = fields.String(required=True)


class CancelResultSchema(PostDetailSchema):
    skipped = fields.List(fields.Nested(SkippedTargetSchema), required=True,
                          metadata={"description": "targets left alone: in flight or already settled"})


class SlotSchema(Schema):
    weekday = fields.Integer(required=True, validate=validate.Range(min=0, max=6),
                             metadata={"description": "0 = Monday ... 6 = Sunday"})
    time = fields.String(required=True, validate=validate.Regexp(r"^([01][0-9]|2[0-3]):[0-5][0-9]$", error="must be HH:MM (00:00 to 23:59)"),
                         metadata={"description": "HH:MM, wall-clock time in the workspace time zone"})


class SlotsSchema(Schema):
    slots = fields.List(fields.Nested(SlotSchema), required=True, validate=validate.Length(max=100))


class SlotsResponseSchema(SlotsSchema):
    account_id = fields.Integer(required=True)
    timezone = fields.String(required=True, metadata={"description": "the workspace's IANA time zone"})
    next_free_slot = _dt(metadata={"description": "the time a queued post would take now"})


# -- serialisation ---------------------------------------------------------------

_post_values = operator.attrgetter(*POST_FIELDS)
_target_values = operator.attrgetter(*TARGET_FIELDS)


def _attempt_json(a: PublishAttempt) -> dict[str, Any]:
    return {
        "number": a.number,
        "kind": a.kind,
        "outcome": a.outcome,
        "started_at": iso(a.started_at),
        "finished_at": iso(a.finished_at),
        "error": a.error,
    }


def _targets_json(targets: Iterable[Sequence[Any]], post_text: str) -> list[dict[str, Any]]:
    """Targets from the values of :data:`TARGET_FIELDS`, in that order."""
    return [
        {
            "id": tid,
            "account_id": account_id,
            "platform": platform,
            "status": status,
            "text": post_text if override is None else override,
            "text_override": override,
            "scheduled_at": iso(scheduled_at),
            "next_attempt_at": iso(next_attempt_at),
            "attempts": attempts or 0,
            "external_id": external_id,
            "external_url": external_url,
            "published_at": iso(published_at),
            "last_error": last_error,
            "updated_at": iso(updated_at),
        }
        for (tid, account_id, platform, status, override, scheduled_at, next_attempt_at, attempts,
             external_id, external_url, published_at, last_error, updated_at, _post_id) in targets
    ]


def post_json(
    post: Any,
    *,
    targets: Sequence[Sequence[Any]] | None = None,
    media_ids: Sequence[int] | None = None,
    detail: bool = False,
) -> dict[str, Any]:
    """The API's view of a post.

    ``post`` is a :class:`Post` (its ``targets`` and ``media_links`` loaded)
    or, for lists, a row of the :data:`POST_FIELDS` values in order (more
    may follow), with ``targets`` (rows of :data:`TARGET_FIELDS` values) and
    ``media_ids`` given. A :class:`Post` is read into the same values first,
    so both come out alike. ``detail`` adds each target's attempt log (load
    ``PostTarget.attempt_log`` eagerly first).
    """
    logs = None
    if targets is None:
        entity = post
        post = _post_values(entity)
        targets = [_target_values(t) for t in entity.targets]
        media_ids = [m.media_id for m in entity.media_links]
        if detail:
            logs = [[_attempt_json(a) for a in t.attempt_log] for t in entity.targets]
    pid, workspace_id, status, text, link, thread, first_comment, scheduled_at, created_by, created_at, updated_at = (
        post[:_N_POST_FIELDS]
    )
    text = text or ""
    targets_out = _targets_json(targets, text)
    if logs is not None:
        for out, log in zip(targets_out, logs, strict=True):
            out["attempt_log"] = log
    return {
        "id": pid,
        "workspace_id": workspace_id,
        "status": status,
        "text": text,
        "link": link,
        "thread": list(thread or []),
        "first_comment": first_comment,
        "media_ids": list(media_ids or []),
        "scheduled_at": iso(scheduled_at),
        "created_by": created_by,
        "created_at": iso(created_at),
        "updated_at": iso(updated_at),
        "targets": targets_out,
    }
