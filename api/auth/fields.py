"""Marshmallow fields shared by the identity resources (auth, workspaces, members)."""
from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate

from clientnest.models import Role
from clientnest.services.identity import check_timezone, normalize_email

from ..fields import AwareDateTime

__all__ = ["Email", "Text", "Timezone", "RoleField", "AwareDateTime", "Password"]


class Text(fields.String):
    """A string trimmed of surrounding whitespace before validation."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return super()._deserialize(value, attr, data, **kwargs).strip()


class Email(fields.Email):
    """An email address, trimmed and lower-cased (how it is stored and compared)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("validate", validate.Length(max=320))
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, str):
            value = value.strip()
        return normalize_email(super()._deserialize(value, attr, data, **kwargs))


def _check_timezone(value: str) -> None:
    try:
        check_timezone(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


class Timezone(fields.String):
    """An IANA time zone name, e.g. ``Europe/Paris``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {"description": "IANA time zone name, e.g. Europe/Paris", "example": "Europe/Paris"})
        super().__init__(validate=_check_timezone, **kwargs)


class RoleField(fields.String):
    """One of owner, admin, editor, viewer."""

    def __init__(self, **kwargs: Any) -> None:
        values = [r.value for r in Role]
        kwargs.setdefault("metadata", {"enum": values, "description": "viewer < editor < admin < owner"})
        super().__init__(validate=validate.OneOf(values, error="must be one of: {choices}"), **kwargs)


def Password(**kwargs: Any) -> fields.String:  # noqa: N802 - reads like a field class
    """A write-only password field (never dumped)."""
    kwargs.setdefault("validate", validate.Length(min=1, max=1024))
    return fields.String(load_only=True, required=True, **kwargs)
