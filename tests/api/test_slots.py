"""Posting slots: wall-clock times in the workspace zone, across DST, and
GET/PUT .../accounts/{aid}/slots."""
from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from clientnest.connector import Credentials
from clientnest.crypto import hash_token, new_api_token
from clientnest.models import (
    ApiToken,
    AuditEvent,
    Membership,
    Post,
    PostingSlot,
    PostTarget,
    SocialAccount,
    User,
    Workspace,
)
from clientnest.services.accounts import store_credentials
from clientnest.services.slots import Slot, local_to_utc, next_free_slot, slot_instants

BERLIN = ZoneInfo("Europe/Berlin")


def Z(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def first(slots: list[Slot], after: str, n: int = 1, tz: ZoneInfo = BERLIN) -> list[datetime]:
    it = slot_instants(slots, tz, Z(after))
    return [next(it) for _ in range(n)]


# -- pure: slot instants ------------------------------------------------------------

def test_monday_nine_keeps_its_wall_clock_time_across_spring_forward() -> None:
    monday_9 = [Slot(0, 9 * 60)]
    got = first(monday_9, "2026-03-20T00:00:00+00:00", 2)
    assert got == [Z("2026-03-23T08:00:00+00:00"), Z("2026-03-30T07:00:00+00:00")]
    assert [g.astimezone(BERLIN).strftime("%a %H:%M") for g in got] == ["Mon 09:00", "Mon 09:00"]


def test_monday_nine_keeps_its_wall_clock_time_across_fall_back() -> None:
    got = first([Slot(0, 9 * 60)], "2026-10-18T00:00:00+00:00", 2)
    assert got == [Z("2026-10-19T07:00:00+00:00"), Z("2026-10-26T08:00:00+00:00")]


def test_nonexistent_time_in_the_spring_gap_moves_forward_by_the_gap() -> None:
    # 2026-03-29 02:30 does not exist in Berlin (02:00 -> 03:00): it becomes 03:30 CEST
    sunday_0230 = [Slot(6, 2 * 60 + 30)]
    got = first(sunday_0230, "2026-03-21T00:00:00+00:00", 3)
    assert got == [
        Z("2026-03-22T01:30:00+00:00"),  # 02:30 CET the week before
        Z("2026-03-29T01:30:00+00:00"),  # the gap: 03:30 CEST
        Z("2026-04-05T00:30:00+00:00"),  # 02:30 CEST the week after
    ]
    assert got[1].astimezone(BERLIN).strftime("%H:%M%z") == "03:30+0200"
    # the same answer every time, and from the helper directly
    assert local_to_utc(date(2026, 3, 29), 150, BERLIN) == got[1]
    # 02:00 itself is in the gap too: it becomes 03:00
    assert local_to_utc(date(2026, 3, 29), 120, BERLIN) == Z("2026-03-29T01:00:00+00:00")


def test_gap_times_are_yielded_in_time_order_and_once() -> None:
    # 02:30 (gap -> 01:30Z) comes after 03:00 (01:00Z); 03:30 meets 02:30 at 01:30Z
    slots = [Slot(6, 150), Slot(6, 180), Slot(6, 210)]
    got = first(slots, "2026-03-29T00:00:00+00:00", 3)
    assert got == [
        Z("2026-03-29T01:00:00+00:00"),
        Z("2026-03-29T01:30:00+00:00"),
        Z("2026-04-05T00:30:00+00:00"),  # next Sunday's 02:30 CEST
    ]


def test_ambiguous_time_in_the_autumn_fold_is_the_first_occurrence() -> None:
    # 2026-10-25 02:30 happens twice in Berlin: 00:30Z (CEST) and 01:30Z (CET)
    got = first([Slot(6, 150)], "2026-10-24T00:00:00+00:00", 2)
    assert got == [Z("2026-10-25T00:30:00+00:00"), Z("2026-11-01T01:30:00+00:00")]
    assert got[0].astimezone(BERLIN).strftime("%H:%M%z") == "02:30+0200"


def test_instants_are_strictly_after_and_ordered_across_the_week() -> None:
    slots = [Slot(4, 17 * 60 + 30), Slot(0, 9 * 60), Slot(2, 12 * 60)]
    # exactly at Monday 09:00 Berlin (08:00Z): that one is not "after"
    got = first(slots, "2026-01-05T08:00:00+00:00", 4)
    assert got == [
        Z("2026-01-07T11:00:00+00:00"),
        Z("2026-01-09T16:30:00+00:00"),
        Z("2026-01-12T08:00:00+00:00"),
        Z("2026-01-14T11:00:00+00:00"),
    ]


def test_zones_far_from_utc() -> None:
    # Pago Pago is UTC-11: Monday 20:00 local is Tuesday 07:00Z
    got = first([Slot(0, 20 * 60)], "2026-01-06T06:59:00+00:00", 1, tz=ZoneInfo("Pacific/Pago_Pago"))
    assert got == [Z("2026-01-06T07:00:00+00:00")]
    # Kiritimati is UTC+14: Monday 01:00 local is Sunday 11:00Z
    got = first([Slot(0, 60)], "2026-01-04T00:00:00+00:00", 1, tz=ZoneInfo("Pacific/Kiritimati"))
    assert got == [Z("2026-01-04T11:00:00+00:00")]


def test_slot_parse_and_bounds() -> None:
    assert Slot.parse(0, "09:30") == Slot(0, 570)
    assert Slot(0, 570).time == "09:30"
    for bad in ("9:30", "24:00", "12:60", "1230", "ab:cd"):
        with pytest.raises(ValueError):
            Slot.parse(0, bad)
    with pytest.raises(ValueError):
        Slot(7, 0)


# -- next_free_slot against the database ---------------------------------------------

def _account(s: Any, runtime: Any, ws_id: int, platform: str = "facebook") -> SocialAccount:
    acc = SocialAccount(workspace_id=ws_id, platform=platform, external_id=uuid.uuid4().hex,
                        display_name="Page", status="connected")
    store_credentials(s, runtime.vault, acc, Credentials(access_token="tok-" + uuid.uuid4().hex))
    s.flush()
    return acc


def test_next_free_slot_skips_taken_slots_and_its_own_post(runtime: Any) -> None:
    with runtime.db.transaction() as s:
        ws = Workspace(name="W", timezone="Europe/Berlin")
        s.add(ws)
        s.flush()
        acc = _account(s, runtime, ws.id)
        other = _account(s, runtime, ws.id)
        for w in range(7):
            s.add(PostingSlot(workspace_id=ws.id, account_id=acc.id, weekday=w, minute_of_day=9 * 60))
        post = Post(workspace_id=ws.id, text="x")
        s.add(post)
        s.flush()
        after = Z("2026-03-27T12:00:00+00:00")  # Friday
        assert next_free_slot(s, acc, BERLIN, after) == Z("2026-03-28T08:00:00+00:00")
        # Saturday's slot is taken by a scheduled target; Sunday's by a queued one
        s.add(PostTarget(post_id=post.id, workspace_id=ws.id, account_id=acc.id, platform="facebook",
                         status="scheduled", scheduled_at=Z("2026-03-28T08:00:00+00:00")))
        post2 = Post(workspace_id=ws.id, text="y")
        s.add(post2)
        s.flush()
        s.add(PostTarget(post_id=post2.id, workspace_id=ws.id, account_id=acc.id, platform="facebook",
                         status="queued", scheduled_at=Z("2026-03-29T07:00:00+00:00")))
        # a published or canceled target does not hold its slot; another account's neither
        post3 = Post(workspace_id=ws.id, text="z")
        s.add(post3)
        s.flush()
        s.add(PostTarget(post_id=post3.id, workspace_id=ws.id, account_id=acc.id, platform="facebook",
                         status="canceled", scheduled_at=Z("2026-03-30T07:00:00+00:00")))
        s.add(PostTarget(post_id=post3.id, workspace_id=ws.id, account_id=other.id, platform="facebook",
                         status="scheduled", scheduled_at=Z("2026-03-30T07:00:00+00:00")))
        s.flush()
        # Monday after the switch to summer time: 09:00 CEST = 07:00Z
        assert next_free_slot(s, acc, BERLIN, after) == Z("2026-03-30T07:00:00+00:00")
        # extra instants passed in count as taken; the zone may be given by name
        assert next_free_slot(s, acc, "Europe/Berlin", after,
                              taken=[Z("2026-03-30T07:00:00+00:00")]) == Z("2026-03-31T07:00:00+00:00")
        # a post being rescheduled does not compete with itself
        assert next_free_slot(s, acc, BERLIN, after, exclude_post_id=post.id) == Z("2026-03-28T08:00:00+00:00")
        # no slots at all
        assert next_free_slot(s, other, BERLIN, after) is None


# -- the API ------------------------------------------------------------------------

def _add_member(runtime: Any, workspace_id: int, role: str) -> dict[str, str]:
    token = new_api_token()
    with runtime.db.transaction() as s:
        u = User(email=f"{role}-{uuid.uuid4().hex[:8]}@example.com", password_hash="!")
        s.add(u)
        s.flush()
        s.add(Membership(workspace_id=workspace_id, user_id=u.id, role=role))
        s.add(ApiToken(user_id=u.id, token_hash=hash_token(token), prefix=token[:8]))
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def owner(register: Any) -> Any:
    return register(workspace_name="Slots")


@pytest.fixture
def account_id(runtime: Any, owner: Any) -> int:
    with runtime.db.transaction() as s:
        s.get(Workspace, owner.workspace_id).timezone = "Europe/Berlin"
        return _account(s, runtime, owner.workspace_id).id


def _url(wid: int, aid: int) -> str:
    return f"/api/v1/workspaces/{wid}/accounts/{aid}/slots"


def test_put_and_get_slots(client: Any, runtime: Any, owner: Any, account_id: int) -> None:
    url = _url(owner.workspace_id, account_id)
    r = client.get(url, headers=owner.headers)
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"account_id": account_id, "timezone": "Europe/Berlin", "slots": [], "next_free_slot": None}

    body = {"slots": [{"weekday": 4, "time": "17:30"}, {"weekday": 0, "time": "09:00"}]}
    r = client.put(url, json=body, headers=owner.headers)
    assert r.status_code == 200, r.get_json()
    got = r.get_json()
    assert got["slots"] == [{"weekday": 0, "time": "09:00"}, {"weekday": 4, "time": "17:30"}]
    nxt = datetime.fromisoformat(got["next_free_slot"])
    assert nxt.utcoffset() is not None and nxt > datetime.now(UTC)
    local = nxt.astimezone(BERLIN)
    assert (local.weekday(), local.strftime("%H:%M")) in {(0, "09:00"), (4, "17:30")}
    assert nxt - datetime.now(UTC) <= timedelta(days=7)
    assert client.get(url, headers=owner.headers).get_json()["slots"] == got["slots"]

    # PUT replaces the whole schedule
    r = client.put(url, json={"slots": [{"weekday": 6, "time": "00:00"}]}, headers=owner.headers)
    assert r.get_json()["slots"] == [{"weekday": 6, "time": "00:00"}]
    with runtime.db.session() as s:
        assert s.scalars(select(PostingSlot.minute_of_day).where(PostingSlot.account_id == account_id)).all() == [0]
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "account.slots_updated")
                       .order_by(AuditEvent.id)).all()
        assert len(ev) == 2 and ev[-1].object_id == str(account_id) and ev[-1].actor_user_id == owner.user_id
    # and clears it
    assert client.put(url, json={"slots": []}, headers=owner.headers).get_json()["slots"] == []


