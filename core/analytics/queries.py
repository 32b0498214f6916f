"""The analytics reads: summary, time series, top posts, one account, export.

Every read works on the rollups (never on raw snapshots) and names its
period: local calendar days ``from``..``to`` (inclusive) in the workspace's
IANA zone, with the instants they start and end at. Post figures count the
posts *published* in the period (each with its latest figures); account
figures are the accounts' own daily figures of the period's days; followers
are the last count known in the period.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..errors import ClientNestError
from ..models import Post, PostTarget, SocialAccount
from .definitions import POST_FIGURES, definitions_json
from .tables import AccountDailyRollup, PostRollup

__all__ = [
    "AnalyticsError",
    "Period",
    "Filters",
    "SERIES_METRICS",
    "RANK_METRICS",
    "summary",
    "timeseries",
    "top_posts",
    "account_detail",
    "export_rows",
    "EXPORT_COLUMNS",
    "csv_chunks",
]

#: what a time series can show: post figures, and the accounts' own figures
ACCOUNT_SERIES = {"followers": "acct_followers", "profile_views": "acct_profile_views",
                  "account_impressions": "acct_impressions", "account_reach": "acct_reach",
                  "account_engagements": "acct_engagements"}
SERIES_METRICS: tuple[str, ...] = (*POST_FIGURES, "engagements", "engagement_rate", "posts", *ACCOUNT_SERIES)
#: what posts can be ranked by
RANK_METRICS: tuple[str, ...] = (*POST_FIGURES, "engagements", "engagement_rate")
_SUMS = (*POST_FIGURES, "engagements", "rate_num", "rate_den")
_ACCT_SUMS = ("acct_impressions", "acct_reach", "acct_profile_views", "acct_engagements")


class AnalyticsError(ClientNestError):
    def __init__(self, message: str, status: int = 422, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.status, self.field = message, status, field


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    zone: ZoneInfo

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def previous(self) -> Period:
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1), self.zone)

    def instant(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self.zone)

    def to_json(self) -> dict[str, Any]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat(), "days": self.days,
                "time_zone": self.zone.key, "starts_at": self.instant(self.start).isoformat(),
                "ends_at": self.instant(self.end + timedelta(days=1)).isoformat()}


@dataclass(frozen=True)
class Filters:
    account_id: int | None = None
    platform: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "platform": self.platform}


def _where(model: Any, workspace_id: int, f: Filters) -> list[Any]:
    out = [model.workspace_id == workspace_id]
    if f.account_id is not None:
        out.append(model.account_id == f.account_id)
    if f.platform:
        out.append(model.platform == f.platform)
    return out


def _platforms(session: Session, workspace_id: int, f: Filters) -> list[str]:
    q = select(SocialAccount.platform).where(SocialAccount.workspace_id == workspace_id).distinct()
    if f.account_id is not None:
        q = q.where(SocialAccount.id == f.account_id)
    if f.platform:
        q = q.where(SocialAccount.platform == f.platform)
    return sorted(session.scalars(q).all())


def check_account(session: Session, workspace_id: int, account_id: int | None) -> SocialAccount | None:
    if account_id is None:
        return None
    acct = session.get(SocialAccount, account_id)
    if acct is None or acct.workspace_id != workspace_id:
        raise AnalyticsError(f"account {account_id} not found in this workspace", 404, "account_id")
    return acct


def _rate(num: int | None, den: int | None) -> float | None:
    return (num / den) if num is not None and den else None


def _int(v: Any) -> int | None:
    return int(v) if v is not None else None


def _followers(session: Session, workspace_id: int, period: Period, f: Filters) -> int | None:
    """The sum over accounts of each one's last follower count in the period."""
    last: dict[int, int] = {}
    q = (select(AccountDailyRollup.account_id, AccountDailyRollup.acct_followers)
         .where(*_where(AccountDailyRollup, workspace_id, f), AccountDailyRollup.day.between(period.start, period.end),
                AccountDailyRollup.acct_followers.is_not(None))
         .order_by(AccountDailyRollup.day))
    for aid, value in session.execute(q):
        last[aid] = int(value)
    return sum(last.values()) if last else None


