"""A deterministic 90-day history for the demo workspace, with planted effects.

:func:`generate_history` writes accounts, published posts, their metric
snapshots and the accounts' daily figures through the same code the jobs use
(:func:`clientnest.services.metrics.store_snapshot`,
:func:`.rollups.apply_account_snapshot`), so the rollups the analytics API
reads are built exactly as in production. The same seed gives the same
history, to the post.

Planted, so that a newcomer (and the tests) can see the analysis find them:

* the first account (X) does best on Tuesdays at 14:00 in the workspace's
  zone: its engagement rate there is :data:`TUESDAY_LIFT` times its usual;
* posts with images do :data:`IMAGE_LIFT` times better than text-only posts.

Demo accounts are created ``disabled`` with a reason that says they are a
demo history: the collection jobs and the publisher leave them alone.
"""
from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..connector import Credentials, PostMetrics
from ..models import (
    AccountStatus,
    Media,
    Membership,
    Post,
    PostMedia,
    PostStatus,
    PostTarget,
    SocialAccount,
    TargetStatus,
    User,
    Workspace,
)
from ..services.slots import workspace_zone
from .definitions import definition
from .rollups import apply_account_snapshot
from .tables import AccountSnapshot

__all__ = ["DemoAccount", "DEMO_ACCOUNTS", "TUESDAY_LIFT", "IMAGE_LIFT", "PLANTED_SLOT", "generate_history",
           "ensure_demo_history"]

TUESDAY_LIFT = 2.2
IMAGE_LIFT = 1.4
#: (weekday, hour) of the planted best slot of the first account (0 = Monday)
PLANTED_SLOT = (1, 14)
_HOURS = (8, 9, 10, 11, 12, 13, 15, 16, 17, 18, 19, 20)
_TOPICS = ("our new summer menu", "behind the scenes at the roastery", "five tips for better espresso",
           "meet the team", "this week's special", "a customer story", "how we source our beans",
           "weekend opening hours", "the latte art contest", "a recipe to try at home")


@dataclass(frozen=True)
class DemoAccount:
    platform: str
    name: str
    username: str
    kind: str
    followers: int
    base_rate: float
    posts_per_day: float


DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("twitter", "Nest Coffee on X", "nestcoffee", "user", 5200, 0.021, 1.6),
    DemoAccount("instagram", "Nest Coffee on Instagram", "nest.coffee", "business", 8700, 0.034, 1.0),
    DemoAccount("facebook", "Nest Coffee", "nestcoffeehouse", "page", 12400, 0.018, 0.8),
    DemoAccount("linkedin", "Nest Coffee Ltd", "nest-coffee", "organization", 2300, 0.027, 0.5),
)


@dataclass
class _Planned:
    account: SocialAccount
    spec: DemoAccount
    at: datetime
    media: str
    text: str
    rate: float
    denominator: int


@dataclass
class HistoryStats:
    accounts: int = 0
    posts: int = 0
    snapshots: int = 0
    account_days: int = 0
    account_ids: list[int] = field(default_factory=list)


def _media(session: Session, workspace_id: int, kind: str) -> Media:
    key = f"demo/{workspace_id}/{kind}"
    found = session.scalar(select(Media).where(Media.storage_key == key))
    if found is not None:
        return found
    content_type = "image/png" if kind == "image" else "video/mp4"
    m = Media(workspace_id=workspace_id, storage_key=key, kind=kind, content_type=content_type, size=1024,
              width=1080, height=1080, sha256=hashlib.sha256(key.encode()).hexdigest(),
              original_name=f"demo-{kind}")
    session.add(m)
    session.flush()
    return m