@pytest.mark.parametrize("body, field", [
    ({"slots": [{"weekday": 7, "time": "09:00"}]}, "slots.0.weekday"),
    ({"slots": [{"weekday": -1, "time": "09:00"}]}, "slots.0.weekday"),
    ({"slots": [{"weekday": 0, "time": "24:00"}]}, "slots.0.time"),
    ({"slots": [{"weekday": 0, "time": "9:00"}]}, "slots.0.time"),
    ({"slots": [{"weekday": 0}]}, "slots.0.time"),
    ({"slots": [{"weekday": 0, "time": "09:00"}, {"weekday": 0, "time": "09:00"}]}, "slots.1"),
    ({}, "slots"),
])
def test_put_slots_validation(client: Any, owner: Any, account_id: int, body: dict[str, Any], field: str) -> None:
    r = client.put(_url(owner.workspace_id, account_id), json=body, headers=owner.headers)
    assert r.status_code == 422, r.get_json()
    assert field in r.get_json()["message"]


def test_slots_auth_roles_and_isolation(client: Any, runtime: Any, register: Any, owner: Any, account_id: int) -> None:
    url = _url(owner.workspace_id, account_id)
    body = {"slots": [{"weekday": 0, "time": "09:00"}]}
    # no token
    assert client.get(url).status_code == 401
    assert client.put(url, json=body).status_code == 401
    # a viewer reads but cannot write; an editor writes
    viewer = _add_member(runtime, owner.workspace_id, "viewer")
    assert client.get(url, headers=viewer).status_code == 200
    r = client.put(url, json=body, headers=viewer)
    assert r.status_code == 403 and "editor" in r.get_json()["message"]
    editor = _add_member(runtime, owner.workspace_id, "editor")
    assert client.put(url, json=body, headers=editor).status_code == 200
    # a non-member gets 404 on both
    stranger = register(workspace_name="Elsewhere")
    assert client.get(url, headers=stranger.headers).status_code == 404
    assert client.put(url, json=body, headers=stranger.headers).status_code == 404
    # another workspace's account through one's own workspace: 404, untouched
    own_url = _url(stranger.workspace_id, account_id)
    assert client.get(own_url, headers=stranger.headers).status_code == 404
    r = client.put(own_url, json={"slots": []}, headers=stranger.headers)
    assert r.status_code == 404
    assert client.get(url, headers=owner.headers).get_json()["slots"] == [{"weekday": 0, "time": "09:00"}]