def _totals(session: Session, workspace_id: int, period: Period, f: Filters) -> dict[str, Any]:
    t = AccountDailyRollup
    cols = [func.coalesce(func.sum(t.posts), 0)] + [func.sum(getattr(t, c)) for c in (*_SUMS, *_ACCT_SUMS)]
    row = session.execute(select(*cols).where(*_where(t, workspace_id, f), t.day.between(period.start, period.end))
                          ).one()
    values = dict(zip(("posts", *_SUMS, *_ACCT_SUMS), (_int(v) for v in row), strict=True))
    posts = {"posts": values["posts"], **{n: values[n] for n in (*POST_FIGURES, "engagements")},
             "engagement_rate": _rate(values["rate_num"], values["rate_den"])}
    account = {"followers": _followers(session, workspace_id, period, f),
               **{c[len("acct_"):]: values[c] for c in _ACCT_SUMS}}
    return {"posts": posts, "account": account}


def _change(now: Any, before: Any) -> dict[str, Any]:
    if now is None or before is None:
        return {"absolute": None, "relative": None}
    return {"absolute": now - before, "relative": ((now - before) / before) if before else None}


def _with_change(cur: dict[str, Any], prev: dict[str, Any]) -> dict[str, Any]:
    return {k: {"value": cur[k], "previous": prev[k], **_change(cur[k], prev[k])} for k in cur}


def summary(session: Session, workspace_id: int, period: Period, f: Filters) -> dict[str, Any]:
    cur, prev = _totals(session, workspace_id, period, f), _totals(session, workspace_id, period.previous, f)
    return {
        "period": period.to_json(), "previous_period": period.previous.to_json(), "filters": f.to_json(),
        "posts": _with_change(cur["posts"], prev["posts"]),
        "account": _with_change(cur["account"], prev["account"]),
        "definitions": definitions_json(_platforms(session, workspace_id, f)),
    }


def _bucket(day: date, interval: str) -> date:
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


def _next_bucket(start: date, interval: str) -> date:
    if interval == "week":
        return start + timedelta(days=7)
    if interval == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start + timedelta(days=1)


def timeseries(session: Session, workspace_id: int, period: Period, f: Filters, metric: str,
               interval: str) -> dict[str, Any]:
    if metric not in SERIES_METRICS:
        raise AnalyticsError(f"must be one of: {', '.join(SERIES_METRICS)}", field="metric")
    t = AccountDailyRollup
    where = [*_where(t, workspace_id, f), t.day.between(period.start, period.end)]
    sums: dict[date, dict[str, int | None]] = {}
    followers: dict[date, dict[int, int]] = {}
    if metric == "followers":
        q = select(t.day, t.account_id, t.acct_followers).where(*where, t.acct_followers.is_not(None)).order_by(t.day)
        for day, aid, value in session.execute(q):
            followers.setdefault(_bucket(day, interval), {})[aid] = int(value)  # the last day of the bucket wins
    else:
        cols = ["posts", *_SUMS, *_ACCT_SUMS]
        q = select(t.day, *[func.sum(getattr(t, c)) for c in cols]).where(*where).group_by(t.day)
        for day, *values in session.execute(q):
            b = sums.setdefault(_bucket(day, interval), {})
            for c, v in zip(cols, values, strict=True):
                if v is not None:
                    b[c] = (b.get(c) or 0) + int(v)
    points = []
    start = _bucket(period.start, interval)
    while start <= period.end:
        end = min(_next_bucket(start, interval) - timedelta(days=1), period.end)
        first = max(start, period.start)
        if metric == "followers":
            values = followers.get(start)
            value: Any = sum(values.values()) if values else None
        else:
            b = sums.get(start, {})
            if metric == "engagement_rate":
                value = _rate(b.get("rate_num"), b.get("rate_den"))
            elif metric == "posts":
                value = b.get("posts", 0)
            elif metric in ACCOUNT_SERIES:
                value = b.get(ACCOUNT_SERIES[metric])
            else:
                value = b.get(metric)
        points.append({"from": first.isoformat(), "to": end.isoformat(),
                       "starts_at": period.instant(first).isoformat(),
                       "value": value})
        start = _next_bucket(start, interval)
    return {"metric": metric, "interval": interval, "period": period.to_json(), "filters": f.to_json(),
            "points": points, "definitions": definitions_json(_platforms(session, workspace_id, f))}


