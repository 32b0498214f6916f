"""Rollups kept current as snapshots arrive, in the snapshot's transaction.

A post's snapshot carries its lifetime figures so far. :func:`apply_post_snapshot`

1. writes the post's row of :class:`PostDailyRollup` for the day of the
   snapshot (the latest snapshot of the day wins);
2. replaces the figures of its :class:`PostRollup` (unless a later snapshot
   is already there: jobs may finish out of order) and
3. adds the *difference* to the :class:`AccountDailyRollup` of the account and
   the day the post was published, so the daily totals are sums of each
   post's latest figures without ever re-reading the posts.

An account's snapshot (:func:`apply_account_snapshot`) sets its followers on
the day it was collected, and its daily amounts on the day they cover
(``period="day"``) or, for running totals (``period="lifetime"``), adds the
difference from the previous collection to the day it was collected.

The additions are single ``INSERT ... ON CONFLICT DO UPDATE`` statements, so
two workers adding to one account-day never lose an update. A ``None`` figure
adds nothing: a missing figure stays missing rather than becoming a zero.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..models import Media, MetricSnapshot, Post, PostMedia, PostTarget, Workspace
from ..services.slots import workspace_zone
from .definitions import ACCOUNT_FIGURES, POST_FIGURES, engagements, rate_parts
from .tables import FIGURE_COLUMNS, AccountCollection, AccountDailyRollup, AccountSnapshot, PostDailyRollup, PostRollup

__all__ = ["apply_post_snapshot", "apply_account_snapshot", "post_figures", "local_day", "media_kind_of",
           "ACCT_COLUMNS"]

_HASHTAG = re.compile(r"(?<!\w)#\w+")
_URL = re.compile(r"https?://\S+")
#: account figure -> its column in AccountDailyRollup
ACCT_COLUMNS = {name: f"acct_{name}" for name in ACCOUNT_FIGURES}


def _aware(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    return _aware(moment).astimezone(zone).date()


def _zone(session: Session, workspace_id: int) -> ZoneInfo:
    # asked once per session and workspace: a bulk of snapshots (the demo, a
    # backfill) should not read the workspace row for each one
    cache = session.info.setdefault("analytics.zones", {})
    if workspace_id not in cache:
        cache[workspace_id] = workspace_zone(
            session.scalar(select(Workspace.timezone).where(Workspace.id == workspace_id)))
    return cache[workspace_id]


def post_figures(platform: str, figures: Mapping[str, int | None]) -> dict[str, int | None]:
    """The rollup columns of one post's figures: the figures, engagements and
    the rate's numerator and denominator (both ``None`` unless both known)."""
    out: dict[str, int | None] = {n: figures.get(n) for n in POST_FIGURES}
    out["engagements"] = engagements(platform, out)
    parts = rate_parts(platform, out)
    out["rate_num"], out["rate_den"] = parts if parts else (None, None)
    return out


def _delta(old: int | None, new: int | None) -> int | None:
    if old is None and new is None:
        return None
    return (new or 0) - (old or 0)


_STATEMENTS: dict[tuple[Any, ...], Any] = {}


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _account_day_statement(dialect: str, add: tuple[str, ...], put: tuple[str, ...]) -> Any:
    """One cached ``INSERT ... ON CONFLICT DO UPDATE`` per shape: the values
    travel as parameters, so the statement is built and compiled once."""
    key = ("account_day", dialect, add, put)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        t = AccountDailyRollup.__table__
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(t)
        ex = ins.excluded
        sets: dict[str, Any] = {"posts": t.c.posts + ex.posts}
        for col in add:
            sets[col] = case((ex[col].is_(None), t.c[col]), else_=func.coalesce(t.c[col], 0) + ex[col])
        for col in put:
            sets[col] = func.coalesce(ex[col], t.c[col])
        stmt = _STATEMENTS[key] = ins.on_conflict_do_update(index_elements=["account_id", "day"], set_=sets)
    return stmt


def _post_day_statement(dialect: str) -> Any:
    key = ("post_day", dialect)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        t = PostDailyRollup.__table__
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(t)
        cols = ("fetched_at", *POST_FIGURES, "engagements")
        stmt = _STATEMENTS[key] = ins.on_conflict_do_update(
            index_elements=["target_id", "day"], set_={c: ins.excluded[c] for c in cols},
            where=t.c.fetched_at <= ins.excluded.fetched_at)
    return stmt


def _upsert_account_day(session: Session, *, account_id: int, day: date, workspace_id: int, platform: str,
                        add: Mapping[str, int | None] | None = None, put: Mapping[str, int | None] | None = None,
                        posts: int = 0) -> None:
    """Add ``add`` to (a ``None`` adds nothing) and overwrite with ``put``
    (a ``None`` keeps what is there) the columns of one account-day."""
    add, put = dict(add or {}), dict(put or {})
    stmt = _account_day_statement(_dialect(session), tuple(sorted(add)), tuple(sorted(put)))
    row: dict[str, Any] = {c.name: None for c in AccountDailyRollup.__table__.c}
    row.update({"account_id": account_id, "day": day, "workspace_id": workspace_id, "platform": platform,
                "posts": posts, **add, **put})
    session.connection().execute(stmt, row)


