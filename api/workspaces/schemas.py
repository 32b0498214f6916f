"""Workspace request and response bodies."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from ..auth.fields import RoleField, Text, Timezone

__all__ = ["WorkspaceSchema", "WorkspaceBriefSchema", "WorkspaceCreateSchema", "WorkspacePatchSchema", "workspace_out"]

_NAME = validate.Length(min=1, max=200)
_MAX_BUDGET = 99_999_999


class WorkspaceBriefSchema(Schema):
    """A workspace as listed under ``GET /me``."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)
    timezone = fields.String(required=True)
    role = RoleField(required=True, metadata={"description": "the caller's role here"})


class WorkspaceSchema(WorkspaceBriefSchema):
    """A workspace with its settings and the caller's role in it."""

    brand_voice = fields.String(required=True)
    reply_rules = fields.List(fields.String(), required=True)
    ai_budget_usd = fields.Float(required=True, metadata={"description": "monthly AI budget in USD"})
    created_at = fields.DateTime(required=True)


class WorkspaceCreateSchema(Schema):
    name = Text(required=True, validate=_NAME)
    timezone = Timezone(load_default="UTC")


class WorkspacePatchSchema(Schema):
    """Only the fields given change; admin or owner only."""

    name = Text(validate=_NAME)
    timezone = Timezone()
    brand_voice = fields.String(validate=validate.Length(max=5000))
    reply_rules = fields.List(
        Text(validate=validate.Length(min=1, max=500)), validate=validate.Length(max=50),
        metadata={"description": "rules the AI follows when drafting replies"},
    )
    ai_budget_usd = fields.Decimal(
        places=4, validate=validate.Range(min=0, max=_MAX_BUDGET),
        # apispec writes a Decimal field's bounds as strings ("0.0000"), which
        # makes the OpenAPI document invalid: give them as numbers
        metadata={"description": "monthly AI budget in USD, >= 0", "minimum": 0, "maximum": _MAX_BUDGET},
    )


def workspace_out(ws: Any, role: str) -> dict[str, Any]:
    """A workspace row and the caller's role, shaped for :class:`WorkspaceSchema`."""
    return {
        "id": ws.id,
        "name": ws.name,
        "timezone": ws.timezone,
        "role": role,
        "brand_voice": ws.brand_voice or "",
        "reply_rules": list(ws.reply_rules or []),
        "ai_budget_usd": ws.ai_budget_usd,
        "created_at": ws.created_at,
    }
