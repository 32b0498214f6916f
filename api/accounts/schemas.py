"""Schemas of /api/v1/workspaces/{wid}/accounts and the OAuth callback.

No schema here ever dumps credentials: :class:`AccountSchema` has no field
for them, so they cannot leak through a response by accident.
"""
from __future__ import annotations

import re
from typing import Any

import marshmallow as ma

from ..fields import AwareDateTime

__all__ = [
    "AccountSchema",
    "AccountListSchema",
    "ConnectRequestSchema",
    "ConnectStartSchema",
    "CallbackQuerySchema",
    "CandidateSchema",
    "CandidatesSchema",
    "SelectRequestSchema",
    "CredentialsInputSchema",
    "TokenConnectSchema",
]


class AccountSchema(ma.Schema):
    id = ma.fields.Integer()
    platform = ma.fields.String()
    external_id = ma.fields.String(metadata={"description": "the platform's id (LinkedIn: the URN)"})
    display_name = ma.fields.String()
    username = ma.fields.String(allow_none=True)
    kind = ma.fields.String(metadata={"description": "user, page, business, person, organization ..."})
    status = ma.fields.String(metadata={"description": "connected, needs_reconnect or disabled"})
    status_reason = ma.fields.String(allow_none=True)
    token_expires_at = ma.fields.AwareDateTime(allow_none=True)
    created_at = ma.fields.AwareDateTime()


class AccountListSchema(ma.Schema):
    accounts = ma.fields.List(ma.fields.Nested(AccountSchema))


class ConnectRequestSchema(ma.Schema):
    platform = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    redirect_uri = ma.fields.Url(
        schemes={"http", "https"}, require_tld=False,
        metadata={"description": "where the platform sends the browser back; default: this API's "
                                 "/api/v1/oauth/{platform}/callback. It must be registered with the platform, and "
                                 "be on this install's public URL or its oauth_redirect_allowlist (else 422)."},
    )


class ConnectStartSchema(ma.Schema):
    authorization_url = ma.fields.String(metadata={"description": "send the user's browser here"})
    state = ma.fields.String(metadata={"description": "single use; the callback must carry it back"})
    expires_at = ma.fields.AwareDateTime()
    binding = ma.fields.String(metadata={
        "description": "shown once. A browser needs nothing: this response set it as the "
                       "clientnest_oauth_binding cookie. An API client completing the callback itself sends it "
                       "as the X-ClientNest-OAuth-Binding header (or that cookie); without it the callback is 403"})


class CallbackQuerySchema(ma.Schema):
    class Meta:
        # platforms add parameters of their own (scope, granted_scopes ...)
        unknown = ma.EXCLUDE

    state = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=512))
    code = ma.fields.String(validate=ma.validate.Length(min=1, max=4096))
    error = ma.fields.String(metadata={"description": "sent by the platform when the user declined"})
    error_description = ma.fields.String()


class CandidateSchema(ma.Schema):
    external_id = ma.fields.String()
    display_name = ma.fields.String()
    username = ma.fields.String(allow_none=True)
    kind = ma.fields.String()


class CandidatesSchema(ma.Schema):
    connection_id = ma.fields.Integer(metadata={"description": "POST .../accounts/connect/{connection_id}/select"})
    workspace_id = ma.fields.Integer()
    platform = ma.fields.String()
    expires_at = ma.fields.AwareDateTime()
    candidates = ma.fields.List(ma.fields.Nested(CandidateSchema))


class SelectRequestSchema(ma.Schema):
    external_ids = ma.fields.List(
        ma.fields.String(validate=ma.validate.Length(min=1, max=255)),
        required=True, validate=ma.validate.Length(min=1, max=100),
    )


# A token travels in an HTTP header (``Authorization: Bearer ...``), where
# only visible ASCII is safe: anything else fails in the HTTP client, or is
# refused by it with the header, token included, in its error message.
_TOKEN_PATTERN = re.compile(r"[\x21-\x7e]*")


def _token_chars(value: str) -> None:
    if not _TOKEN_PATTERN.fullmatch(value):
        raise ma.ValidationError("must be visible ASCII characters only (it is sent in an HTTP header)")


def _token_field(**kwargs: Any) -> ma.fields.String:
    return ma.fields.String(
        validate=[ma.validate.Length(min=1, max=8192), _token_chars],
        metadata={"pattern": "^[\\x21-\\x7e]+$", "description": "visible ASCII, as the platform issued it"},
        **kwargs,
    )


class CredentialsInputSchema(ma.Schema):
    class Meta:
        # platform-specific extras (a token secret, a page id ...) pass through
        unknown = ma.INCLUDE

    access_token = _token_field(required=True)
    refresh_token = _token_field(allow_none=True)
    expires_at = AwareDateTime(allow_none=True)
    extra = ma.fields.Dict(keys=ma.fields.String())


class TokenConnectSchema(ma.Schema):
    platform = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    credentials = ma.fields.Nested(CredentialsInputSchema, required=True)
