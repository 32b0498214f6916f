"""Schemas of the liveness and readiness probes."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

__all__ = ["AliveSchema", "ReadySchema"]


class AliveSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(["ok"]))


class ReadySchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(["ready", "not ready"]))
    checks = fields.Dict(
        keys=fields.String(), values=fields.String(), required=True,
        metadata={"description": "each dependency (database, queue) and `ok`, `ok (in-process)` "
                                 "or `error: <exception class>`",
                  "example": {"database": "ok", "queue": "ok (in-process)"}},
    )