def _split(platform: str, engagements: int, rng: random.Random) -> dict[str, int]:
    """Engagements spread over the platform's parts (likes the most)."""
    parts = definition(platform).engagement_parts
    weights = {"likes": 0.62, "comments": 0.12, "shares": 0.1, "saves": 0.08, "clicks": 0.08}
    w = [weights[p] * rng.uniform(0.8, 1.2) for p in parts]
    total = sum(w)
    out = {p: int(engagements * wi / total) for p, wi in zip(parts, w, strict=True)}
    out[parts[0]] += engagements - sum(out.values())
    return out


def _metrics(plan: _Planned, fraction: float, rng: random.Random) -> PostMetrics:
    platform = plan.spec.platform
    den = max(1, int(plan.denominator * fraction))
    eng = int(round(den * plan.rate))
    parts = _split(platform, eng, rng)
    reach = den if definition(platform).rate_denominator == "reach" else int(den * 0.72)
    impressions = den if definition(platform).rate_denominator == "impressions" else int(den * 1.35)
    if platform == "twitter":
        reach = None  # X has no reach
    figures: dict[str, Any] = {"impressions": impressions, "reach": reach, **parts}
    if plan.media == "video":
        figures["video_views"] = int(den * 0.4)
    return PostMetrics(external_id="", **{k: v for k, v in figures.items() if k in PostMetrics.NAMES})


def _post_text(rng: random.Random, media: str) -> str:
    topic = rng.choice(_TOPICS)
    tags = " ".join(rng.sample(["#coffee", "#espresso", "#latte", "#barista", "#morning"], rng.randint(0, 3)))
    link = " https://nest.example/blog" if rng.random() < 0.25 else ""
    lead = "New photo: " if media == "image" else "Watch: " if media == "video" else ""
    return f"{lead}{topic.capitalize()}.{link} {tags}".strip()


