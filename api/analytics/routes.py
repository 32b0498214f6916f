"""/api/v1/workspaces/{wid}/analytics/... and .../accounts/{aid}/best-times, next-best.

Thin views: access first (401, 404 for a non-member), then
:mod:`clientnest.analytics.queries` / :mod:`clientnest.analytics.best_times`
read the rollups. Every answer names its period, the workspace's time zone
and the platform definitions of the figures.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from flask import Response, g, stream_with_context
from flask_smorest import abort

from clientnest.analytics import best_times as bt
from clientnest.analytics import predict as pr
from clientnest.analytics import queries as q
from clientnest.analytics.definitions import definitions_json
from clientnest.models import Role
from clientnest.services.slots import workspace_zone

from ..db_session import runtime, session
from ..extensions import Blueprint
from ..workspaces.access import workspace_role
from .schemas import (
    AccountAnalyticsSchema,
    AccountPeriodQuerySchema,
    BestTimesQuerySchema,
    BestTimesSchema,
    DefinitionsSchema,
    NextBestQuerySchema,
    NextBestSchema,
    PeriodQuerySchema,
    PredictionSchema,
    PredictRequestSchema,
    SummarySchema,
    TimeseriesQuerySchema,
    TimeseriesSchema,
    TopPostsQuerySchema,
    TopPostsSchema,
)

__all__ = ["blp"]

blp = Blueprint(
    "analytics", __name__, url_prefix="/api/v1",
    description="Analytics: totals with the change against the previous period, time series, top posts, each "
                "account's figures and follower growth, CSV export, platform definitions, best times to post.",
)

_BASE = "/workspaces/<int:wid>/analytics"


def _fail(exc: q.AnalyticsError) -> NoReturn:
    if exc.field:
        abort(exc.status, message=f"{exc.field}: {exc.message}", errors={exc.field: [exc.message]})
    abort(exc.status, message=exc.message)


def _period(args: dict[str, Any]) -> q.Period:
    zone = workspace_zone(g.workspace.timezone)
    end = args.get("to") or datetime.now(UTC).astimezone(zone).date()
    start = args.get("from_") or end - timedelta(days=27)
    if start > end:
        abort(422, message="from: must not be after to", errors={"from": ["must not be after to"]})
    return q.Period(start, end, zone)


def _filters(args: dict[str, Any]) -> q.Filters:
    f = q.Filters(account_id=args.get("account_id"), platform=args.get("platform"))
    try:
        q.check_account(session(), g.workspace.id, f.account_id)
    except q.AnalyticsError as exc:
        _fail(exc)
    return f


@blp.route(f"{_BASE}/summary")
@workspace_role(Role.VIEWER)
@blp.arguments(PeriodQuerySchema, location="query")
@blp.response(200, SummarySchema)
def summary(args: dict[str, Any], wid: int) -> Any:
    """Totals of the period and their change against the previous period of the same length (viewer+)."""
    return q.summary(session(), wid, _period(args), _filters(args))


@blp.route(f"{_BASE}/timeseries")
@workspace_role(Role.VIEWER)
@blp.arguments(TimeseriesQuerySchema, location="query")
@blp.response(200, TimeseriesSchema)
def timeseries(args: dict[str, Any], wid: int) -> Any:
    """One metric by day, week (Monday first) or calendar month of the workspace's zone (viewer+)."""
    try:
        return q.timeseries(session(), wid, _period(args), _filters(args), args["metric"], args["interval"])
    except q.AnalyticsError as exc:
        _fail(exc)


@blp.route(f"{_BASE}/top-posts")
@workspace_role(Role.VIEWER)
@blp.arguments(TopPostsQuerySchema, location="query")
@blp.response(200, TopPostsSchema)
def top_posts(args: dict[str, Any], wid: int) -> Any:
    """The posts published in the period ranked by a metric, with text, platform and link (viewer+)."""
    try:
        return q.top_posts(session(), wid, _period(args), _filters(args), args["metric"], args["limit"])
    except q.AnalyticsError as exc:
        _fail(exc)


