"""The one error hierarchy, organised by what the caller should do next.

Connectors translate every platform failure into exactly one of these classes,
in one place per connector. The publishing engine decides from the class alone:

- :class:`NotSentError`   nothing reached the platform; retry later (backoff,
                          honouring ``retry_at``).
- :class:`AmbiguousError` the request may have been acted on; reconcile with
                          the connector's lookup before sending anything again.
- :class:`AuthError`      credentials rejected; refresh once, then the account
                          needs reconnecting.
- :class:`PermanentError` the platform refused the content; fail with its message.

Both transient classes derive from :class:`TransientError`, and a transient
error never disconnects an account.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

__all__ = [
    "ClientNestError",
    "ConfigError",
    "PluginError",
    "PlatformError",
    "TransientError",
    "NotSentError",
    "AmbiguousError",
    "AuthError",
    "PermanentError",
    "AIError",
    "AIAuthError",
    "AIBalanceError",
    "AIRequestError",
    "AIOutputError",
    "AIBudgetExceeded",
]


class ClientNestError(Exception):
    """Base class of every error ClientNest raises on purpose."""


class ConfigError(ClientNestError):
    """A setting or a plugin's configuration is missing or invalid."""


class PluginError(ClientNestError):
    """A plugin could not be loaded or violates the plugin contract."""

    def __init__(self, plugin: str, message: str) -> None:
        super().__init__(f"plugin {plugin!r}: {message}")
        self.plugin = plugin


class PlatformError(ClientNestError):
    """A platform (social network or AI provider) call failed.

    :param message: the platform's own message where it gave one.
    :param platform: the connector name, e.g. ``"twitter"``.
    :param code: the platform's error code, if any (e.g. Graph API ``190``).
    :param status: the HTTP status, if the failure came with one.
    :param raw: the decoded error body, kept for diagnostics (never secrets).
    """

    kind = "platform"

    def __init__(
        self,
        message: str,
        *,
        platform: str | None = None,
        code: str | int | None = None,
        status: int | None = None,
        raw: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.platform = platform
        self.code = code
        self.status = status
        self.raw = raw

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe summary, as stored on a publish attempt."""
        return {
            "kind": self.kind,
            "message": self.message,
            "platform": self.platform,
            "code": self.code,
            "status": self.status,
        }


class TransientError(PlatformError):
    """A failure that may succeed later. Never disconnects an account.

    :param retry_at: when the platform said to come back (``Retry-After``,
        ``x-rate-limit-reset`` ...), as an aware UTC datetime, if it said.
    """

    kind = "transient"

    def __init__(self, message: str, *, retry_at: datetime | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_at = retry_at

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["retry_at"] = self.retry_at.isoformat() if self.retry_at else None
        return d


class NotSentError(TransientError):
    """Nothing reached the platform (connection refused, DNS, 429, 503 with
    Retry-After): safe to send again later."""

    kind = "not_sent"


class AmbiguousError(TransientError):
    """The request may have been acted on (read timeout after sending,
    connection reset, 500, 502, 504): reconcile before sending again."""

    kind = "ambiguous"


class AuthError(PlatformError):
    """The platform rejected the credentials (expired, revoked, missing scope)."""

    kind = "auth"


class PermanentError(PlatformError):
    """The platform refused the request for good (duplicate, invalid content)."""

    kind = "permanent"


class AIError(PlatformError):
    """An AI provider failed in a way that retrying will not fix."""

    kind = "ai"


class AIAuthError(AIError):
    """The AI provider rejected its API key (HTTP 401): the install's
    configuration must be fixed; retrying will not help."""

    kind = "ai_auth"


class AIBalanceError(AIError):
    """The AI provider's account has run out of funds (DeepSeek's HTTP 402
    "Insufficient Balance"): someone must top it up."""

    kind = "ai_balance"


class AIRequestError(AIError):
    """The AI provider refused the request's format or parameters (HTTP 400
    or 422): a bug or a misconfigured model, not a passing failure."""

    kind = "ai_request"


class AIOutputError(AIError):
    """The provider answered, but blank or not matching the expected schema,
    even after one repair attempt. ``usage`` holds the tokens that were still
    billed (an :class:`clientnest.ai.Usage`), so they can be metered."""

    kind = "ai_output"

    def __init__(self, message: str, *, usage: Any = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.usage = usage


class AIBudgetExceeded(ClientNestError):
    """A workspace's monthly AI budget would be exceeded by this request."""

    def __init__(self, budget_usd: float, spent_usd: float) -> None:
        super().__init__(
            f"monthly AI budget of ${budget_usd:.2f} reached (spent ${spent_usd:.4f})"
        )
        self.budget_usd = budget_usd
        self.spent_usd = spent_usd
