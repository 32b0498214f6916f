"""The best time to post, from an account's own history.

Each published post with an engagement rate (see :mod:`.definitions`) falls
in a cell: weekday x hour of its publishing time in the workspace's zone. A
cell's raw average is noisy when it holds few posts, so each is shrunk toward
the account's mean by empirical Bayes (normal-normal): with ``n`` posts of
mean ``x``, within-cell variance ``s2`` and between-cell variance ``t2`` (both
estimated from the account's own cells),

    shrunk = (n / s2 * x + mu / t2) / (n / s2 + 1 / t2)

(on log rates) so one lucky post moves its cell only a little, nine
consistent posts a lot.
Cells are ranked by the shrunk rate and explained with the numbers behind
them (median rate of the cell and of the account, and how many posts).

With fewer than :data:`MIN_POSTS` rated posts there is no history to learn
from: the answer is :data:`PLATFORM_DEFAULTS`, labelled as such.
"""
from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import PostTarget, SocialAccount
from ..services.slots import TAKING_STATUSES, account_slots, local_to_utc, slot_instants
from .tables import PostRollup

__all__ = ["MIN_POSTS", "PLATFORM_DEFAULTS", "Cell", "BestTimes", "best_times", "next_best", "rank_cells"]

#: rated posts an account needs before its own history is used
MIN_POSTS = 20
#: how far back the history goes
HISTORY_DAYS = 365
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

#: General guidance used when an account's history is too short; published
#: industry studies broadly agree on weekday late mornings. Labelled
#: ``platform_default`` in every answer: it says nothing about this account.
PLATFORM_DEFAULTS: dict[str, tuple[tuple[int, int], ...]] = {
    "twitter": ((1, 9), (2, 9), (3, 9), (1, 12), (2, 12)),
    "instagram": ((0, 11), (2, 11), (4, 11), (1, 14), (3, 14)),
    "facebook": ((1, 9), (2, 10), (3, 11), (1, 13), (2, 13)),
    "linkedin": ((1, 8), (2, 9), (3, 10), (1, 10), (2, 8)),
}
_GENERIC_DEFAULTS = ((1, 10), (2, 10), (3, 10), (1, 14), (2, 14))


@dataclass
class Cell:
    weekday: int
    hour: int
    posts: int
    median_rate: float
    mean_rate: float
    shrunk_rate: float

    @property
    def label(self) -> str:
        return f"{DAYS[self.weekday]} {self.hour:02d}:00"


@dataclass
class BestTimes:
    source: str  # "account_history" | "platform_default"
    posts: int
    account_median_rate: float | None
    account_mean_rate: float | None
    cells: list[Cell]
    ranked: list[Cell]

    def score(self, weekday: int, hour: int) -> float | None:
        for c in self.cells:
            if (c.weekday, c.hour) == (weekday, hour):
                return c.shrunk_rate
        return None


