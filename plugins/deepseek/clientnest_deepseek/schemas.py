"""The JSON the model must answer with, one schema per task, and a validator.

The schemas are a small subset of JSON Schema (``type``, ``properties``,
``required``, ``items``, ``enum``, ``minimum``/``maximum``, ``minItems``/
``maxItems``, ``minLength``/``maxLength``, ``additionalProperties: false``),
enough to say exactly what is expected in the prompt and to check the answer
without another dependency. :func:`validate` returns every problem with its
path, so a repair request can tell the model what to fix.
"""
from __future__ import annotations

import json
from typing import Any

__all__ = ["SCHEMAS", "validate", "schema_text"]

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
}

_DRAFTS = {
    "title": "drafts",
    "type": "object",
    "required": ["drafts"],
    "properties": {
        "drafts": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["platform", "text", "hashtags"],
                "properties": {
                    "platform": {"type": "string"},
                    "text": {"type": "string", "minLength": 1},
                    "hashtags": {"type": "array", "items": {"type": "string", "minLength": 2}},
                },
            },
        }
    },
}

_REWRITE = {
    "title": "rewrite",
    "type": "object",
    "required": ["text"],
    "properties": {"text": {"type": "string", "minLength": 1}},
}

_HASHTAGS = {
    "title": "hashtags",
    "type": "object",
    "required": ["hashtags"],
    "properties": {"hashtags": {"type": "array", "items": {"type": "string", "minLength": 2}}},
}

_SENTIMENT = {
    "title": "sentiment",
    "type": "object",
    "required": ["results"],
    "properties": {
        "results": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "label", "score", "needs_human"],
                "properties": {
                    "id": {"type": "integer", "minimum": 0},
                    "label": {"type": "string", "enum": ["positive", "neutral", "negative"]},
                    "score": {"type": "number", "minimum": -1, "maximum": 1},
                    "needs_human": {"type": "boolean"},
                    "reasons": {
                        "type": "array",
                        "items": {"type": "string", "enum": ["complaint", "question", "urgent"]},
                    },
                },
            },
        }
    },
}

_REPLY = {
    "title": "reply",
    "type": "object",
    "required": ["reply"],
    "properties": {"reply": {"type": "string", "minLength": 1}},
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "drafts": _DRAFTS,
    "rewrite": _REWRITE,
    "hashtags": _HASHTAGS,
    "sentiment": _SENTIMENT,
    "reply": _REPLY,
}


def schema_text(task: str) -> str:
    """The schema as compact, stable JSON for the system prompt."""
    return json.dumps(SCHEMAS[task], separators=(",", ":"), sort_keys=True)


def validate(schema: dict[str, Any], value: Any, path: str = "$") -> list[str]:
    """Every way ``value`` breaks ``schema``, as ``"<path>: <problem>"``."""
    problems: list[str] = []
    kind = schema.get("type")
    if kind:
        allowed = _TYPES[kind]
        # bool is an int in Python but never a number in JSON
        if not isinstance(value, allowed) or (kind in ("number", "integer") and isinstance(value, bool)):
            return [f"{path}: expected {kind}, got {_json_type(value)}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: must be one of {schema['enum']}, got {value!r}")
    if isinstance(value, str):
        if len(value.strip()) < schema.get("minLength", 0):
            problems.append(f"{path}: must not be empty")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            problems.append(f"{path}: longer than {schema['maxLength']} characters")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{path}: below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{path}: above {schema['maximum']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            problems.append(f"{path}: needs at least {schema['minItems']} item(s)")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            problems.append(f"{path}: at most {schema['maxItems']} item(s)")
        item_schema = schema.get("items")
        if item_schema:
            for i, item in enumerate(value):
                problems.extend(validate(item_schema, item, f"{path}[{i}]"))
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                problems.append(f"{path}: missing {name!r}")
        if schema.get("additionalProperties") is False:
            for name in sorted(set(value) - set(props)):
                problems.append(f"{path}: unexpected {name!r}")
        for name, sub in props.items():
            if name in value:
                problems.extend(validate(sub, value[name], f"{path}.{name}"))
    return problems


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    for name, types in _TYPES.items():
        if name != "integer" and isinstance(value, types):
            return name
    return type(value).__name__