def generate_history(session: Session, workspace_id: int, *, days: int = 90, seed: int = 7,
                     now: datetime | None = None, snapshot_hours: tuple[float, ...] = (24, 168),
                     accounts: tuple[DemoAccount, ...] = DEMO_ACCOUNTS, vault: Any = None) -> HistoryStats:
    """Write the demo history into ``workspace_id`` (the caller commits).

    :param now: the end of the history (default: now, to the hour).
    :param snapshot_hours: when each post's metrics were "collected" after publishing.
    :param vault: encrypts the (placeholder) credentials; default: the current runtime's.
    """
    from ..services.metrics import store_snapshot

    if vault is None:
        from ..runtime import current

        vault = current().vault
    rng = random.Random(seed)
    now = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    zone = workspace_zone(session.scalar(select(Workspace.timezone).where(Workspace.id == workspace_id)))
    start_day = (now.astimezone(zone) - timedelta(days=days)).date()
    image, video = _media(session, workspace_id, "image"), _media(session, workspace_id, "video")
    stats = HistoryStats()
    plans: list[_Planned] = []
    for i, spec in enumerate(accounts):
        acct = SocialAccount(
            workspace_id=workspace_id, platform=spec.platform, external_id=f"demo-{spec.platform}-{i}",
            display_name=spec.name, username=spec.username, kind=spec.kind,
            credentials_encrypted=vault.encrypt(Credentials(access_token="demo").to_json()),
            status=AccountStatus.DISABLED, status_reason="demo history: not connected to a platform",
            extra={"demo": True})
        session.add(acct)
        session.flush()
        stats.accounts += 1
        stats.account_ids.append(acct.id)
        followers = spec.followers
        for d in range(days):
            day = start_day + timedelta(days=d)
            n = int(spec.posts_per_day) + (1 if rng.random() < spec.posts_per_day % 1 else 0)
            hours = rng.sample(_HOURS, min(n, len(_HOURS)))
            if i == 0 and day.weekday() == PLANTED_SLOT[0]:
                hours = sorted({*hours[:1], PLANTED_SLOT[1]})  # the planted account posts every Tuesday 14:00
            for hour in hours:
                at = datetime.combine(day, time(hour, rng.choice((0, 0, 5, 15, 30))), tzinfo=zone).astimezone(UTC)
                if at > now - timedelta(hours=1):
                    continue
                media = rng.choices(("none", "image", "video"), weights=(0.45, 0.45, 0.1))[0]
                lift = IMAGE_LIFT if media == "image" else 1.0
                if i == 0 and (day.weekday(), hour) == PLANTED_SLOT:
                    lift *= TUESDAY_LIFT
                rate = spec.base_rate * lift * math.exp(rng.gauss(0, 0.25))
                den = int(followers * rng.uniform(0.12, 0.3))
                plans.append(_Planned(acct, spec, at, media, _post_text(rng, media), rate, den))
            # the account's own figures of the day
            followers += int(rng.gauss(followers * 0.0015, followers * 0.001) + 0.5)
            snap_at = datetime.combine(day + timedelta(days=1), time(7, 30), tzinfo=UTC)
            if snap_at <= now:
                _account_day(session, acct, spec, followers, snap_at, rng)
                stats.account_days += 1
    plans.sort(key=lambda p: p.at)
    for n, plan in enumerate(plans):
        post = Post(workspace_id=workspace_id, text=plan.text, status=PostStatus.PUBLISHED, scheduled_at=plan.at,
                    created_at=plan.at - timedelta(days=1))
        session.add(post)
        session.flush()
        if plan.media != "none":
            session.add(PostMedia(post_id=post.id, media_id=(image if plan.media == "image" else video).id))
        target = PostTarget(post_id=post.id, workspace_id=workspace_id, account_id=plan.account.id,
                            platform=plan.spec.platform, status=TargetStatus.PUBLISHED, scheduled_at=plan.at,
                            published_at=plan.at, external_id=f"demo{n}",
                            external_url=f"https://example.invalid/{plan.spec.platform}/demo{n}")
        session.add(target)
        session.flush()
        stats.posts += 1
        for k, hours in enumerate(snapshot_hours):
            fetched = plan.at + timedelta(hours=hours)
            if fetched > now:
                break
            fraction = (k + 1) / len(snapshot_hours) if len(snapshot_hours) > 1 else 1.0
            store_snapshot(session, workspace_id=workspace_id, target_id=target.id,
                           metrics=_metrics(plan, 0.5 + 0.5 * fraction, rng), fetched_at=fetched)
            stats.snapshots += 1
    return stats


def _account_day(session: Session, acct: SocialAccount, spec: DemoAccount, followers: int, at: datetime,
                 rng: random.Random) -> None:
    given = set(definition(spec.platform).account_figures)
    impressions = int(followers * rng.uniform(0.2, 0.45))
    figures = {"followers": followers, "impressions": impressions, "reach": int(impressions * 0.7),
               "profile_views": int(followers * rng.uniform(0.002, 0.01)),
               "engagements": int(impressions * spec.base_rate)}
    snap = AccountSnapshot(workspace_id=acct.workspace_id, account_id=acct.id, fetched_at=at, period="day",
                           period_end=at.replace(hour=7, minute=0),
                           raw={"demo": True}, **{k: (v if k in given else None) for k, v in figures.items()})
    session.add(snap)
    session.flush()
    apply_account_snapshot(session, snap, spec.platform)


def ensure_demo_history(runtime: Any, email: str, **options: Any) -> HistoryStats | None:
    """Give the demo user's workspace its history, once (``make run``).
    ``options`` go to :func:`generate_history`."""
    with runtime.db.transaction() as s:
        wid = s.scalar(select(Membership.workspace_id).join(User, User.id == Membership.user_id)
                       .where(User.email == email).order_by(Membership.id).limit(1))
        if wid is None:
            return None
        has = s.scalar(select(SocialAccount.id).where(SocialAccount.workspace_id == wid,
                                                     SocialAccount.external_id.like("demo-%")).limit(1))
        if has is not None:
            return None
        return generate_history(s, wid, vault=runtime.vault, **options)
