"""Bodies of the browser session routes. The password is load-only and the
session token travels only in the Set-Cookie header, never in a body."""
from __future__ import annotations

from marshmallow import Schema

from ..auth.fields import Email, Password
from ..auth.schemas import MeSchema

__all__ = ["SessionCreateSchema", "MeSchema"]


class SessionCreateSchema(Schema):
    """Credentials to sign in with."""

    email = Email(required=True)
    password = Password()
