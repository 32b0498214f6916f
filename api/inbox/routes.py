"""/api/v1/workspaces/{wid}: the inbox (comments, sentiment, replies), post
metrics and the reply policy.

Thin views: access is checked first (401, 404 for a non-member, 403 below
the route's role) by :func:`~clientnest.api.workspaces.access.workspace_role`,
before the body is read; everything else is in
:mod:`clientnest.services.replies` and :mod:`clientnest.services.metrics`.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NoReturn

from flask import g
from flask_smorest import abort
from werkzeug.exceptions import HTTPException

from clientnest import errors
from clientnest.models import Role, Workspace
from clientnest.services import metrics as metrics_svc
from clientnest.services import replies as svc

from ..db_session import runtime, session
from ..extensions import Blueprint
from ..security import current_user
from ..workspaces.access import workspace_role
from .schemas import (
    CommentListArgsSchema,
    CommentPageSchema,
    CommentSchema,
    DraftRequestSchema,
    PostMetricsSchema,
    ReplyPolicySchema,
    ReplyPolicyUpdateSchema,
    ReplyRequestSchema,
    comment_json,
)

__all__ = ["blp"]

blp = Blueprint(
    "inbox", __name__, url_prefix="/api/v1",
    description="Inbox: comments received by webhook or poll, their sentiment, drafted and sent replies; "
                "post metrics; the workspace's reply policy.",
)

_COMMENTS = "/workspaces/<int:wid>/comments"
_COMMENT = "/workspaces/<int:wid>/comments/<int:cid>"


class PaymentRequired(HTTPException):
    code = 402
    description = "the workspace's monthly AI budget would be exceeded"


def _fail(exc: svc.ReplyError) -> NoReturn:
    session().rollback()
    kwargs: dict[str, Any] = {"message": exc.message}
    if exc.field:
        # as every 422 of the API: the message starts with the field it names
        kwargs["message"] = f"{exc.field}: {exc.message}"
        kwargs["errors"] = {exc.field: [exc.message]}
    abort(exc.status, **kwargs)


def _ai_failed(exc: Exception) -> NoReturn:
    """The AI service's errors, as the AI routes answer them."""
    session().rollback()
    wid = g.workspace.id
    if isinstance(exc, errors.AIBudgetExceeded):
        err = PaymentRequired()
        err.data = {  # type: ignore[attr-defined]  # rendered by flask-smorest's handler
            "message": (f"this workspace's monthly AI budget of ${exc.budget_usd:.2f} is spent "
                        f"(${exc.spent_usd:.4f} this month, UTC). An admin can raise ai_budget_usd with "
                        f"PATCH /api/v1/workspaces/{wid}, or write the reply by hand."),
            "errors": {"budget": {"budget_usd": exc.budget_usd, "spent_usd": exc.spent_usd}},
        }
        raise err from None
    if isinstance(exc, errors.TransientError):
        headers = None
        if exc.retry_at is not None:
            headers = {"Retry-After": str(max(1, int((exc.retry_at - datetime.now(UTC)).total_seconds() + 0.999)))}
        abort(503, message=f"AI provider error: {exc.message}", headers=headers)
    if isinstance(exc, errors.PlatformError):
        abort(502, message=f"AI provider error: {exc.message}",
              errors={"provider": {"name": exc.platform, "reason": exc.kind, "status": exc.status}})
    abort(502, message=f"AI provider error: {exc}")


# -- comments --------------------------------------------------------------------------------

@blp.route(_COMMENTS, methods=["GET"])
@workspace_role(Role.VIEWER)
@blp.arguments(CommentListArgsSchema, location="query")
@blp.response(200, CommentPageSchema)
@blp.alt_response(403, response="FORBIDDEN", description="not a member with the viewer role")
@blp.alt_response(404, response="NOT_FOUND", description="no such workspace, or you are not a member")
def list_comments(args: dict[str, Any], wid: int) -> Any:
    """List received comments, newest first (viewer or higher).

    Filters: `account_id`, `target_id`, `post_id`, `sentiment` (positive,
    neutral, negative, unscored), `needs_human`, `reply_status` (or `none`).
    Pagination: `limit` (1-100, default 20) and `cursor` (the `next_cursor`
    of the previous page).
    """
    page, next_id = svc.list_comments(
        session(), wid,
        account_id=args.get("account_id"), target_id=args.get("target_id"), post_id=args.get("post_id"),
        sentiment=args.get("sentiment"), needs_human=args.get("needs_human"),
        reply_status=args.get("reply_status"),
        before_id=int(args["cursor"]) if args.get("cursor") else None, limit=args["limit"],
    )
    return {"items": [comment_json(c, pid) for c, pid in page],
            "next_cursor": None if next_id is None else str(next_id)}


