"""LinkedIn URNs and the Rest.li 2.0 ways of putting them in a URL."""
from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote

__all__ = ["encode", "restli_list", "comment_parts", "kind_of", "is_organization", "is_person"]

_COMMENT = re.compile(r"^urn:li:comment:\((urn:li:[A-Za-z]+:[^,()]+),([^,()]+)\)$")


def encode(urn: str) -> str:
    """A URN as one path segment or query value (``urn%3Ali%3Ashare%3A1``):
    Rest.li 2.0 requires every reserved character encoded."""
    return quote(urn, safe="")


def restli_list(urns: Iterable[str]) -> str:
    """``List(urn%3A...,urn%3A...)``: the Rest.li 2.0 list syntax, whose own
    parentheses and commas stay literal."""
    return "List(" + ",".join(encode(u) for u in urns) + ")"


def comment_parts(comment_urn: str) -> tuple[str, str] | None:
    """``urn:li:comment:(<object urn>,<id>)`` -> ``(object urn, id)``."""
    m = _COMMENT.match(comment_urn)
    return (m.group(1), m.group(2)) if m else None


def kind_of(urn: str) -> str:
    """``urn:li:share:1`` -> ``share``."""
    parts = urn.split(":", 3)
    return parts[2] if len(parts) >= 3 and parts[0] == "urn" and parts[1] == "li" else ""


def is_organization(urn: str) -> bool:
    return kind_of(urn) in ("organization", "organizationBrand")


def is_person(urn: str) -> bool:
    return kind_of(urn) == "person"