def rank_cells(samples: Sequence[tuple[int, int, float]]) -> tuple[list[Cell], float, float]:
    """Cells of ``(weekday, hour, rate)`` samples, shrunk by empirical Bayes;
    returns the cells (best first), the account's mean and median rate.

    Rates are compared on a log scale (a post's engagement varies by a factor,
    not by a fixed amount; a zero rate counts as half the smallest positive
    one). Variances are the account's own: ``s2`` pooled within cells,
    ``t2`` the post-weighted spread of cell means beyond what ``s2`` explains
    (method of moments), so a one-post cell weighs as one post, not as a cell.
    """
    rates = [r for _, _, r in samples]
    positive = [r for r in rates if r > 0]
    floor = (min(positive) / 2) if positive else 1e-6
    logs = [(w, h, math.log(max(r, floor)), r) for w, h, r in samples]
    mu = statistics.fmean([x for _, _, x, _ in logs])
    groups: dict[tuple[int, int], list[tuple[float, float]]] = defaultdict(list)
    for w, h, x, r in logs:
        groups[(w, h)].append((x, r))
    dev = [(x - statistics.fmean([y for y, _ in g])) ** 2 for g in groups.values() if len(g) > 1 for x, _ in g]
    dof = sum(len(g) - 1 for g in groups.values() if len(g) > 1)
    s2 = sum(dev) / dof if dof else statistics.pvariance([x for _, _, x, _ in logs])
    # a post's rate is never known better than to about 10 %: too few
    # repeated cells would otherwise trust a single post fully
    s2 = max(s2, 0.01)
    n_all = len(logs)
    spread = sum(len(g) * (statistics.fmean([x for x, _ in g]) - mu) ** 2 for g in groups.values()) / n_all
    noise = len(groups) * s2 / n_all
    t2 = max(spread - noise, s2 / 50)
    cells = []
    for (w, h), g in groups.items():
        n, x = len(g), statistics.fmean([y for y, _ in g])
        shrunk = (n / s2 * x + mu / t2) / (n / s2 + 1 / t2)
        raw = [r for _, r in g]
        cells.append(Cell(w, h, n, statistics.median(raw), statistics.fmean(raw), math.exp(shrunk)))
    cells.sort(key=lambda c: (-c.shrunk_rate, -c.posts, c.weekday, c.hour))
    return cells, statistics.fmean(rates), statistics.median(rates)


def _samples(session: Session, account_id: int, since: datetime) -> list[tuple[int, int, float]]:
    q = (select(PostRollup.local_weekday, PostRollup.local_hour, PostRollup.engagement_rate)
         .where(PostRollup.account_id == account_id, PostRollup.engagement_rate.is_not(None),
                PostRollup.published_at >= since))
    return [(int(w), int(h), float(r)) for w, h, r in session.execute(q)]


def best_times(session: Session, account: SocialAccount, *, now: datetime | None = None) -> BestTimes:
    now = now or datetime.now(UTC)
    samples = _samples(session, account.id, now - timedelta(days=HISTORY_DAYS))
    if len(samples) < MIN_POSTS:
        defaults = PLATFORM_DEFAULTS.get(account.platform, _GENERIC_DEFAULTS)
        # a default slot's score only orders the defaults; it is not a rate
        cells = [Cell(w, h, 0, 0.0, 0.0, float(len(defaults) - i)) for i, (w, h) in enumerate(defaults)]
        return BestTimes("platform_default", len(samples), None, None, cells, cells)
    cells, mu, median = rank_cells(samples)
    return BestTimes("account_history", len(samples), median, mu, cells, cells)


def _pct(rate: float) -> str:
    return f"{rate * 100:.1f} %"


def explain(cell: Cell, bt: BestTimes) -> str:
    if bt.source == "platform_default":
        return (f"{cell.label}: a general default for this platform, not this account's data "
                f"(only {bt.posts} post(s) with an engagement rate so far; {MIN_POSTS} are needed)")
    assert bt.account_median_rate is not None
    return (f"{cell.label}: {_pct(cell.median_rate)} median engagement rate over {cell.posts} "
            f"post{'s' if cell.posts != 1 else ''}, account median {_pct(bt.account_median_rate)}")


def cell_json(cell: Cell, bt: BestTimes) -> dict[str, Any]:
    out: dict[str, Any] = {"weekday": cell.weekday, "day": DAYS[cell.weekday], "hour": cell.hour,
                           "label": cell.label, "explanation": explain(cell, bt)}
    if bt.source == "account_history":
        out.update(posts=cell.posts, median_rate=cell.median_rate, mean_rate=cell.mean_rate,
                   shrunk_rate=cell.shrunk_rate,
                   lift_vs_account_median=(cell.median_rate / bt.account_median_rate)
                   if bt.account_median_rate else None)
    return out