@blp.route(f"{_BASE}/accounts/<int:aid>")
@workspace_role(Role.VIEWER)
@blp.arguments(AccountPeriodQuerySchema, location="query")
@blp.response(200, AccountAnalyticsSchema)
def account(args: dict[str, Any], wid: int, aid: int) -> Any:
    """One account: follower growth, its own figures and its posts' figures (viewer+)."""
    try:
        return q.account_detail(session(), wid, aid, _period(args))
    except q.AnalyticsError as exc:
        _fail(exc)


@blp.route(f"{_BASE}/definitions")
@workspace_role(Role.VIEWER)
@blp.response(200, DefinitionsSchema)
def definitions(wid: int) -> Any:
    """The vocabulary and what each figure means on each platform (viewer+)."""
    return definitions_json()


@blp.route(f"{_BASE}/export.csv")
@workspace_role(Role.VIEWER)
@blp.arguments(PeriodQuerySchema, location="query")
@blp.response(200, description="text/csv: one row per published post of the period, streamed",
              content_type="text/csv")
def export_csv(args: dict[str, Any], wid: int) -> Any:
    """Every post published in the period with its latest figures, as CSV (viewer+).
    Streamed in chunks from a server-side cursor: memory stays flat."""
    period, f = _period(args), _filters(args)
    rt = runtime()

    def generate() -> Any:
        s = rt.db.Session()
        try:
            yield from q.csv_chunks(q.export_rows(s, wid, period, f), q.EXPORT_COLUMNS)
        finally:
            s.close()

    name = f"analytics-{wid}-{period.start.isoformat()}-{period.end.isoformat()}.csv"
    return Response(stream_with_context(generate()), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Analytics-Time-Zone": period.zone.key})


def _account_or_404(wid: int, aid: int) -> Any:
    try:
        acct = q.check_account(session(), wid, aid)
    except q.AnalyticsError as exc:
        _fail(exc)
    return acct


@blp.route("/workspaces/<int:wid>/accounts/<int:aid>/best-times")
@workspace_role(Role.VIEWER)
@blp.arguments(BestTimesQuerySchema, location="query")
@blp.response(200, BestTimesSchema)
def best_times(args: dict[str, Any], wid: int, aid: int) -> Any:
    """Ranked best times to post (weekday x hour, workspace zone) and the heatmap, from the account's own
    history; platform defaults, labelled as such, when the history is short (viewer+)."""
    acct = _account_or_404(wid, aid)
    return bt.best_times_json(session(), acct, workspace_zone(g.workspace.timezone), args["limit"])


@blp.route("/workspaces/<int:wid>/accounts/<int:aid>/next-best")
@workspace_role(Role.VIEWER)
@blp.arguments(NextBestQuerySchema, location="query")
@blp.response(200, NextBestSchema)
@blp.alt_response(409, description="no free time in the horizon (every posting slot is taken)")
def next_best(args: dict[str, Any], wid: int, aid: int) -> Any:
    """The best-scored free time of the account in the next days: within its posting slots if it has
    any, never one a waiting post of the account already holds (viewer+)."""
    acct = _account_or_404(wid, aid)
    found = bt.next_best(session(), acct, workspace_zone(g.workspace.timezone), after=args.get("after"),
                         horizon_days=args["horizon_days"])
    if found is None:
        abort(409, message=f"no free posting time for account {aid} in the next {args['horizon_days']} days")
    return found


@blp.route("/workspaces/<int:wid>/accounts/<int:aid>/predict", methods=["POST"])
@workspace_role(Role.VIEWER)
@blp.arguments(PredictRequestSchema)
@blp.response(200, PredictionSchema)
def predict(body: dict[str, Any], wid: int, aid: int) -> Any:
    """A draft's expected engagement rate (with an 80 % interval) on this account, from its own history;
    ``available: false`` with the reason when the history is too short. Nothing is stored (viewer+)."""
    acct = _account_or_404(wid, aid)
    zone = workspace_zone(g.workspace.timezone)
    return pr.predict_draft(session(), acct.id, body["scheduled_at"].astimezone(zone),
                            media_kind=body["media_kind"], text=body["text"], link=body["link"])
