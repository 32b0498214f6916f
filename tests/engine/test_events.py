"""Live events: the engine's committed status changes reach a subscriber of
the workspace's bus (in-process, or Redis pub/sub when
CLIENTNEST_TEST_REDIS_URL is set); rolled-back changes never do."""
from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import select

from clientnest import events
from clientnest.engine.state import refresh_post, target_event_row
from clientnest.models import PostTarget, TargetStatus


def _collect(sub: events.Subscription, until: Any, timeout: float = 20.0) -> list[events.Message]:
    got: list[events.Message] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not until(got):
        got += sub.get(timeout=0.2)
    return got


def _target_statuses(msgs: list[events.Message], tid: int) -> list[str]:
    return [m.data["status"] for m in msgs if m.event == "target" and m.data["target_id"] == tid]


def test_a_publish_is_announced_target_then_post(engine: Any) -> None:
    acct = engine.account()
    bus = events.bus_for(engine.rt)
    sub = bus.subscribe(engine.workspace_id)
    other = bus.subscribe(engine.workspace_id + 1000)  # another workspace hears nothing
    try:
        made = engine.post([acct], "live one")
        engine.settle()
        tid = made.target_ids[0]
        msgs = _collect(sub, lambda got: any(m.event == "post" and m.data["status"] == "published" for m in got))
        statuses = _target_statuses(msgs, tid)
        assert statuses[-1] == "published" and "queued" in statuses, statuses
        done = [m for m in msgs if m.event == "target" and m.data["status"] == "published"][0]
        row = engine.target(tid)
        assert done.data["post_id"] == made.post_id and done.data["account_id"] == acct
        assert done.data["platform"] == "fake" and done.data["from"] == "publishing"
        assert done.data["url"] == row.external_url and done.data["published_at"] == row.published_at.isoformat()
        assert "error" not in done.data
        post = [m for m in msgs if m.event == "post" and m.data["status"] == "published"][0]
        assert post.data == {"post_id": made.post_id, "status": "published", "from": "publishing"}
        assert msgs.index(done) < msgs.index(post)
        ids = [m.id for m in msgs]
        assert len(set(ids)) == len(ids)
        assert other.get(timeout=0.2) == []
    finally:
        sub.close()
        other.close()


def test_a_held_target_says_why(engine: Any) -> None:
    acct = engine.account()
    ext = engine.account_row(acct).external_id
    engine.fake.fail("publish", "auth", account=ext)
    engine.fake.fail("refresh", "fail", message="token revoked by user")
    sub = events.bus_for(engine.rt).subscribe(engine.workspace_id)
    try:
        made = engine.post([acct], "needs reconnect")
        engine.settle()
        tid = made.target_ids[0]
        msgs = _collect(sub, lambda got: "held" in _target_statuses(got, tid))
        held = [m for m in msgs if m.event == "target" and m.data["status"] == "held"][0]
        assert "Reconnect the account" in held.data["error"]["message"]
    finally:
        sub.close()


def test_a_rolled_back_change_is_never_announced(engine: Any) -> None:
    acct = engine.account()
    made = engine.post([acct], "not sent")
    tid = made.target_ids[0]
    sub = events.bus_for(engine.rt).subscribe(engine.workspace_id)
    try:
        for orm in (False, True):
            ctx = engine.rt.db.Session() if orm else engine.rt.db.engine.connect()
            with ctx as s:
                s.execute(PostTarget.__table__.update().where(PostTarget.__table__.c.id == tid)
                          .values(status=TargetStatus.FAILED))
                refresh_post(s, made.post_id, events=[target_event_row(
                    target_id=tid, workspace_id=engine.workspace_id, post_id=made.post_id,
                    frm=TargetStatus.SCHEDULED, to=TargetStatus.FAILED)])
                s.rollback()
        assert sub.get(timeout=0.5) == []
        # the same change committed is announced
        with engine.rt.db.engine.begin() as conn:
            conn.execute(PostTarget.__table__.update().where(PostTarget.__table__.c.id == tid)
                         .values(status=TargetStatus.FAILED, last_error={"kind": "permanent", "message": "no"}))
            refresh_post(conn, made.post_id, events=[target_event_row(
                target_id=tid, workspace_id=engine.workspace_id, post_id=made.post_id,
                frm=TargetStatus.SCHEDULED, to=TargetStatus.FAILED)])
        msgs = _collect(sub, lambda got: any(m.event == "post" for m in got))
        assert [(m.event, m.data["status"]) for m in msgs] == [("target", "failed"), ("post", "failed")]
        assert msgs[0].data["error"] == {"kind": "permanent", "message": "no"}
    finally:
        sub.close()


def test_last_event_id_replays_what_was_missed(engine: Any) -> None:
    acct = engine.account()
    bus = events.bus_for(engine.rt)
    first = bus.subscribe(engine.workspace_id)
    try:
        engine.post([acct], "one")
        engine.settle()
        seen = _collect(first, lambda got: any(m.event == "post" and m.data["status"] == "published" for m in got))
    finally:
        first.close()
    engine.post([acct], "two")
    engine.settle()
    again = bus.subscribe(engine.workspace_id, last_id=seen[-1].id)
    try:
        missed = _collect(again, lambda got: any(m.event == "post" and m.data["status"] == "published" for m in got))
        assert missed and all(m.id not in {s.id for s in seen} for m in missed)
        assert [m.data["status"] for m in missed if m.event == "post"][-1] == "published"
    finally:
        again.close()
    with engine.rt.db.session() as s:
        assert s.scalar(select(PostTarget.status).order_by(PostTarget.id.desc())) == "published"


def test_a_publish_reaches_a_stream_of_the_events_server(engine: Any) -> None:
    """The whole path: the engine publishes (an RQ worker on Redis when
    CLIENTNEST_TEST_REDIS_URL is set), the events server streams it."""
    import httpx

    from clientnest.api.events.server import BackgroundServer
    from clientnest.models import Membership, Role
    from clientnest.services import identity

    with engine.rt.db.transaction() as s:
        registered = identity.register(s, email="live@example.com", password="correct horse battery",
                                       workspace_name="Own")
        assert registered is not None
        user = registered[0]
        issued = identity.issue_token(s, user, label="events")
        s.add(Membership(workspace_id=engine.workspace_id, user_id=user.id, role=Role.VIEWER))
    acct = engine.account()
    with BackgroundServer(engine.rt) as srv, httpx.stream(
            "GET", f"{srv.url}/api/v1/workspaces/{engine.workspace_id}/events",
            headers={"Authorization": f"Bearer {issued.secret}"}, timeout=30) as r:
        assert r.status_code == 200
        lines = r.iter_lines()
        assert next(lines).startswith("retry:")
        made = engine.post([acct], "streamed")
        engine.settle()
        seen: list[tuple[str, dict[str, Any]]] = []
        kind = None
        for line in lines:
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: ") and kind:
                seen.append((kind, json.loads(line.removeprefix("data: "))))
                if kind == "post" and seen[-1][1]["status"] == "published":
                    break
        published = [d for k, d in seen if k == "target" and d["status"] == "published"]
        assert published and published[0]["target_id"] == made.target_ids[0]
        assert published[0]["url"] == engine.target(made.target_ids[0]).external_url
