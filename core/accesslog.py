"""Access log lines without secrets in their query strings.

An OAuth callback carries ``code`` and ``state`` in its URL, and in the
embedded mode the connectors' calls to their sandboxes (served by the same
process) carry client secrets and tokens in theirs: an access log line would
keep them in plain text. :class:`RedactingFilter` rewrites every line of a
logger so the *values* of such parameters read ``[redacted]`` (the names stay:
a reader still sees that a code came back).

Installed by the ``clientnest`` command (``run``, ``sandbox``, ``worker``,
``scheduler``) on werkzeug's request log and on httpx's line per outgoing
request, and on gunicorn's access and error logs through :class:`GunicornLogger`
(``gunicorn --logger-class clientnest.accesslog.GunicornLogger``).
"""
from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote_plus

__all__ = ["SENSITIVE_PARAMS", "REDACTED", "redact", "RedactingFilter", "install", "GunicornLogger"]

#: query parameters whose values never reach a log line (compared lower-cased)
SENSITIVE_PARAMS = frozenset({
    "code", "state", "client_secret", "access_token", "refresh_token", "id_token", "token",
    "password", "code_verifier", "oauth_token", "oauth_verifier", "fb_exchange_token",
    "api_key", "apikey", "key", "secret", "signature", "binding",
})
REDACTED = "[redacted]"

# a parameter inside a query string: after "?" or "&" (or ";"), up to the next
# separator, whitespace, quote or fragment
_PARAM = re.compile(r"(?P<lead>[?&;])(?P<name>[^=&;\s\"#?]+)=(?P<value>[^&;\s\"#]*)")


def _replace(match: re.Match[str]) -> str:
    name = unquote_plus(match["name"]).strip().lower()
    if name in SENSITIVE_PARAMS and match["value"]:
        return f"{match['lead']}{match['name']}={REDACTED}"
    return match[0]


def redact(text: str) -> str:
    """``text`` with the values of sensitive query parameters replaced."""
    if "=" not in text:
        return text
    return _PARAM.sub(_replace, text)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message through :func:`redact` (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's to report
            return True
        cleaned = redact(message)
        if cleaned != message:
            # the arguments are folded into the message: nothing formats them again
            record.msg, record.args = cleaned, None
        return True


def install(*logger_names: str) -> None:
    """Put one :class:`RedactingFilter` on each named logger (idempotent)."""
    for name in logger_names or ("werkzeug",):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


def _gunicorn_base() -> type:
    try:
        from gunicorn.glogging import Logger
    except ImportError:  # gunicorn is a production dependency, not the embedded mode's
        return object
    return Logger


class GunicornLogger(_gunicorn_base()):  # type: ignore[misc]
    """gunicorn's logger with :class:`RedactingFilter` on its access and error logs."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for logger in (self.access_log, self.error_log):
            if not any(isinstance(f, RedactingFilter) for f in logger.filters):
                logger.addFilter(RedactingFilter())
