"""Schemas of /api/v1/webhooks/{platform}."""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields

__all__ = ["VerificationQuerySchema", "CrcResponseSchema", "WebhookResultSchema"]


class VerificationQuerySchema(Schema):
    """Meta's subscription check (``hub.*``) or X's challenge-response check (``crc_token``)."""

    class Meta:
        unknown = EXCLUDE  # platforms add parameters of their own

    hub_mode = fields.String(data_key="hub.mode", metadata={"description": "Meta: always `subscribe`"})
    hub_verify_token = fields.String(data_key="hub.verify_token",
                                     metadata={"description": "Meta: the Verify Token set in the App Dashboard"})
    hub_challenge = fields.String(data_key="hub.challenge", metadata={"description": "Meta: echoed back as text/plain"})
    crc_token = fields.String(metadata={"description": "X: the challenge to sign with the consumer secret"})


class CrcResponseSchema(Schema):
    response_token = fields.String(
        required=True, metadata={"description": "`sha256=` + base64(HMAC-SHA256(consumer secret, crc_token))"})


class WebhookResultSchema(Schema):
    """What a delivery did; the platform only needs the 200."""

    stored = fields.Integer(required=True, metadata={"description": "new comments stored"})
    duplicates = fields.Integer(required=True, metadata={"description": "comments already stored (redelivery)"})
    updated = fields.Integer(required=True, metadata={"description": "edited comments whose text was replaced"})
    ignored = fields.Integer(
        required=True,
        metadata={"description": "events that are not comments, the account's own comments, unknown accounts"})
