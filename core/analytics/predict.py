"""A draft's expected engagement, from the account's own history.

Kept simple and honest: the log engagement rate of a post is modelled as the
account's mean plus additive effects of its features (weekday x hour cell,
media kind, link or not, hashtag count bucket, length bucket), each effect a
shrunk mean of what the other effects leave unexplained (ridge-like
backfitting: a level seen ``n`` times keeps ``n / (n + K)`` of its mean).
The interval is the 10th..90th percentile of the model's own residuals on
the account's history (80 %). With fewer than :data:`MIN_POSTS` rated posts
there is nothing honest to say, and the answer says so.

:func:`backtest` measures it on the account's later posts after fitting on
its earlier ones, against the naive "account median" baseline
(``bench/RESULTS.md``).
"""
from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .tables import PostRollup

__all__ = ["MIN_POSTS", "Features", "Model", "fit", "history", "backtest", "features_of"]

MIN_POSTS = 30
#: prior strength: a level needs K posts to keep half of its own mean
K = 8.0
_ITERATIONS = 4


@dataclass(frozen=True)
class Features:
    weekday: int
    hour: int
    media_kind: str
    has_link: bool
    hashtags: int
    text_length: int

    def levels(self) -> dict[str, Any]:
        return {
            "slot": (self.weekday, self.hour),
            "media": self.media_kind,
            "link": self.has_link,
            "hashtags": min(self.hashtags, 3),
            "length": 0 if self.text_length < 80 else 1 if self.text_length < 200 else 2,
        }


def features_of(at_local: datetime, media_kind: str, text: str, link: bool) -> Features:
    import re

    tags = len(re.findall(r"(?<!\w)#\w+", text))
    return Features(at_local.weekday(), at_local.hour, media_kind,
                    link or bool(re.search(r"https?://\S+", text)), tags, len(text))


@dataclass
class Model:
    mean: float
    effects: dict[str, dict[Any, tuple[float, int]]]
    low: float
    high: float
    posts: int
    median_rate: float

    def log_rate(self, f: Features) -> float:
        out = self.mean
        for name, level in f.levels().items():
            out += self.effects.get(name, {}).get(level, (0.0, 0))[0]
        return out

    def predict(self, f: Features) -> dict[str, Any]:
        x = self.log_rate(f)
        contributions = {name: self.effects.get(name, {}).get(level, (0.0, 0)) for name, level in f.levels().items()}
        return {
            "engagement_rate": math.exp(x),
            "interval": {"low": math.exp(x + self.low), "high": math.exp(x + self.high), "coverage": 0.8},
            "account_median_rate": self.median_rate,
            "factors": {name: {"multiplier": math.exp(e), "posts": n} for name, (e, n) in contributions.items()},
            "posts_in_history": self.posts,
        }


def _log(rate: float, floor: float) -> float:
    return math.log(max(rate, floor))


def _fit(rows: Sequence[tuple[Features, float]]) -> Model:
    positive = [r for _, r in rows if r > 0]
    floor = (min(positive) / 2) if positive else 1e-6
    ys = [_log(r, floor) for _, r in rows]
    levels = [f.levels() for f, _ in rows]
    mean = statistics.fmean(ys)
    effects: dict[str, dict[Any, tuple[float, int]]] = {name: {} for name in levels[0]} if levels else {}
    for _ in range(_ITERATIONS):
        for name in effects:
            sums: dict[Any, float] = defaultdict(float)
            counts: dict[Any, int] = defaultdict(int)
            for lv, y in zip(levels, ys, strict=True):
                others = sum(effects[o].get(lv[o], (0.0, 0))[0] for o in effects if o != name)
                sums[lv[name]] += y - mean - others
                counts[lv[name]] += 1
            effects[name] = {k: (sums[k] / (counts[k] + K), counts[k]) for k in sums}
    return Model(mean, effects, 0.0, 0.0, len(rows), statistics.median([r for _, r in rows]) if rows else 0.0)


