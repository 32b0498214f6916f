"""Which platforms a workspace may use: installed and enabled plugins, minus
the ones the workspace turned off (a row in workspace_platforms)."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import WorkspacePlatform
from ..plugins import PluginHost

__all__ = ["workspace_platforms", "platform_enabled"]


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
