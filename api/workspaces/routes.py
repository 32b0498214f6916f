"""/api/v1/workspaces: the caller's workspaces and their settings.

Any signed-in user lists their workspaces and creates new ones (becoming
owner); members read a workspace; admins and owners change its settings.
"""
from __future__ import annotations

from typing import Any

from flask import g

from clientnest.models import Role, Workspace
from clientnest.services import identity

from ..auth.errors import identity_errors
from ..db_session import runtime, session
from ..extensions import Blueprint
from ..security import auth_required, current_user
from .access import workspace_role
from .schemas import WorkspaceCreateSchema, WorkspacePatchSchema, WorkspaceSchema, workspace_out

__all__ = ["blp"]

blp = Blueprint("workspaces", __name__, url_prefix="/api/v1", description="Workspaces and their settings")


@blp.route("/workspaces", methods=["GET"])
@auth_required
@blp.response(200, WorkspaceSchema(many=True))
def list_workspaces() -> Any:
    """The workspaces you are a member of, with your role in each."""
    return [workspace_out(ws, role) for ws, role in identity.workspaces_of(session(), current_user())]


@blp.route("/workspaces", methods=["POST"])
@auth_required
@blp.arguments(WorkspaceCreateSchema)
@blp.response(201, WorkspaceSchema)
@blp.alt_response(403, response="FORBIDDEN", description="you own max_workspaces_per_user workspaces already")
def create_workspace(data: dict[str, Any]) -> Any:
    """Create a workspace; you become its owner. A user owns at most the
    install's ``max_workspaces_per_user`` workspaces (403 naming the limit)."""
    with identity_errors():
        ws, membership = identity.create_workspace(
            session(), current_user(), max_workspaces=runtime().settings.max_workspaces_per_user, **data)
    return workspace_out(ws, membership.role)


@blp.route("/workspaces/<int:wid>", methods=["GET"])
@workspace_role(Role.VIEWER)
@blp.response(200, WorkspaceSchema)
@blp.alt_response(404, response="NOT_FOUND", description="no such workspace, or you are not a member")
def get_workspace(wid: int) -> Any:
    """One workspace (viewer or higher)."""
    return workspace_out(g.workspace, g.membership.role)


@blp.route("/workspaces/<int:wid>", methods=["PATCH"])
@workspace_role(Role.ADMIN)
@blp.arguments(WorkspacePatchSchema)
@blp.response(200, WorkspaceSchema)
@blp.alt_response(403, response="FORBIDDEN", description="needs the admin role")
@blp.alt_response(404, response="NOT_FOUND", description="no such workspace, or you are not a member")
@blp.alt_response(422, response="UNPROCESSABLE_ENTITY",
                   description="invalid field, or ai_budget_usd above the install's ai_budget_max_usd")
def update_workspace(data: dict[str, Any], wid: int) -> Any:
    """Change name, time zone, brand voice, reply rules or AI budget (admin or
    owner). The AI budget may not exceed the install's ``ai_budget_max_usd``."""
    s = session()
    with identity_errors():
        ws = identity.update_workspace(s, s.get_one(Workspace, wid), current_user(), data,
                                       ai_budget_max_usd=runtime().settings.ai_budget_max_usd)
    return workspace_out(ws, g.membership.role)