@blp.route(_COMMENT, methods=["GET"])
@workspace_role(Role.VIEWER)
@blp.response(200, CommentSchema)
@blp.alt_response(404, response="NOT_FOUND", description="no such workspace or comment, or you are not a member")
def get_comment(wid: int, cid: int) -> Any:
    """One comment with its sentiment and reply (viewer or higher)."""
    try:
        c, post_id = svc.get_comment(session(), wid, cid)
    except svc.ReplyError as exc:
        _fail(exc)
    return comment_json(c, post_id)


@blp.route(f"{_COMMENT}/reply", methods=["POST"])
@workspace_role(Role.EDITOR)
@blp.arguments(ReplyRequestSchema)
@blp.response(202, CommentSchema)
@blp.alt_response(403, response="FORBIDDEN", description="needs the editor role")
@blp.alt_response(404, response="NOT_FOUND", description="no such workspace or comment, or you are not a member")
@blp.alt_response(409, description="already replied, a reply is on its way, the last outcome is unknown "
                                   "(send resend: true after checking the platform), or the account needs "
                                   "reconnecting")
@blp.alt_response(422, description="no text and no draft, text too long for the platform, or a platform "
                                   "whose connector cannot reply")
def reply(data: dict[str, Any], wid: int, cid: int) -> Any:
    """Send a reply on the platform (editor or higher).

    Without `text`, the drafted reply is sent. The reply is queued and sent
    once by a job: follow `reply.status` (queued, sending, sent, failed,
    unknown).
    """
    try:
        c = svc.request_reply(session(), runtime(), g.workspace, cid, current_user(),
                              text=data.get("text"), resend=bool(data.get("resend")))
    except svc.ReplyError as exc:
        _fail(exc)
    _, post_id = svc.get_comment(session(), wid, c.id)
    return comment_json(c, post_id)


@blp.route(f"{_COMMENT}/draft", methods=["POST"])
@workspace_role(Role.EDITOR)
@blp.arguments(DraftRequestSchema)
@blp.response(200, CommentSchema)
@blp.alt_response(402, description="the workspace's monthly AI budget is spent")
@blp.alt_response(403, response="FORBIDDEN", description="needs the editor role")
@blp.alt_response(404, response="NOT_FOUND", description="no such workspace or comment, or you are not a member")
@blp.alt_response(409, description="the reply is on its way, sent, or its outcome is unknown")
@blp.alt_response(502, description="the AI provider refused")
@blp.alt_response(503, description="the AI provider is unavailable for now")
def draft(data: dict[str, Any], wid: int, cid: int) -> Any:
    """(Re)draft the reply with the AI, in the brand voice and within the
    reply rules (editor or higher); metered against the AI budget."""
    try:
        c = svc.draft_for(session(), runtime(), g.workspace, cid, current_user())
    except svc.ReplyError as exc:
        _fail(exc)
    except (errors.AIBudgetExceeded, errors.ClientNestError) as exc:
        _ai_failed(exc)
    _, post_id = svc.get_comment(session(), wid, c.id)
    return comment_json(c, post_id)


# -- metrics ------------------------------------------------------------------------------------

@blp.route("/workspaces/<int:wid>/posts/<int:pid>/metrics", methods=["GET"])
@workspace_role(Role.VIEWER)
@blp.response(200, PostMetricsSchema)
@blp.alt_response(404, response="NOT_FOUND", description="no such workspace or post, or you are not a member")
def post_metrics(wid: int, pid: int) -> Any:
    """A post's metrics: each target's latest snapshot and history, and the
    totals of the latest snapshots (viewer or higher)."""
    try:
        return metrics_svc.post_metrics(session(), wid, pid)
    except metrics_svc.MetricsError as exc:
        abort(exc.status, message=exc.message)


# -- reply policy ----------------------------------------------------------------------------------

def _policy(ws: Any) -> dict[str, Any]:
    return {"reply_mode": ws.reply_mode, "brand_voice": ws.brand_voice or "", "reply_rules": list(ws.reply_rules or [])}


@blp.route("/workspaces/<int:wid>/reply-policy", methods=["GET"])
@workspace_role(Role.VIEWER)
@blp.response(200, ReplyPolicySchema)
def get_reply_policy(wid: int) -> Any:
    """The workspace's reply policy, brand voice and reply rules (viewer or higher)."""
    return _policy(g.workspace)


@blp.route("/workspaces/<int:wid>/reply-policy", methods=["PUT"])
@workspace_role(Role.ADMIN)
@blp.arguments(ReplyPolicyUpdateSchema)
@blp.response(200, ReplyPolicySchema)
@blp.alt_response(403, response="FORBIDDEN", description="needs the admin role")
def put_reply_policy(data: dict[str, Any], wid: int) -> Any:
    """Set the reply policy: off, draft or auto_positive (admin or owner)."""
    s = session()
    ws = svc.set_reply_mode(s, s.get_one(Workspace, wid), current_user(), data["reply_mode"])
    return _policy(ws)
