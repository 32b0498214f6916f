"""Schemas of /api/v1/platforms and /api/v1/workspaces/{wid}/platforms."""
from __future__ import annotations

from typing import Any

import marshmallow as ma

__all__ = ["ConfigFieldSchema", "PlatformSchema", "WorkspacePlatformSchema", "PlatformSwitchSchema"]


class ConfigFieldSchema(ma.Schema):
    name = ma.fields.String()
    type = ma.fields.String()
    required = ma.fields.Boolean()
    secret = ma.fields.Boolean(metadata={"description": "a secret setting: its value is never shown anywhere"})
    default = ma.fields.Raw(allow_none=True, metadata={"description": "null for secret settings"})
    help = ma.fields.String()
    needed_for = ma.fields.String(metadata={
        "description": "what cannot work while it is unset, although the plugin loads (empty: nothing)"})


class PlatformSchema(ma.Schema):
    name = ma.fields.String()
    display_name = ma.fields.String()
    version = ma.fields.String()
    plugin = ma.fields.String(allow_none=True, metadata={"description": "the plugin that registers it"})
    capabilities = ma.fields.List(ma.fields.String())
    rules = ma.fields.Dict(metadata={"description": "what posts must fit: max_length, media limits ..."})
    config = ma.fields.List(ma.fields.Nested(ConfigFieldSchema), metadata={"description": "the connector's settings (no values)"})
    configured = ma.fields.Boolean(metadata={"description": "false when its settings are incomplete or invalid"})
    config_error = ma.fields.String(allow_none=True)


class WorkspacePlatformSchema(ma.Schema):
    name = ma.fields.String()
    display_name = ma.fields.String()
    enabled = ma.fields.Boolean(metadata={"description": "whether the workspace may connect and post to it"})


class StrictBoolean(ma.fields.Boolean):
    """JSON ``true`` or ``false`` only: "no" or 0 are refused rather than guessed."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class PlatformSwitchSchema(ma.Schema):
    enabled = StrictBoolean(required=True)
