"""Which platforms a workspace may use: installed and enabled plugins, minus
the ones the workspace turned off (a row in workspace_platforms).

Also what the API shows about each installed platform: its capabilities, the
rules posts are validated against (from ``clientnest_platform_rules``) and
its configuration schema (secrets marked, values never shown).
"""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..connector import PlatformRules
from ..errors import ClientNestError, ConfigError
from ..models import WorkspacePlatform
from ..plugins import PluginHost

__all__ = [
    "PlatformUnavailable",
    "workspace_platforms",
    "platform_enabled",
    "ensure_platform_enabled",
    "set_platform_enabled",
    "platform_rules",
    "describe_platform",
]

log = logging.getLogger(__name__)


class PlatformUnavailable(ClientNestError):
    """A platform that is not installed (``status`` 404) or is switched off
    for the workspace (``status`` 422, naming the field that chose it)."""

    def __init__(self, message: str, *, status: int, field: str | None = "platform") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.field = field


def workspace_platforms(session: Session, host: PluginHost, workspace_id: int) -> dict[str, bool]:
    """``{platform: enabled}`` for every platform installed on this host."""
    off = {
        p for (p,) in session.execute(
            select(WorkspacePlatform.platform).where(
                WorkspacePlatform.workspace_id == workspace_id, WorkspacePlatform.enabled.is_(False)
            )
        )
    }
    return {p: p not in off for p in host.platforms()}


def platform_enabled(session: Session, host: PluginHost, workspace_id: int, platform: str) -> bool:
    if platform not in host.connector_classes:
        return False
    row = session.get(WorkspacePlatform, (workspace_id, platform))
    return row is None or row.enabled


def ensure_platform_enabled(
    session: Session, host: PluginHost, workspace_id: int, platform: str, *, field: str | None = "platform"
) -> None:
    """Raise :class:`PlatformUnavailable` unless ``platform`` is installed and
    on for the workspace (connecting, posting).

    :param field: the request field that named the platform, for the error.
    """
    if platform not in host.connector_classes:
        installed = ", ".join(host.platforms()) or "none"
        raise PlatformUnavailable(
            f"platform {platform!r} is not installed or not enabled on this install (available: {installed})",
            status=422, field=field)
    if not platform_enabled(session, host, workspace_id, platform):
        raise PlatformUnavailable(
            f"platform {platform!r} is disabled in this workspace; an admin can enable it "
            f"with PUT /api/v1/workspaces/{workspace_id}/platforms/{platform}",
            status=422, field=field)


def set_platform_enabled(
    session: Session, host: PluginHost, workspace_id: int, platform: str, enabled: bool,
    *, user_id: int | None = None,
) -> bool:
    """Switch ``platform`` on or off for the workspace; the caller commits.

    :raises PlatformUnavailable: (404) the platform is not installed.
    :returns: the new state.
    """
    if platform not in host.connector_classes:
        raise PlatformUnavailable(f"platform {platform!r} not found on this install", status=404, field=None)
    row = session.get(WorkspacePlatform, (workspace_id, platform))
    before = row is None or row.enabled
    if row is None:
        row = WorkspacePlatform(workspace_id=workspace_id, platform=platform, enabled=enabled)
        session.add(row)
    else:
        row.enabled = enabled
    if before != enabled:
        audit.record(session, "platform.enabled" if enabled else "platform.disabled", "platform", platform,
                     workspace_id=workspace_id, user_id=user_id)
    return enabled


def platform_rules(host: PluginHost, platform: str) -> PlatformRules:
    """The rules of ``platform`` as the hook answers them (a plugin may
    tighten them); the connector class's own rules if it cannot be built."""
    try:
        connector = host.connector(platform)
    except ConfigError:
        return host.connector_classes[platform].rules
    rules = host.hook.clientnest_platform_rules(connector=connector)
    return rules if rules is not None else connector.rules


def describe_platform(host: PluginHost, platform: str) -> dict[str, Any]:
    """What ``GET /api/v1/platforms`` shows about one installed platform.

    ``config`` describes the settings (secret ones marked ``secret: true``);
    no value of a secret is ever included. ``config_error`` says why the
    connector cannot be built (a required setting missing ...), if it cannot.
    """
    cls = host.connector_classes[platform]
    config_error: str | None = None
    try:
        host.connector(platform)
    except ConfigError as exc:
        # ConfigError messages name settings, never secret values
        config_error = str(exc)
    return {
        "name": platform,
        "display_name": cls.display_name or platform,
        "version": cls.version,
        "plugin": host.owner_of(platform),
        "capabilities": sorted(str(c) for c in cls.capabilities),
        "rules": platform_rules(host, platform).to_json(),
        "config": cls.config_schema.describe(),
        "configured": config_error is None,
        "config_error": config_error,
    }
