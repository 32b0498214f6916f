"""Schemas of /api/v1/plugins."""
from __future__ import annotations

import marshmallow as ma

__all__ = ["PluginSchema"]


class PluginSchema(ma.Schema):
    name = ma.fields.String(metadata={"description": "the entry point's name"})
    version = ma.fields.String(allow_none=True)
    distribution = ma.fields.String(allow_none=True, metadata={"description": "the installed distribution, e.g. clientnest-twitter"})
    kind = ma.fields.String(metadata={"description": "connector, ai_provider or extension"})
    enabled = ma.fields.Boolean(metadata={"description": "false when left out by the allowlist/blocklist or broken"})
    hooks = ma.fields.List(ma.fields.String(), metadata={"description": "the clientnest_* hooks it implements"})
    platforms = ma.fields.List(ma.fields.String(), metadata={"description": "platform or provider names it registers"})
    error = ma.fields.String(allow_none=True, metadata={"description": "why it failed to load, if it did"})
    configured = ma.fields.Boolean(metadata={"description": "enabled and every required setting is present"})
    missing_settings = ma.fields.List(ma.fields.String(), metadata={
        "description": "environment names of the required settings it lacks (values are never shown)"})