def best_times_json(session: Session, account: SocialAccount, zone: ZoneInfo, limit: int = 5,
                    now: datetime | None = None) -> dict[str, Any]:
    bt = best_times(session, account, now=now)
    heat = {(c.weekday, c.hour): c for c in bt.cells} if bt.source == "account_history" else {}
    heatmap = [[None if (w, h) not in heat else {"posts": heat[(w, h)].posts,
                                                "median_rate": heat[(w, h)].median_rate,
                                                "shrunk_rate": heat[(w, h)].shrunk_rate}
                for h in range(24)] for w in range(7)]
    return {
        "account_id": account.id, "platform": account.platform, "time_zone": zone.key,
        "source": bt.source, "posts_with_rate": bt.posts, "min_posts": MIN_POSTS,
        "history_days": HISTORY_DAYS,
        "account_median_rate": bt.account_median_rate, "account_mean_rate": bt.account_mean_rate,
        "method": "engagement rate by weekday x hour (workspace time zone); each cell's log rate shrunk toward "
                  "the account's mean by empirical Bayes (normal-normal, variances estimated from the account's "
                  "own posts); shrunk_rate is the geometric estimate",
        "ranked": [cell_json(c, bt) for c in bt.ranked[:limit]],
        "heatmap": {"rows": "weekday 0 = Monday .. 6 = Sunday", "columns": "hour 0..23", "cells": heatmap},
    }


def _taken(session: Session, account_id: int, after: datetime) -> list[datetime]:
    rows = session.scalars(select(PostTarget.scheduled_at).where(
        PostTarget.account_id == account_id, PostTarget.status.in_(TAKING_STATUSES),
        PostTarget.scheduled_at > after)).all()
    return [r.astimezone(UTC) for r in rows if r is not None]


def next_best(session: Session, account: SocialAccount, zone: ZoneInfo, *, after: datetime | None = None,
              horizon_days: int = 7, now: datetime | None = None) -> dict[str, Any] | None:
    """The best-scored free time in the next ``horizon_days`` (the earliest of equals).

    With posting slots, only the account's slots are candidates and a slot a
    waiting post of the account holds is skipped. Without slots, each
    ranked hour's next occurrence is a candidate, skipped if the account
    already has a post waiting in that hour.
    """
    after = (after or datetime.now(UTC)).astimezone(UTC)
    end = after + timedelta(days=horizon_days)
    bt = best_times(session, account, now=now)
    taken = _taken(session, account.id, after)
    slots = account_slots(session, account.id)
    candidates: list[datetime] = []
    if slots:
        busy = set(taken)
        for at in slot_instants(slots, zone, after):
            if at > end:
                break
            if at not in busy:
                candidates.append(at)
    else:
        busy_hours = {t.astimezone(zone).replace(minute=0, second=0, microsecond=0) for t in taken}
        day = after.astimezone(zone).date()
        for d in range(horizon_days + 1):
            current = day + timedelta(days=d)
            for c in bt.ranked:
                if c.weekday != current.weekday():
                    continue
                at = local_to_utc(current, c.hour * 60, zone)
                local_hour = at.astimezone(zone).replace(minute=0, second=0, microsecond=0)
                if after < at <= end and local_hour not in busy_hours:
                    candidates.append(at)
    if not candidates:
        return None

    def score(at: datetime) -> float:
        local = at.astimezone(zone)
        s = bt.score(local.weekday(), local.hour)
        if s is None:  # a slot in an hour without history: the account's mean (or last among defaults)
            s = bt.account_mean_rate if bt.source == "account_history" and bt.account_mean_rate else -1.0
        return s

    best = min(candidates, key=lambda at: (-score(at), at))
    local = best.astimezone(zone)
    cell = next((c for c in bt.cells if (c.weekday, c.hour) == (local.weekday(), local.hour)), None)
    return {
        "account_id": account.id, "scheduled_at": best.isoformat(), "local_time": local.isoformat(),
        "time_zone": zone.key, "source": bt.source, "uses_posting_slots": bool(slots),
        "explanation": explain(cell, bt) if cell is not None else
        f"{DAYS[local.weekday()]} {local.hour:02d}:00: a posting slot with no history yet (scored at the account mean)",
        "skipped_taken": len([t for t in taken if t <= best]),
    }
