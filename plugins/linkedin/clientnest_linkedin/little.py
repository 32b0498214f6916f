"""LinkedIn's "little" text format, used by the Posts API ``commentary`` field.

In little text ``\\ | { } @ [ ] ( ) < > # * _ ~`` are reserved: an unescaped one
starts a mention (``@[Name](urn:li:person:1)``) or a template
(``{hashtag|\\#|tag}``), and LinkedIn silently cuts the post at the first one it
cannot parse. :func:`escape` turns plain text into little text that renders as
written, except for two things users expect to keep working:

* ``#word`` stays a bare hashtag (little's HashtagElement), so it is clickable;
* URLs are left as they are, so they still link (escaping a ``_`` or ``~``
  inside one would break it); characters that cannot be part of a URL here
  (brackets, braces, pipes, backslashes) end it and are escaped.

LinkedIn may give the commentary back with hashtags rewritten as
``{hashtag|\\#|word}``; :func:`to_plain` reads either form back to plain text,
so the reconciliation lookup can compare exactly.
"""
from __future__ import annotations

import re

__all__ = ["RESERVED", "escape", "to_plain"]

RESERVED = frozenset("\\|{}@[]()<>#*_~")

# A URL runs until whitespace or a character little would need escaped and a
# URL rarely holds; trailing sentence punctuation is not part of it.
_URL = re.compile(r"https?://[^\s()<>\[\]{}|\\]+")
_TRAILING = ".,;:!?'\""
_HASHTAG = re.compile(r"#\w+")
_TEMPLATE = re.compile(r"\{hashtag\|\\#\|([^{}|\\]+)\}")
_MENTION = re.compile(r"@\[((?:\\.|[^\]\\])*)\]\((urn:li:[^)]+)\)")


def _escape_plain(chunk: str) -> str:
    return "".join("\\" + c if c in RESERVED else c for c in chunk)


def escape(text: str) -> str:
    """Plain text to little text that shows exactly ``text`` on LinkedIn."""
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        m = _URL.match(text, i)
        if m:
            url = m.group(0).rstrip(_TRAILING)
            if len(url) > len("https://"):
                out.append(url)
                i += len(url)
                continue
        c = text[i]
        if c == "#" and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] in "_\\")):
            h = _HASHTAG.match(text, i)
            if h:
                out.append(h.group(0))
                i = h.end()
                continue
        out.append(_escape_plain(c))
        i += 1
    return "".join(out)


def to_plain(little: str) -> str:
    """Little text to the plain text LinkedIn shows (templates and mentions
    resolved, escapes removed)."""
    text = _TEMPLATE.sub(lambda m: "#" + m.group(1), little)
    text = _MENTION.sub(lambda m: m.group(1), text)
    return re.sub(r"\\(.)", r"\1", text, flags=re.DOTALL)
