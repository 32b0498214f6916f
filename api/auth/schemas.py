"""Registration, API token and ``/me`` bodies. Passwords are load-only and
no schema here has a field for a token hash."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from clientnest.db import utcnow
from clientnest.passwords import MIN_LENGTH, password_problem

from ..workspaces.schemas import WorkspaceBriefSchema
from ..fields import Integer
from .fields import AwareDateTime, Email, Password, Text, Timezone

__all__ = [
    "RegisterSchema",
    "RegistrationAcceptedSchema",
    "UserSchema",
    "TokenCreateSchema",
    "TokenCreatedSchema",
    "TokenSchema",
    "MeSchema",
    "MIN_PASSWORD_LENGTH",
]

MIN_PASSWORD_LENGTH = MIN_LENGTH
_LABEL = validate.Length(min=1, max=200)


def _strong(value: str) -> None:
    problem = password_problem(value)
    if problem:
        raise ValidationError(problem)


class RegisterSchema(Schema):
    email = Email(required=True)
    password = Password(validate=_strong, metadata={
        "description": f"at least {MIN_LENGTH} characters that are not spaces, more than two different "
                       "characters, and not a common password"})
    workspace_name = Text(required=True, validate=validate.Length(min=1, max=200))
    name = Text(load_default="", validate=validate.Length(max=200))
    timezone = Timezone(load_default="UTC")


class UserSchema(Schema):
    id = fields.Integer(required=True)
    email = fields.String(required=True)
    name = fields.String(required=True)
    created_at = fields.DateTime(required=True)


class RegistrationAcceptedSchema(Schema):
    """The one answer to every valid registration, new email or not."""

    message = fields.String(required=True)
    next = fields.String(required=True, metadata={"description": "how to get an API token"})


class TokenCreateSchema(Schema):
    """Credentials in the body (no bearer needed) and the new token's label."""

    email = Email(required=True)
    password = Password()
    label = Text(required=True, validate=_LABEL)
    expires_at = AwareDateTime(metadata={"description": "ISO 8601 with offset; must be in the future"})
    expires_in_days = Integer(validate=validate.Range(min=1, max=3650))

    @validates_schema
    def _one_expiry(self, data: dict[str, Any], **_kw: Any) -> None:
        if data.get("expires_at") is not None and data.get("expires_in_days") is not None:
            raise ValidationError("give expires_at or expires_in_days, not both", "expires_in_days")
        if data.get("expires_at") is not None and data["expires_at"] <= utcnow():
            raise ValidationError("must be in the future", "expires_at")

    @staticmethod
    def expiry(data: dict[str, Any]) -> Any:
        """The requested expiry as an aware datetime, or None (never expires)."""
        if data.get("expires_at") is not None:
            return data["expires_at"]
        if data.get("expires_in_days") is not None:
            return utcnow() + timedelta(days=data["expires_in_days"])
        return None


class TokenSchema(Schema):
    """A token as listed: never its value or hash."""

    id = fields.Integer(required=True)
    label = fields.String(required=True)
    prefix = fields.String(required=True, metadata={"description": "first characters of the token, to tell tokens apart"})
    created_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(allow_none=True)
    last_used_at = fields.DateTime(allow_none=True)
    current = fields.Boolean(metadata={"description": "the token this request was made with"})


class TokenCreatedSchema(Schema):
    id = fields.Integer(required=True)
    token = fields.String(required=True, metadata={"description": "the API token; shown this once only"})
    label = fields.String(required=True)
    prefix = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(allow_none=True)


class MeSchema(Schema):
    user = fields.Nested(UserSchema, required=True)
    workspaces = fields.List(fields.Nested(WorkspaceBriefSchema), required=True)
