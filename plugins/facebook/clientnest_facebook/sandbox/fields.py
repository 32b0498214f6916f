"""The Graph ``fields`` parameter, as the sandbox understands it.

``id,message,from{id,name},comments.limit(0).summary(true)`` becomes a list of
:class:`FieldSpec`: a name, its modifiers (``limit``, ``summary``) and nested
fields. :func:`select` keeps only the requested keys of a rendered object, the
way Graph answers with only what was asked for (``id`` always comes back).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FieldSpec", "parse_fields", "select"]

_MODIFIER = re.compile(r"\.(\w+)\(([^)]*)\)")


@dataclass
class FieldSpec:
    name: str
    modifiers: dict[str, str] = field(default_factory=dict)
    children: list[FieldSpec] | None = None


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside ``{}`` or ``()``."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "{(":
            depth += 1
        elif ch in "})":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def parse_fields(text: str | None) -> list[FieldSpec] | None:
    """``None`` when no ``fields`` were given (the object's default fields)."""
    if not text:
        return None
    out = []
    for part in _split_top(text):
        children = None
        if "{" in part and part.endswith("}"):
            head, inner = part.split("{", 1)
            children = parse_fields(inner[:-1]) or []
            part = head
        name, _, rest = part.partition(".")
        modifiers = {m.group(1): m.group(2) for m in _MODIFIER.finditer("." + rest)} if rest else {}
        out.append(FieldSpec(name=name.strip(), modifiers=modifiers, children=children))
    return out


def select(obj: dict[str, Any], specs: list[FieldSpec] | None, default: tuple[str, ...] = ()) -> dict[str, Any]:
    """The keys of ``obj`` named by ``specs`` (or ``default``), nested objects
    and ``{"data": [...]}`` edges narrowed by their own field lists."""
    if specs is None:
        keys = default or tuple(obj)
        return {k: obj[k] for k in ("id", *keys) if k in obj}
    out: dict[str, Any] = {}
    if "id" in obj:
        out["id"] = obj["id"]
    for spec in specs:
        if spec.name not in obj:
            continue
        value = obj[spec.name]
        if spec.children is not None:
            if isinstance(value, dict) and isinstance(value.get("data"), list):
                value = {**value, "data": [select(v, spec.children) for v in value["data"] if isinstance(v, dict)]}
            elif isinstance(value, dict):
                value = select(value, spec.children)
        out[spec.name] = value
    return out
