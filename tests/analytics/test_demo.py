"""The demo history is deterministic and seeded once."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from clientnest.analytics.demo import DEMO_ACCOUNTS, IMAGE_LIFT, ensure_demo_history, generate_history
from clientnest.analytics.tables import PostRollup
from clientnest.models import SocialAccount

NOW = datetime(2026, 6, 10, 12, tzinfo=UTC)


def _history(rt: Any, wid: int) -> list[tuple[Any, ...]]:
    with rt.db.session() as s:
        rows = s.execute(select(PostRollup.platform, PostRollup.published_at, PostRollup.media_kind,
                                PostRollup.likes, PostRollup.impressions, PostRollup.reach)
                         .where(PostRollup.workspace_id == wid).order_by(PostRollup.published_at,
                                                                         PostRollup.platform)).all()
    return [tuple(r) for r in rows]


def test_same_seed_same_history(runtime: Any, seed: Any) -> None:
    a, b = seed.workspace(), seed.workspace()
    for wid in (a, b):
        with runtime.db.transaction() as s:
            generate_history(s, wid, days=14, now=NOW, snapshot_hours=(168,), vault=runtime.vault)
    first, second = _history(runtime, a), _history(runtime, b)
    assert first == second and len(first) > 20  # posts of the last 7 days have no 168 h snapshot yet
    assert {p for p, *_ in first} == {d.platform for d in DEMO_ACCOUNTS}


def test_images_are_planted_to_do_better(runtime: Any, seed: Any) -> None:
    wid = seed.workspace()
    with runtime.db.transaction() as s:
        generate_history(s, wid, days=60, now=NOW, snapshot_hours=(168,), accounts=DEMO_ACCOUNTS[1:2],
                         vault=runtime.vault)
    with runtime.db.session() as s:
        rows = s.execute(select(PostRollup.media_kind, PostRollup.engagement_rate)
                         .where(PostRollup.workspace_id == wid)).all()
    image = sorted(r for k, r in rows if k == "image")
    text = sorted(r for k, r in rows if k == "none")
    assert image[len(image) // 2] > text[len(text) // 2] * (IMAGE_LIFT - 0.25)


def test_the_demo_workspace_is_seeded_once(runtime: Any, client: Any, register: Any) -> None:
    member = register()
    assert ensure_demo_history(runtime, member.email, days=30, snapshot_hours=(168,)).posts > 50
    assert ensure_demo_history(runtime, member.email) is None  # already there
    with runtime.db.session() as s:
        accounts = s.scalars(select(SocialAccount).where(SocialAccount.workspace_id == member.workspace_id)).all()
    assert len(accounts) == len(DEMO_ACCOUNTS)
    assert all(a.status == "disabled" and "demo history" in (a.status_reason or "") for a in accounts)
    r = client.get(f"/api/v1/workspaces/{member.workspace_id}/analytics/summary", headers=member.headers)
    assert r.get_json()["posts"]["posts"]["value"] > 30  # a newcomer's first look has real numbers
