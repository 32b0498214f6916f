"""/api/v1/workspaces/{wid}/members: who belongs to a workspace, with which role.

Members read the list; admins and owners add, change and remove members;
only owners touch the owner role; the last owner stays; anyone may leave.
"""
from __future__ import annotations

from typing import Any

from flask import g
from flask_smorest import abort

from clientnest.models import Membership, Role, User
from clientnest.ratelimit import key_for, limiter_for
from clientnest.services import identity

from ..auth.errors import identity_errors
from ..db_session import runtime, session
from ..extensions import Blueprint
from ..workspaces.access import workspace_role
from .schemas import MemberAddedSchema, MemberAddSchema, MemberPatchSchema, MemberSchema

__all__ = ["blp"]

blp = Blueprint("members", __name__, url_prefix="/api/v1", description="Workspace members and their roles")


ADDED_MESSAGE = (
    "If this address belongs to a ClientNest user, they are now a member with the role {role} "
    "(see GET .../members). Nobody is invited or e-mailed: someone without an account must register first, "
    "then be added again."
)


def _limit_additions() -> None:
    decision = limiter_for(runtime(), "member_add").hit(key_for("member_add:user", str(g.membership.user_id)))
    if not decision.allowed:
        abort(429, message=f"too many members added; try again in {decision.retry_after} seconds",
              headers={"Retry-After": str(decision.retry_after)})


def _out(m: Membership, u: User) -> dict[str, Any]:
    return {"user_id": u.id, "email": u.email, "name": u.name, "role": m.role, "created_at": m.created_at}


@blp.route("/workspaces/<int:wid>/members", methods=["GET"])
@workspace_role(Role.VIEWER)
@blp.response(200, MemberSchema(many=True))
@blp.alt_response(404, response="NOT_FOUND", description="no such workspace, or you are not a member")
def list_members(wid: int) -> Any:
    """The workspace's members (viewer or higher)."""
    return [_out(m, u) for m, u in identity.list_members(session(), wid)]


@blp.route("/workspaces/<int:wid>/members", methods=["POST"])
@workspace_role(Role.ADMIN)
@blp.arguments(MemberAddSchema)
@blp.response(202, MemberAddedSchema)
@blp.alt_response(403, response="FORBIDDEN", description="needs admin; granting owner needs owner")
@blp.alt_response(404, response="NOT_FOUND", description="no such workspace, or you are not a member")
@blp.alt_response(409, response="CONFLICT", description="already a member (as the member list shows)")
@blp.alt_response(429, response="TOO_MANY_REQUESTS", description="too many additions a minute")
def add_member(data: dict[str, Any], wid: int) -> Any:
    """Add a registered user by email (admin or owner; owner role: owner only).

    The answer is the same whether or not the address has a ClientNest
    account, so it does not tell who has one: a registered user is added at
    once (see ``GET .../members``); for an unknown address nothing is stored
    or sent (invitations are not there yet). Rate-limited per admin.
    """
    _limit_additions()
    with identity_errors():
        identity.add_member(session(), g.workspace, g.membership, email=data["email"], role=data["role"])
    return {
        "message": ADDED_MESSAGE.format(role=data["role"]),
        "email": data["email"],
        "role": data["role"],
    }


@blp.route("/workspaces/<int:wid>/members/<int:uid>", methods=["PATCH"])
@workspace_role(Role.ADMIN)
@blp.arguments(MemberPatchSchema)
@blp.response(200, MemberSchema)
@blp.alt_response(403, response="FORBIDDEN", description="needs admin; the owner role needs owner")
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(409, response="CONFLICT", description="would demote the last owner")
def change_role(data: dict[str, Any], wid: int, uid: int) -> Any:
    """Change a member's role (admin or owner; anything touching owner: owner only)."""
    with identity_errors():
        m, u = identity.change_role(session(), g.workspace, g.membership, uid, data["role"])
    return _out(m, u)


@blp.route("/workspaces/<int:wid>/members/<int:uid>", methods=["DELETE"])
@workspace_role(Role.VIEWER)
@blp.response(204)
@blp.alt_response(403, response="FORBIDDEN", description="removing someone else needs admin; an owner needs owner")
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(409, response="CONFLICT", description="the last owner cannot be removed")
def remove_member(wid: int, uid: int) -> None:
    """Remove a member (admin or owner), or leave (any member, your own id).

    The last owner can neither be removed nor leave.
    """
    with identity_errors():
        identity.remove_member(session(), g.workspace, g.membership, uid)