def top_posts(session: Session, workspace_id: int, period: Period, f: Filters, metric: str,
              limit: int) -> dict[str, Any]:
    if metric not in RANK_METRICS:
        raise AnalyticsError(f"must be one of: {', '.join(RANK_METRICS)}", field="metric")
    r = PostRollup
    col = getattr(r, metric)
    # rank on the rollup alone (its workspace-day index), then join the few winners
    order = (col.desc(), r.published_at.desc(), r.target_id.desc())
    top = (select(r.target_id).where(*_where(r, workspace_id, f), r.local_day.between(period.start, period.end),
                                     col.is_not(None))
           .order_by(*order).limit(limit).subquery())
    q = (select(r, Post.text, PostTarget.text_override, PostTarget.external_url, SocialAccount.display_name)
         .join(top, top.c.target_id == r.target_id)
         .join(Post, Post.id == r.post_id).join(PostTarget, PostTarget.id == r.target_id)
         .join(SocialAccount, SocialAccount.id == r.account_id)
         .order_by(*order))
    posts = []
    for roll, text, override, url, account_name in session.execute(q):
        posts.append({
            "post_id": roll.post_id, "target_id": roll.target_id, "account_id": roll.account_id,
            "account_name": account_name, "platform": roll.platform,
            "text": override if override is not None else text, "link": url,
            "published_at": roll.published_at.astimezone(period.zone).isoformat(),
            "value": getattr(roll, metric),
            "figures": {n: getattr(roll, n) for n in (*POST_FIGURES, "engagements", "engagement_rate")},
            "figures_as_of": roll.fetched_at.isoformat(),
        })
    return {"metric": metric, "limit": limit, "period": period.to_json(), "filters": f.to_json(), "posts": posts,
            "definitions": definitions_json(_platforms(session, workspace_id, f))}


def account_detail(session: Session, workspace_id: int, account_id: int, period: Period) -> dict[str, Any]:
    acct = check_account(session, workspace_id, account_id)
    assert acct is not None
    f = Filters(account_id=account_id)
    cur, prev = _totals(session, workspace_id, period, f), _totals(session, workspace_id, period.previous, f)
    t = AccountDailyRollup
    series = [{"day": d.isoformat(), "followers": int(v)} for d, v in session.execute(
        select(t.day, t.acct_followers).where(t.account_id == account_id, t.workspace_id == workspace_id,
                                             t.day.between(period.start, period.end), t.acct_followers.is_not(None))
        .order_by(t.day))]
    first = series[0]["followers"] if series else None
    last = series[-1]["followers"] if series else None
    return {
        "account": {"id": acct.id, "platform": acct.platform, "display_name": acct.display_name,
                    "username": acct.username, "kind": acct.kind, "status": acct.status},
        "period": period.to_json(), "previous_period": period.previous.to_json(),
        "followers": {"first": first, "last": last, "growth": _change(last, first), "series": series},
        "own_figures": _with_change(cur["account"], prev["account"]),
        "posts": _with_change(cur["posts"], prev["posts"]),
        "definitions": definitions_json([acct.platform]),
    }


EXPORT_COLUMNS: tuple[str, ...] = (
    "published_at", "local_day", "platform", "account_id", "account_name", "post_id", "target_id", "link", "text",
    *POST_FIGURES, "engagements", "engagement_rate", "figures_as_of",
)


def export_rows(session: Session, workspace_id: int, period: Period, f: Filters,
                batch: int = 1000) -> Iterator[Sequence[Any]]:
    """One row per published target of the period, oldest first, read in
    batches from a server-side cursor where the database has one."""
    r = PostRollup
    q = (select(r.published_at, r.local_day, r.platform, r.account_id, SocialAccount.display_name, r.post_id,
                r.target_id, PostTarget.external_url, Post.text, PostTarget.text_override,
                *[getattr(r, n) for n in (*POST_FIGURES, "engagements", "engagement_rate")], r.fetched_at)
         .join(Post, Post.id == r.post_id).join(PostTarget, PostTarget.id == r.target_id)
         .join(SocialAccount, SocialAccount.id == r.account_id)
         .where(*_where(r, workspace_id, f), r.local_day.between(period.start, period.end))
         .order_by(r.published_at, r.target_id)
         .execution_options(stream_results=True, yield_per=batch))
    for row in session.execute(q):
        published, day, platform, aid, name, pid, tid, url, text, override, *figures, fetched = row
        yield (published.astimezone(period.zone).isoformat(), day.isoformat(), platform, aid, name, pid, tid,
               url or "", override if override is not None else text, *["" if v is None else v for v in figures],
               fetched.astimezone(UTC).isoformat())


def csv_chunks(rows: Iterator[Sequence[Any]], header: Sequence[str], rows_per_chunk: int = 500) -> Iterator[str]:
    """CSV text in chunks: memory holds one chunk, whatever the number of rows."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    n = 0
    for row in rows:
        writer.writerow(row)
        n += 1
        if n % rows_per_chunk == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()