def media_kind_of(kinds: list[str]) -> str:
    if any(k == "video" for k in kinds):
        return "video"
    images = [k for k in kinds if k in ("image", "gif")]
    return "images" if len(images) > 1 else "image" if images else "none"


def _new_post_rollup(session: Session, snap: MetricSnapshot, zone: ZoneInfo) -> PostRollup | None:
    row = session.execute(
        select(PostTarget.account_id, PostTarget.post_id, PostTarget.platform, PostTarget.published_at,
               PostTarget.text_override, Post.text, Post.link)
        .join(Post, Post.id == PostTarget.post_id).where(PostTarget.id == snap.target_id)
    ).first()
    if row is None:
        return None
    published = _aware(row.published_at or snap.fetched_at)
    local = published.astimezone(zone)
    text = row.text_override if row.text_override is not None else (row.text or "")
    kinds = list(session.scalars(select(Media.kind).join(PostMedia, PostMedia.media_id == Media.id)
                                 .where(PostMedia.post_id == row.post_id)))
    rollup = PostRollup(
        target_id=snap.target_id, workspace_id=snap.workspace_id, account_id=row.account_id, post_id=row.post_id,
        platform=row.platform, published_at=published, local_day=local.date(), local_weekday=local.weekday(),
        local_hour=local.hour, media_kind=media_kind_of(kinds), text_length=len(text),
        hashtags=min(len(_HASHTAG.findall(text)), 32767), has_link=bool(row.link or _URL.search(text)),
        fetched_at=snap.fetched_at, snapshots=0,
    )
    session.add(rollup)
    return rollup


def apply_post_snapshot(session: Session, snap: MetricSnapshot) -> None:
    """Bring the rollups up to date with one new post snapshot (flushed). The caller commits."""
    zone = _zone(session, snap.workspace_id)
    raw = {n: getattr(snap, n) for n in POST_FIGURES}
    q = select(PostRollup).where(PostRollup.target_id == snap.target_id)
    if _dialect(session) == "postgresql":
        q = q.with_for_update()  # one snapshot of a post at a time applies its difference
    rollup = session.execute(q).scalar_one_or_none()
    created = rollup is None
    if rollup is None:
        rollup = _new_post_rollup(session, snap, zone)
        if rollup is None:
            return
    new = post_figures(rollup.platform, raw)

    daily = {k: v for k, v in new.items() if k not in ("rate_num", "rate_den")}
    session.connection().execute(_post_day_statement(_dialect(session)), {
        "target_id": snap.target_id, "day": local_day(snap.fetched_at, zone), "workspace_id": snap.workspace_id,
        "fetched_at": snap.fetched_at, **daily})

    if not created and _aware(snap.fetched_at) < _aware(rollup.fetched_at):
        return  # an older snapshot finished late: the rollup already has newer figures
    old = {c: (None if created else getattr(rollup, c)) for c in FIGURE_COLUMNS}
    for c in FIGURE_COLUMNS:
        setattr(rollup, c, new[c])
    rollup.engagement_rate = (new["rate_num"] / new["rate_den"]) if new["rate_den"] else None
    rollup.fetched_at = snap.fetched_at
    rollup.snapshots = (rollup.snapshots or 0) + 1
    session.flush()
    _upsert_account_day(session, account_id=rollup.account_id, day=rollup.local_day,
                        workspace_id=rollup.workspace_id, platform=rollup.platform,
                        add={c: _delta(old[c], new[c]) for c in FIGURE_COLUMNS}, posts=1 if created else 0)


def apply_account_snapshot(session: Session, snap: AccountSnapshot, platform: str,
                           collection: AccountCollection | None = None) -> None:
    """Bring the account's daily rollup up to date with one snapshot. The caller commits."""
    zone = _zone(session, snap.workspace_id)
    today = local_day(snap.fetched_at, zone)
    key = {"account_id": snap.account_id, "workspace_id": snap.workspace_id, "platform": platform}
    _upsert_account_day(session, day=today, put={"acct_followers": snap.followers}, **key)
    flows = {n: getattr(snap, n) for n in ACCOUNT_FIGURES if n != "followers"}
    if snap.period == "lifetime":
        previous = dict((collection.last_lifetime if collection is not None else None) or {})
        add: dict[str, int | None] = {}
        for name, value in flows.items():
            before = previous.get(name)
            # a total that went down (deleted posts, a platform recount) gives no amount for the day
            add[ACCT_COLUMNS[name]] = value - before if value is not None and before is not None \
                and value >= before else None
        if any(v is not None for v in add.values()):
            _upsert_account_day(session, day=today, add=add, **key)
        if collection is not None:
            collection.last_lifetime = {n: v for n, v in flows.items() if v is not None} or previous
        return
    if snap.period_end is not None:
        # the platform's day is the 24 h before period_end (Graph closes days at
        # midnight Pacific): it is filed under the local day of its middle
        covered = local_day(_aware(snap.period_end) - timedelta(hours=12), zone)
    else:
        covered = today - timedelta(days=1)  # the platform's last complete day
    put = {ACCT_COLUMNS[n]: v for n, v in flows.items()}
    if any(v is not None for v in put.values()):
        _upsert_account_day(session, day=covered, put=put, **key)
