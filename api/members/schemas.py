"""Membership request and response bodies."""
from __future__ import annotations

from marshmallow import Schema, fields

from ..auth.fields import Email, RoleField

__all__ = ["MemberSchema", "MemberAddSchema", "MemberAddedSchema", "MemberPatchSchema"]


class MemberSchema(Schema):
    user_id = fields.Integer(required=True)
    email = fields.String(required=True)
    name = fields.String(required=True)
    role = RoleField(required=True)
    created_at = fields.DateTime(required=True, metadata={"description": "when they joined the workspace"})


class MemberAddSchema(Schema):
    """Add a registered user by email."""

    email = Email(required=True)
    role = RoleField(required=True)


class MemberAddedSchema(Schema):
    """The one answer to adding a member, whether or not the address has an account."""

    message = fields.String(required=True)
    email = fields.String(required=True)
    role = RoleField(required=True)


class MemberPatchSchema(Schema):
    role = RoleField(required=True)
