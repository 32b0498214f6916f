"""Exact comparison of what we sent with what X stored, for reconciliation.

X does not store a post's text as sent:

* every URL becomes a ``https://t.co/...`` link; ``entities.urls`` keeps, per
  link, the ``url`` (t.co), the ``expanded_url`` (what was written, with
  ``http://`` added when the writer gave no scheme) and its position;
* attached media add one more t.co link at the end (an entity with a
  ``media_key`` and a ``pic.x.com`` / ``pic.twitter.com`` display URL);
* ``&``, ``<`` and ``>`` come back HTML-escaped (``&gt;`` in the recordings);
* leading and trailing white space is dropped.

So we compare *signatures*, not strings: the text is split into literal
segments and URLs, in order. Literal segments must be equal character for
character (after Unicode NFC and CRLF -> LF on both sides, and un-escaping X's
three entities); URLs must be equal after canonicalisation (scheme dropped,
host lower-cased and IDNA-encoded, default port and a bare ``/`` path dropped;
path, query and fragment kept as written). The URLs in our text are found with
twitter-text, the same algorithm X uses to decide what to shorten, so both
sides split the text at the same places. Media links are not part of the text
signature; the number of attached media is compared instead.

If X ever returned a post without ``entities`` while its text holds t.co links,
the only safe comparison left is a *weak* one, where every URL matches every
URL; :func:`match` reports such a match as weak and the connector accepts it
only when it is the single candidate.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from .validation import extract_urls

__all__ = ["unescape", "canonical_url", "content_signature", "tweet_signature", "match", "compose_text", "Signature"]

Signature = tuple[tuple[str, str], ...]
_MEDIA_PATH = re.compile(r"/status/\d+/(photo|video)/\d+$")
_TCO = re.compile(r"https?://t\.co/[A-Za-z0-9]+")


def canonical_url(url: str) -> str:
    raw = url.strip()
    if "://" not in raw:
        raw = "http://" + raw
    try:
        parts = urlsplit(raw)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return raw.lower()
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        pass
    if port and port not in (80, 443):
        host = f"{host}:{port}"
    path = "" if parts.path in ("", "/") else parts.path
    out = host + path
    if parts.query:
        out += "?" + parts.query
    if parts.fragment:
        out += "#" + parts.fragment
    return out


def _norm(text: str) -> str:
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n"))


def unescape(text: str) -> str:
    # X escapes exactly these three; a full html.unescape would also turn a
    # literal "&copy;" the author typed into "©".
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _finish(segments: list[tuple[str, str]]) -> Signature:
    merged: list[tuple[str, str]] = []
    for kind, value in segments:
        if kind == "text" and merged and merged[-1][0] == "text":
            merged[-1] = ("text", merged[-1][1] + value)
        else:
            merged.append((kind, value))
    if merged and merged[0][0] == "text":
        merged[0] = ("text", merged[0][1].lstrip())
    if merged and merged[-1][0] == "text":
        merged[-1] = ("text", merged[-1][1].rstrip())
    return tuple((k, v) for k, v in merged if not (k == "text" and v == ""))


def content_signature(text: str, *, weak: bool = False) -> Signature:
    """The signature of a text we are about to send (or sent)."""
    t = _norm(text).strip()
    segments: list[tuple[str, str]] = []
    pos = 0
    for found in extract_urls(t):
        start, end = found["indices"]
        segments.append(("text", t[pos:start]))
        segments.append(("url", "*" if weak else canonical_url(found["url"])))
        pos = end
    segments.append(("text", t[pos:]))
    return _finish(segments)


def _is_media_entity(entity: dict[str, Any]) -> bool:
    if entity.get("media_key"):
        return True
    display = str(entity.get("display_url") or "")
    if display.startswith(("pic.twitter.com/", "pic.x.com/")):
        return True
    return bool(_MEDIA_PATH.search(str(entity.get("expanded_url") or "")))


def tweet_signature(tweet: dict[str, Any]) -> tuple[Signature, bool]:
    """The signature of a post as X returned it, and whether it is weak (t.co
    links without the ``entities`` that say what they stand for)."""
    text = str(tweet.get("text") or "")
    entities = [e for e in ((tweet.get("entities") or {}).get("urls") or []) if isinstance(e, dict) and e.get("url")]
    if not entities and _TCO.search(text):
        segments: list[tuple[str, str]] = []
        pos = 0
        for m in _TCO.finditer(text):
            segments.append(("text", _norm(unescape(text[pos:m.start()]))))
            segments.append(("url", "*"))
            pos = m.end()
        segments.append(("text", _norm(unescape(text[pos:]))))
        # a trailing t.co link of attached media is not text: drop it
        if tweet.get("attachments", {}).get("media_keys") and len(segments) >= 2:
            segments = segments[:-2] + [("text", segments[-1][1])]
        return _finish(segments), True
    # Locate each link by its own t.co string rather than by indices: the
    # string is unique and does not depend on how offsets were counted.
    located: list[tuple[int, dict[str, Any]]] = []
    search_from = 0
    for entity in sorted(entities, key=lambda e: int(e.get("start") or 0)):
        at = text.find(entity["url"], search_from)
        if at < 0:
            at = text.find(entity["url"])
        if at < 0:
            continue
        located.append((at, entity))
        search_from = at + len(entity["url"])
    located.sort(key=lambda pair: pair[0])
    segments = []
    pos = 0
    for at, entity in located:
        segments.append(("text", _norm(unescape(text[pos:at]))))
        if not _is_media_entity(entity):
            segments.append(("url", canonical_url(str(entity.get("expanded_url") or entity["url"]))))
        pos = at + len(entity["url"])
    segments.append(("text", _norm(unescape(text[pos:]))))
    return _finish(segments), False


def compose_text(text: str, link: str | None) -> str:
    """The text X is sent: the post's text, with ``link`` appended when the
    text does not already contain it (X builds the link card from the URL)."""
    if not link:
        return text
    present = {canonical_url(u["url"]) for u in extract_urls(_norm(text))}
    if canonical_url(link) in present:
        return text
    return f"{text.rstrip()}\n\n{link}" if text.strip() else link


def match(text: str, media_count: int, tweet: dict[str, Any]) -> str | None:
    """``"exact"``, ``"weak"`` or ``None``: is ``tweet`` the post of this text
    with this many media attached?"""
    keys: Sequence[Any] = (tweet.get("attachments") or {}).get("media_keys") or []
    if len(keys) != media_count:
        return None
    theirs, weak = tweet_signature(tweet)
    if weak:
        return "weak" if content_signature(text, weak=True) == theirs else None
    return "exact" if content_signature(text) == theirs else None
