"""/api/v1/platforms (what this install offers) and the per-workspace switch
/api/v1/workspaces/{wid}/platforms/{name}."""
from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TypeVar

from flask.views import MethodView
from flask_smorest import abort

from clientnest.models import Role
from clientnest.services.platforms import (
    PlatformUnavailable,
    describe_platform,
    platform_enabled,
    set_platform_enabled,
    workspace_platforms,
)

from ..db_session import runtime, session
from ..extensions import Blueprint
from ..security import auth_required, current_user
from ..workspaces.access import workspace_role
from .schemas import PlatformSchema, PlatformSwitchSchema, WorkspacePlatformSchema

blp = Blueprint("platforms", __name__, url_prefix="/api/v1", description="Platforms and per-workspace enablement")

F = TypeVar("F", bound=Callable[..., Any])


def _errors(*codes: int) -> Callable[[F], F]:
    """Document error responses a route may give (JSON ``{code, status, message, errors?}``)."""
    def deco(fn: F) -> F:
        for code in codes:
            fn = blp.alt_response(code, response=HTTPStatus(code).name)(fn)
        return fn
    return deco


def _entry(platform: str, enabled: bool) -> dict[str, Any]:
    cls = runtime().plugins.connector_classes[platform]
    return {"name": platform, "display_name": cls.display_name or platform, "enabled": enabled}


def _known(platform: str) -> None:
    if platform not in runtime().plugins.connector_classes:
        abort(404, message=f"platform {platform!r} not found on this install")


@blp.route("/platforms")
@auth_required
@blp.response(200, PlatformSchema(many=True))
@_errors(401)
def list_platforms() -> Any:
    """Platforms enabled on this install, with capabilities, rules and config schema.

    Rules come from the ``clientnest_platform_rules`` hook. The config schema
    marks secret settings; no setting's value is returned.
    """
    host = runtime().plugins
    return [describe_platform(host, name) for name in host.platforms()]


@blp.route("/workspaces/<int:wid>/platforms")
@workspace_role(Role.VIEWER)
@blp.response(200, WorkspacePlatformSchema(many=True))
@_errors(401, 404)
def list_workspace_platforms(wid: int) -> Any:
    """Every installed platform and whether this workspace may use it (viewer+)."""
    states = workspace_platforms(session(), runtime().plugins, wid)
    return [_entry(name, on) for name, on in sorted(states.items())]


@blp.route("/workspaces/<int:wid>/platforms/<string:name>")
class WorkspacePlatformView(MethodView):
    @workspace_role(Role.VIEWER)
    @blp.response(200, WorkspacePlatformSchema)
    @_errors(401, 404)
    def get(self, wid: int, name: str) -> Any:
        """Whether this workspace may use one platform (viewer+); 404 names an unknown platform."""
        _known(name)
        return _entry(name, platform_enabled(session(), runtime().plugins, wid, name))

    @workspace_role(Role.ADMIN)
    @blp.arguments(PlatformSwitchSchema)
    @blp.response(200, WorkspacePlatformSchema)
    @_errors(401, 403, 404)
    def put(self, body: dict[str, Any], wid: int, name: str) -> Any:
        """Turn a platform on or off for this workspace (admin+).

        Off: connecting accounts of it and posting to it are refused in this
        workspace only (422); its accounts stay connected, other workspaces are
        not affected.
        """
        s = session()
        try:
            enabled = set_platform_enabled(s, runtime().plugins, wid, name, body["enabled"], user_id=current_user().id)
        except PlatformUnavailable as exc:
            abort(exc.status, message=exc.message)
        s.commit()
        return _entry(name, enabled)
