"""/api/v1/workspaces/{wid}/posts and .../accounts/{aid}/slots.

Thin views: access checks here, everything else in
:mod:`clientnest.services.posts` and :mod:`clientnest.services.slots`.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from flask import Response, g, jsonify, request
from flask_smorest import abort
from sqlalchemy import select

from clientnest import audit
from clientnest.db import utcnow
from clientnest.models import Role, SocialAccount
from clientnest.services import posts as svc
from clientnest.services import slots as slot_svc
from clientnest.services.post_status import SETTLED

from ..db_session import connection, runtime, session
from ..extensions import Blueprint
from ..fields import text_problem
from ..security import auth_required, current_user, workspace_access
from ..workspaces.access import workspace_role
from .list_cache import cached_page
from .schemas import (
    CancelResultSchema,
    PostCreateSchema,
    PostDetailSchema,
    PostListArgsSchema,
    PostPageSchema,
    PostUpdateSchema,
    SlotsResponseSchema,
    SlotsSchema,
    iso,
    post_json,
)

__all__ = ["blp"]

blp = Blueprint(
    "posts", __name__, url_prefix="/api/v1",
    description="Posts: compose, validate against each platform, schedule, publish, cancel; posting slots.",
)

_IDEMPOTENCY_HEADER = "Idempotency-Key"
_POSTS = "/workspaces/<int:wid>/posts"
_POST = "/workspaces/<int:wid>/posts/<int:pid>"


def _fail(exc: svc.PostError) -> NoReturn:
    kwargs: dict[str, Any] = {"message": exc.message}
    if exc.errors:
        kwargs["errors"] = exc.errors
    abort(exc.status, **kwargs)


def _run(fn: Callable[[], Any]) -> Any:
    """Run a service call; translate its errors; commit on success."""
    s = session()
    try:
        result = fn()
        s.commit()
        return result
    except svc.PostError as exc:
        s.rollback()
        _fail(exc)
    except BaseException:
        s.rollback()
        raise


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    resp = jsonify(body)
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def _detail(wid: int, pid: int) -> dict[str, Any]:
    return post_json(svc.get_post(session(), wid, pid, detail=True), detail=True)


# -- posts ------------------------------------------------------------------------

@blp.route(_POSTS, methods=["POST"])
@workspace_role(Role.EDITOR)
@blp.arguments(PostCreateSchema)
@blp.response(201, PostDetailSchema)
@blp.alt_response(409, description="Idempotency-Key reused with a different body")
@blp.alt_response(422, description="invalid field, unknown or unusable account or media, or a platform rule broken "
                                   "(errors.targets.<account_id> lists each rule)")
@blp.doc(parameters=[{
    "in": "header", "name": _IDEMPOTENCY_HEADER, "required": False, "schema": {"type": "string", "maxLength": 255},
    "description": "repeat a request safely: the same key and body return the first response; "
                   "another body with the same key gets 409. Kept for idempotency_ttl_seconds.",
}])
@auth_required
def create_post(data: dict[str, Any], wid: int) -> Any:
    """Create a post with one target per account (editor or higher).

    Give one of `scheduled_at` (ISO 8601 with offset), `publish_now: true` or
    `queue: true` (each account's next free posting slot); none makes a draft.
    """
    ws = g.workspace
    user = current_user()
    rt = runtime()
    idem: tuple[str, str, int] | None = None
    key = request.headers.get(_IDEMPOTENCY_HEADER)
    if key is not None:
        key = key.strip()
        if not key or len(key) > 255:
            abort(422, message=f"{_IDEMPOTENCY_HEADER}: must be 1 to 255 characters",
                  errors={_IDEMPOTENCY_HEADER: ["must be 1 to 255 characters"]})
        problem = text_problem(key)  # a header is not read by the request parser
        if problem:
            abort(422, message=f"{_IDEMPOTENCY_HEADER}: {problem}", errors={_IDEMPOTENCY_HEADER: [problem]})
        # the request as loaded (defaults applied, times in UTC), so that
        # spelling the same request another way (`"media_ids": []` given or
        # left out, another offset) is the same request
        idem = (key, svc.request_hash(data), rt.settings.idempotency_ttl_seconds)
    try:
        status, body, replayed = svc.create_post(
            session(), rt.plugins, ws, user.id, data,
            serialize=lambda post: post_json(post, detail=True), idempotency=idem,
        )
    except svc.PostError as exc:
        _fail(exc)
    headers = {"Location": f"/api/v1/workspaces/{wid}/posts/{body['id']}"} if status == 201 else {}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return _json(body, status, headers)


@blp.route(_POSTS, methods=["GET"])
@workspace_role(Role.VIEWER)
@cached_page
@blp.arguments(PostListArgsSchema(), location="query")  # an instance: webargs would build one per request
@blp.response(200, PostPageSchema)
@auth_required
def list_posts(args: dict[str, Any], wid: int) -> Any:
    """List posts, newest first, with their targets (viewer or higher).

    Filters: `status` (repeatable), `account_id`, `from` / `to` on
    `scheduled_at`. Pagination: `limit` (1-100, default 20) and `cursor`
    (the `next_cursor` of the previous page). A page may be up to
    `CLIENTNEST_POSTS_LIST_CACHE_SECONDS` (default 1 s) behind the publishing
    engine; changes made through the API show at once.
    """
    posts, next_id = svc.list_posts(
        connection(), wid,
        statuses=args.get("status") or (),
        account_id=args.get("account_id"),
        start=args.get("from_"),
        end=args.get("to"),
        before_id=int(args["cursor"]) if args.get("cursor") else None,
        limit=args["limit"],
    )
    items = [post_json(p.post, targets=p.targets, media_ids=p.media_ids) for p in posts]
    return _json({"items": items, "next_cursor": None if next_id is None else str(next_id)})


@blp.route(_POST, methods=["GET"])
@blp.response(200, PostDetailSchema)
@auth_required
def get_post(wid: int, pid: int) -> Any:
    """A post with its targets: status, attempts (with times and errors), next
    retry time, external id and URL (viewer or higher)."""
    workspace_access(Role.VIEWER)
    try:
        return _json(_detail(wid, pid))
    except svc.PostNotFound as exc:
        _fail(exc)


@blp.route(_POST, methods=["PATCH"])
@workspace_role(Role.EDITOR)
@blp.arguments(PostUpdateSchema)
@blp.response(200, PostDetailSchema)
@blp.alt_response(409, description="a target has started (queued, publishing, unknown or settled)")
@blp.alt_response(422, description="invalid field, account, media or platform rule")
@auth_required
def update_post(data: dict[str, Any], wid: int, pid: int) -> Any:
    """Change text, overrides, media, link, thread, accounts or schedule of a
    post none of whose targets has started (editor or higher). Everything is
    validated again; `scheduled_at: null` makes it a draft."""
    ws = g.workspace
    user = current_user()
    _run(lambda: svc.update_post(session(), runtime().plugins, ws, user.id, pid, data))
    return _json(_detail(wid, pid))


@blp.route(_POST, methods=["DELETE"])
@blp.response(204)
@blp.alt_response(409, description="a target is queued, publishing, unknown or published")
@auth_required
def delete_post(wid: int, pid: int) -> Any:
    """Delete a post that is not on (or on its way to) any platform (editor
    or higher). Published posts must be deleted on the platform."""
    workspace_access(Role.EDITOR)
    user = current_user()
    _run(lambda: svc.delete_post(session(), wid, user.id, pid))
    return Response(status=204)


@blp.route(f"{_POST}/publish", methods=["POST"])
@blp.response(200, PostDetailSchema)
@blp.alt_response(409, description="no draft or scheduled target")
@blp.alt_response(422, description="an account is not usable or a platform rule is broken")
@auth_required
def publish_post(wid: int, pid: int) -> Any:
    """Publish now: every draft or scheduled target becomes due at once
    (editor or higher). Held targets keep waiting for their account."""
    ws, _ = workspace_access(Role.EDITOR)
    user = current_user()
    _run(lambda: svc.publish_post(session(), runtime().plugins, ws, user.id, pid))
    return _json(_detail(wid, pid))


@blp.route(f"{_POST}/cancel", methods=["POST"])
@blp.response(200, CancelResultSchema)
@blp.alt_response(409, description="nothing left to cancel: every target is in flight or settled")
@auth_required
def cancel_post(wid: int, pid: int) -> Any:
    """Cancel every target that has not started (draft, scheduled, queued,
    held); targets in flight or settled are left alone and listed in
    `skipped` (editor or higher)."""
    workspace_access(Role.EDITOR)
    user = current_user()
    _, skipped = _run(lambda: svc.cancel_post(session(), wid, user.id, pid))
    body = _detail(wid, pid)
    body["skipped"] = [
        {
            "target_id": t.id, "account_id": t.account_id, "status": t.status,
            "reason": "already settled" if t.status in SETTLED else "in flight; its outcome will be recorded",
        }
        for t in skipped
    ]
    return _json(body)


# -- posting slots ------------------------------------------------------------------

_SLOTS = "/workspaces/<int:wid>/accounts/<int:aid>/slots"


def _account(wid: int, aid: int) -> SocialAccount:
    acc = session().scalars(
        select(SocialAccount).where(SocialAccount.id == aid, SocialAccount.workspace_id == wid)
    ).first()
    if acc is None:
        abort(404, message=f"account {aid} not found")
    return acc


def _slots_json(acc: SocialAccount, tz_name: str) -> dict[str, Any]:
    s = session()
    slots = slot_svc.account_slots(s, acc.id)
    zone = slot_svc.workspace_zone(tz_name)
    nxt = slot_svc.next_free_slot(s, acc, zone, utcnow()) if slots else None
    return {
        "account_id": acc.id,
        "timezone": zone.key,
        "slots": [{"weekday": x.weekday, "time": x.time} for x in slots],
        "next_free_slot": iso(nxt),
    }


@blp.route(_SLOTS, methods=["GET"])
@blp.response(200, SlotsResponseSchema)
@auth_required
def get_slots(wid: int, aid: int) -> Any:
    """The account's weekly posting slots, wall-clock times in the workspace
    time zone (viewer or higher)."""
    ws, _ = workspace_access(Role.VIEWER)
    return _json(_slots_json(_account(wid, aid), ws.timezone))


@blp.route(_SLOTS, methods=["PUT"])
@workspace_role(Role.EDITOR)
@blp.arguments(SlotsSchema)
@blp.response(200, SlotsResponseSchema)
@auth_required
def put_slots(data: dict[str, Any], wid: int, aid: int) -> Any:
    """Replace the account's weekly posting slots (editor or higher). Times
    are wall-clock in the workspace time zone and keep it across DST;
    `queue: true` on a new post takes the next free one."""
    ws = g.workspace
    user = current_user()
    acc = _account(wid, aid)
    wanted = [slot_svc.Slot.parse(x["weekday"], x["time"]) for x in data["slots"]]
    seen: set[slot_svc.Slot] = set()
    for i, x in enumerate(wanted):
        if x in seen:
            abort(422, message=f"slots.{i}: weekday {x.weekday} at {x.time} is listed twice",
                  errors={"slots": {str(i): ["listed twice"]}})
        seen.add(x)
    s = session()
    stored = slot_svc.replace_slots(s, acc, wanted)
    audit.record(
        s, "account.slots_updated", "social_account", acc.id, workspace_id=wid, user_id=user.id,
        data={"slots": [f"{x.weekday}@{x.time}" for x in stored]},
    )
    s.commit()
    return _json(_slots_json(acc, ws.timezone))
