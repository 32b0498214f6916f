"""/api/v1/workspaces/{wid}/ai: drafts, rewrites, hashtags, sentiment,
replies (editor or higher) and the usage report (viewer or higher).

Errors: 402 when the workspace's monthly AI budget would be exceeded (with
the budget and the spend); 422 for bad input or a platform/provider that
cannot be used; 502 when the provider refuses (bad key, no balance, invalid
request or output, each named); 503 (with Retry-After when known) when it is
overloaded or rate-limited after retries; 504 when it does not answer in time.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from flask import g
from werkzeug.exceptions import HTTPException
from flask_smorest import abort
from flask_smorest.error_handler import ErrorSchema

from clientnest import errors
from clientnest.models import Role
from clientnest.services import ai as service
from clientnest.services.platforms import PlatformUnavailable

from ..db_session import runtime, session
from ..extensions import Blueprint
from ..workspaces.access import workspace_role
from .schemas import (
    DraftsIn,
    DraftsOut,
    HashtagsIn,
    HashtagsOut,
    RepliesIn,
    RepliesOut,
    RewriteIn,
    RewriteOut,
    SentimentIn,
    SentimentOut,
    UsageOut,
    UsageQuery,
)

__all__ = ["blp"]

blp = Blueprint("ai", __name__, url_prefix="/api/v1", description="AI drafting, sentiment and usage")

T = TypeVar("T")


class PaymentRequired(HTTPException):
    code = 402
    description = "the workspace's monthly AI budget would be exceeded"

_PREFIX = "/workspaces/<int:wid>/ai"


def _provider_failed(exc: errors.PlatformError, status: int) -> None:
    headers: dict[str, str] = {}
    retry_at = getattr(exc, "retry_at", None)
    if retry_at is not None:
        headers["Retry-After"] = str(max(1, int((retry_at - datetime.now(UTC)).total_seconds() + 0.999)))
    abort(status, message=f"AI provider error: {exc.message}",
          errors={"provider": {"name": exc.platform, "reason": exc.kind, "status": exc.status}},
          headers=headers or None)


def _call(fn: Callable[[], T]) -> T:
    """Run a service call; turn its errors into clear HTTP errors."""
    try:
        return fn()
    except PlatformUnavailable as exc:
        abort(exc.status, message=exc.message, errors={exc.field or "platform": [exc.message]})
    except service.ProviderChoiceError as exc:
        abort(422, message=exc.message, errors={exc.field: [exc.message]})
    except errors.AIBudgetExceeded as exc:
        wid = g.workspace.id
        estimate = getattr(exc, "estimate_usd", 0.0)
        # werkzeug has no exception for 402, so flask_smorest.abort cannot raise one
        err = PaymentRequired()
        err.data = {  # type: ignore[attr-defined]  # what flask-smorest's handler renders
            "message": (
                f"this workspace's monthly AI budget of ${exc.budget_usd:.2f} would be exceeded: "
                f"${exc.spent_usd:.4f} spent this month (UTC), this request may cost up to ${estimate:.4f}. "
                f"An admin can raise ai_budget_usd with PATCH /api/v1/workspaces/{wid}."
            ),
            "errors": {"budget": {"budget_usd": exc.budget_usd, "spent_usd": exc.spent_usd,
                                  "estimated_cost_usd": estimate}},
        }
        raise err from None
    except errors.TransientError as exc:
        _provider_failed(exc, 504 if exc.code == "timeout" else 503)
    except errors.PlatformError as exc:  # AIAuthError, AIBalanceError, AIRequestError, AIOutputError
        _provider_failed(exc, 502)
    except errors.ClientNestError as exc:
        abort(502, message=f"AI provider error: {exc}")
    raise AssertionError("unreachable")  # abort() always raises


def _meta(o: service.AIOutcome) -> dict[str, Any]:
    return {
        "provider": o.provider, "model": o.model, "offline": o.offline, "cached": o.cached, "notice": o.notice,
        "usage": {
            "prompt_cache_hit_tokens": o.usage.prompt_cache_hit_tokens,
            "prompt_cache_miss_tokens": o.usage.prompt_cache_miss_tokens,
            "prompt_tokens": o.usage.prompt_tokens,
            "completion_tokens": o.usage.completion_tokens,
        },
        "cost_usd": float(o.cost_usd),
    }


_AI_ERRORS = (
    (402, "the workspace's monthly AI budget would be exceeded (errors.budget has the budget and the spend)"),
    (403, "needs the editor role"),
    (404, "no such workspace, or you are not a member"),
    (502, "the AI provider refused: bad key, no balance, invalid request or invalid output"),
    (503, "the AI provider is overloaded or rate-limited (after retries)"),
    (504, "the AI provider did not answer in time"),
)


def _documented(fn: Any) -> Any:
    for code, text in _AI_ERRORS:
        fn = blp.alt_response(code, schema=ErrorSchema, description=text)(fn)
    return fn


@blp.route(f"{_PREFIX}/drafts", methods=["POST"])
@workspace_role(Role.EDITOR)
@blp.arguments(DraftsIn)
@blp.response(200, DraftsOut)
@_documented
def drafts(data: dict[str, Any], wid: int) -> Any:
    """Draft posts from a brief for each platform, within its rules (editor+)."""
    o = _call(lambda: service.generate_drafts(session(), runtime(), g.workspace, **data))
    return {**_meta(o), "drafts": [
        {"platform": d.platform, "text": d.text, "hashtags": list(d.hashtags), **check}
        for d, check in zip(o.value, o.extra["checks"], strict=True)
    ]}


@blp.route(f"{_PREFIX}/rewrite", methods=["POST"])
@workspace_role(Role.EDITOR)
@blp.arguments(RewriteIn)
@blp.response(200, RewriteOut)
@_documented
def rewrite(data: dict[str, Any], wid: int) -> Any:
    """Adapt a post for another platform (editor+)."""
    o = _call(lambda: service.rewrite(session(), runtime(), g.workspace, **data))
    return {**_meta(o), "platform": data["platform"], "text": o.value, "checks": o.extra["checks"]}


@blp.route(f"{_PREFIX}/hashtags", methods=["POST"])
@workspace_role(Role.EDITOR)
@blp.arguments(HashtagsIn)
@blp.response(200, HashtagsOut)
@_documented
def hashtags(data: dict[str, Any], wid: int) -> Any:
    """Suggest hashtags for a text on a platform (editor+)."""
    o = _call(lambda: service.suggest_hashtags(session(), runtime(), g.workspace, **data))
    return {**_meta(o), "platform": data["platform"], "hashtags": o.value}


@blp.route(f"{_PREFIX}/sentiment", methods=["POST"])
@workspace_role(Role.EDITOR)
@blp.arguments(SentimentIn)
@blp.response(200, SentimentOut)
@_documented
def sentiment(data: dict[str, Any], wid: int) -> Any:
    """Score the sentiment of up to 100 texts in one provider call (editor+)."""
    o = _call(lambda: service.score_sentiment(session(), runtime(), g.workspace, **data))
    return {**_meta(o), "results": [
        {"index": i, "label": s.label, "score": s.score, "needs_human": s.needs_human, "reasons": list(s.reasons)}
        for i, s in enumerate(o.value)
    ]}


@blp.route(f"{_PREFIX}/replies", methods=["POST"])
@workspace_role(Role.EDITOR)
@blp.arguments(RepliesIn)
@blp.response(200, RepliesOut)
@_documented
def replies(data: dict[str, Any], wid: int) -> Any:
    """Draft a reply to a comment in the brand voice, within the workspace's
    reply rules (editor+). The reply is returned, never sent."""
    ctx = data["context"]  # {} when not given: the nested defaults do not apply then
    extra_rules = ctx.get("rules") or []
    o = _call(lambda: service.draft_reply(
        session(), runtime(), g.workspace, comment=data["comment"], post_text=ctx.get("post_text") or "",
        platform=ctx.get("platform"), max_length=ctx.get("max_length"), extra_rules=extra_rules,
        provider=data["provider"],
    ))
    rules = [*(g.workspace.reply_rules or []), *extra_rules]
    return {**_meta(o), "reply": o.value["text"], "violations": o.value["violations"],
            "compliant": not o.value["violations"], "rules": rules}


@blp.route(f"{_PREFIX}/usage", methods=["GET"])
@workspace_role(Role.VIEWER)
@blp.arguments(UsageQuery, location="query")
@blp.response(200, UsageOut)
@blp.alt_response(404, response="NOT_FOUND", description="no such workspace, or you are not a member")
def usage(query: dict[str, Any], wid: int) -> Any:
    """AI usage per UTC day, feature and provider: requests, cache hits,
    prompt tokens (cache hit and miss), completion tokens and cost; with the
    month's budget and spend (viewer+)."""
    now = datetime.now(UTC)
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start = query["from_"][0] if query["from_"] else month
    if query["to"]:
        end, is_day = query["to"]
        if is_day:  # a day is inclusive: up to its end
            end += timedelta(days=1)
    else:
        end = (month + timedelta(days=32)).replace(day=1)
    if end <= start:
        abort(422, message="invalid to: must be after from", errors={"query": {"to": ["must be after from"]}})
    if end - start > timedelta(days=366):
        abort(422, message="invalid to: the range may span at most 366 days",
              errors={"query": {"to": ["the range may span at most 366 days"]}})
    s = session()
    rows = service.usage_report(s, wid, start, end)
    keys = ("requests", "cache_hits", "failed", "prompt_cache_hit_tokens", "prompt_cache_miss_tokens",
            "prompt_tokens", "completion_tokens")
    totals: dict[str, Any] = {k: sum(r[k] for r in rows) for k in keys}
    totals["cost_usd"] = float(sum((r["cost_usd"] for r in rows), Decimal(0)))
    budget = service.budget_status(s, g.workspace, now)
    return {
        "from_": start, "to": end,
        "days": [{**r, "cost_usd": float(r["cost_usd"])} for r in rows],
        "totals": totals,
        "budget": {
            "budget_usd": float(budget.budget_usd), "spent_usd": float(budget.spent_usd),
            "remaining_usd": float(budget.remaining_usd),
            "period_start": budget.period_start, "period_end": budget.period_end,
        },
    }
