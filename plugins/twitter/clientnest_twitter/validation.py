"""X's weighted text length, from the maintained twitter-text implementation.

X counts most characters as 1 and CJK, emoji and other wide ranges as 2, and
every URL as 23 whatever its length (``twitter-text`` config v3: weighted
length 280). We do not guess: ``twitter-text-parser`` ports Twitter's own
twitter-text library and its configuration.

``twitter-text-parser`` 3.0.0 (the latest) reads its emoji table with
``pkg_resources``, which recent setuptools no longer ships. We give it a
stand-in only while it is imported (the table is read once, at import), so
nothing else in the process ever sees a fake ``pkg_resources``.
"""
from __future__ import annotations

import sys
import threading
import types
from pathlib import Path
from typing import Any

__all__ = ["MAX_WEIGHTED_LENGTH", "URL_LENGTH", "weighted_length", "parse", "extract_urls"]

MAX_WEIGHTED_LENGTH = 280
URL_LENGTH = 23

_lock = threading.Lock()
_mod: Any = None


def _read_resource(module_name: str, resource: str) -> bytes:
    # pkg_resources resolves a module name to the folder holding the module
    return (Path(sys.modules[module_name].__file__ or "").parent / resource).read_bytes()


def _twitter_text() -> Any:
    global _mod
    if _mod is not None:
        return _mod
    with _lock:
        if _mod is None:
            try:
                import pkg_resources  # noqa: F401  (a real one: nothing to do)
                shim = None
            except ImportError:
                shim = types.ModuleType("pkg_resources")
                shim.resource_string = _read_resource  # type: ignore[attr-defined]
                sys.modules["pkg_resources"] = shim
            try:
                import twitter_text
            finally:
                if shim is not None and sys.modules.get("pkg_resources") is shim:
                    del sys.modules["pkg_resources"]
            _mod = twitter_text
    return _mod


def parse(text: str) -> Any:
    """twitter-text's ``ParsedResult``: ``weightedLength``, ``valid`` ..."""
    return _twitter_text().parse_tweet(text)


def weighted_length(text: str) -> int:
    return int(parse(text).weightedLength)


def extract_urls(text: str) -> list[dict[str, Any]]:
    """URLs as X finds them (``{"url", "indices": [start, end]}``, code points)."""
    return list(_twitter_text().extract_urls_with_indices(text))