def fit(rows: Sequence[tuple[Features, float]], folds: int = 5) -> Model:
    """Fit on every row; the interval comes from out-of-fold residuals (each
    row predicted by a model that did not see it), since in-sample residuals
    are too small and would give intervals that cover too little."""
    model = _fit(rows)
    positive = [r for _, r in rows if r > 0]
    floor = (min(positive) / 2) if positive else 1e-6
    residuals: list[float] = []
    if len(rows) >= 2 * folds:
        for k in range(folds):
            held = [row for i, row in enumerate(rows) if i % folds == k]
            part = _fit([row for i, row in enumerate(rows) if i % folds != k])
            residuals += [_log(r, floor) - part.log_rate(f) for f, r in held]
    else:
        residuals = [_log(r, floor) - model.log_rate(f) for f, r in rows]
    residuals.sort()
    if residuals:
        model.low = residuals[int(0.1 * (len(residuals) - 1))]
        model.high = residuals[int(math.ceil(0.9 * (len(residuals) - 1)))]
    return model


def history(session: Session, account_id: int) -> list[tuple[Features, float, datetime]]:
    q = (select(PostRollup.local_weekday, PostRollup.local_hour, PostRollup.media_kind, PostRollup.has_link,
                PostRollup.hashtags, PostRollup.text_length, PostRollup.engagement_rate, PostRollup.published_at)
         .where(PostRollup.account_id == account_id, PostRollup.engagement_rate.is_not(None))
         .order_by(PostRollup.published_at))
    return [(Features(w, h, m, bool(link), tags, n), float(r), at) for w, h, m, link, tags, n, r, at
            in session.execute(q)]


@dataclass
class BacktestResult:
    train: int
    test: int
    model_mae_log: float
    baseline_mae_log: float
    model_mape: float
    baseline_mape: float
    interval_coverage: float


def backtest(rows: Sequence[tuple[Features, float, datetime]], train_share: float = 0.7,
             model_fit: Callable[[Sequence[tuple[Features, float]]], Model] = fit) -> BacktestResult:
    """Fit on the earlier ``train_share`` of the posts, score the rest against
    the account median of the training posts."""
    cut = int(len(rows) * train_share)
    train, test = rows[:cut], rows[cut:]
    model = model_fit([(f, r) for f, r, _ in train])
    median = statistics.median([r for _, r, _ in train])
    positive = [r for _, r, _ in rows if r > 0]
    floor = (min(positive) / 2) if positive else 1e-6
    err_m, err_b, pct_m, pct_b, inside = [], [], [], [], 0
    for f, r, _ in test:
        p = model.predict(f)
        err_m.append(abs(_log(p["engagement_rate"], floor) - _log(r, floor)))
        err_b.append(abs(_log(median, floor) - _log(r, floor)))
        pct_m.append(abs(p["engagement_rate"] - r) / r if r else 0.0)
        pct_b.append(abs(median - r) / r if r else 0.0)
        inside += p["interval"]["low"] <= r <= p["interval"]["high"]
    return BacktestResult(len(train), len(test), statistics.fmean(err_m), statistics.fmean(err_b),
                          statistics.fmean(pct_m), statistics.fmean(pct_b), inside / len(test) if test else 0.0)


def predict_draft(session: Session, account_id: int, at_local: datetime, *, media_kind: str, text: str,
                  link: bool) -> dict[str, Any]:
    """The prediction the API returns (``available: false`` with the reason when history is short)."""
    rows = history(session, account_id)
    f = features_of(at_local, media_kind, text, link)
    base: dict[str, Any] = {"account_id": account_id, "posts_in_history": len(rows), "min_posts": MIN_POSTS,
                            "features": {**f.levels(), "slot": {"weekday": f.weekday, "hour": f.hour}}}
    if len(rows) < MIN_POSTS:
        return {**base, "available": False,
                "reason": f"only {len(rows)} post(s) of this account have an engagement rate; "
                          f"{MIN_POSTS} are needed to predict honestly"}
    model = fit([(feat, r) for feat, r, _ in rows])
    out = model.predict(f)
    dens = sorted(d for d, in session.execute(select(PostRollup.rate_den).where(
        PostRollup.account_id == account_id, PostRollup.rate_den.is_not(None))))
    typical = dens[len(dens) // 2] if dens else None
    if typical:
        out["engagements"] = {"expected": round(out["engagement_rate"] * typical),
                              "low": round(out["interval"]["low"] * typical),
                              "high": round(out["interval"]["high"] * typical),
                              "assuming_denominator": typical}
    return {**base, "available": True, **out,
            "method": "log engagement rate = account mean + shrunk effects of slot, media, link, hashtags and "
                      "length (backfitting); 80 % interval from out-of-fold residuals; see bench/RESULTS.md "
                      "for its backtest against the account median"}
