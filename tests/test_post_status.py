"""derive_post_status: every combination of target statuses, and refresh_post_status."""
from __future__ import annotations

import itertools
from typing import Any

import pytest
from sqlalchemy import select

from clientnest.models import (
    AuditEvent,
    Post,
    PostStatus,
    PostTarget,
    SocialAccount,
    TargetStatus,
    User,
    Workspace,
)
from clientnest.services.post_status import derive_post_status, refresh_post_status

T = TargetStatus
P = PostStatus

IN_FLIGHT = {T.QUEUED, T.PUBLISHING, T.UNKNOWN}
WAITING = {T.SCHEDULED, T.HELD}
DONE = {T.PUBLISHED, T.FAILED, T.UNCONFIRMED}


def _expected(statuses: frozenset[TargetStatus]) -> PostStatus:
    """The contract, written independently of the implementation's order."""
    if not statuses or statuses <= {T.DRAFT, T.CANCELED} and T.DRAFT in statuses:
        return P.DRAFT
    if statuses & IN_FLIGHT:
        return P.PUBLISHING
    pending = statuses & (WAITING | {T.DRAFT})
    if pending and statuses & DONE:
        return P.PUBLISHING
    if statuses & WAITING:
        return P.SCHEDULED
    # only settled ones remain
    if statuses == {T.PUBLISHED}:
        return P.PUBLISHED
    if statuses == {T.CANCELED}:
        return P.CANCELED
    if T.UNCONFIRMED in statuses:  # may be live beside anything else: the user must look
        return P.UNCONFIRMED
    if statuses == {T.FAILED}:
        return P.FAILED
    if T.PUBLISHED in statuses:
        return P.PARTIALLY_PUBLISHED
    return P.FAILED


ALL_SETS = [
    frozenset(c)
    for n in range(0, len(TargetStatus) + 1)
    for c in itertools.combinations(list(TargetStatus), n)
]


def test_every_combination_of_statuses_matches_the_contract() -> None:
    assert len(ALL_SETS) == 2 ** len(TargetStatus)  # 512 sets, each checked
    for statuses in ALL_SETS:
        # multiplicity and order must not matter
        listed = sorted(statuses) * 2
        assert derive_post_status(listed) == _expected(statuses), sorted(statuses)
        assert derive_post_status(reversed(listed)) == _expected(statuses)


@pytest.mark.parametrize("statuses, expected", [
    ([], P.DRAFT),
    (["draft"], P.DRAFT),
    (["draft", "draft"], P.DRAFT),
    (["scheduled"], P.SCHEDULED),
    (["held"], P.SCHEDULED),
    (["draft", "scheduled"], P.SCHEDULED),
    (["scheduled", "held"], P.SCHEDULED),
    (["queued"], P.PUBLISHING),
    (["publishing"], P.PUBLISHING),
    (["unknown"], P.PUBLISHING),
    (["scheduled", "queued"], P.PUBLISHING),
    # some already out, the rest still in flight or waiting: not settled yet
    (["published", "publishing"], P.PUBLISHING),
    (["published", "unknown"], P.PUBLISHING),
    (["published", "scheduled"], P.PUBLISHING),
    (["published", "held"], P.PUBLISHING),
    (["failed", "scheduled"], P.PUBLISHING),
    (["published"], P.PUBLISHED),
    (["published", "published", "published"], P.PUBLISHED),
    (["canceled"], P.CANCELED),
    (["canceled", "canceled"], P.CANCELED),
    (["failed"], P.FAILED),
    (["failed", "failed"], P.FAILED),
    (["failed", "canceled"], P.FAILED),
    (["published", "failed"], P.PARTIALLY_PUBLISHED),
    (["published", "canceled"], P.PARTIALLY_PUBLISHED),
    (["published", "failed", "canceled"], P.PARTIALLY_PUBLISHED),
    (["scheduled", "canceled"], P.SCHEDULED),
    (["draft", "canceled"], P.DRAFT),
])
def test_named_cases(statuses: list[str], expected: PostStatus) -> None:
    assert derive_post_status(statuses) == expected


def test_accepts_enum_members_and_plain_strings_alike() -> None:
    assert derive_post_status([T.PUBLISHED, "failed"]) == P.PARTIALLY_PUBLISHED
    assert derive_post_status(iter(["scheduled"])) == P.SCHEDULED  # any iterable, once


def test_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError, match="bogus"):
        derive_post_status(["published", "bogus"])


# -- refresh_post_status against the database ---------------------------------------

def _post_with_targets(runtime: Any, statuses: list[str]) -> int:
    with runtime.db.transaction() as s:
        user = User(email="status@example.com", password_hash="x")
        ws = Workspace(name="W")
        s.add_all([user, ws])
        s.flush()
        post = Post(workspace_id=ws.id, created_by=user.id, text="hi", status=P.DRAFT)
        s.add(post)
        s.flush()
        for i, st in enumerate(statuses):
            acc = SocialAccount(workspace_id=ws.id, platform="facebook", external_id=f"p{i}",
                                credentials_encrypted="x")
            s.add(acc)
            s.flush()
            s.add(PostTarget(post_id=post.id, workspace_id=ws.id, account_id=acc.id,
                             platform="facebook", status=st))
        return post.id


def test_refresh_reads_targets_from_the_database_and_audits_changes(runtime: Any) -> None:
    pid = _post_with_targets(runtime, ["scheduled", "scheduled"])
    with runtime.db.transaction() as s:
        post = s.get(Post, pid)
        assert refresh_post_status(s, post) == P.SCHEDULED
        assert post.status == P.SCHEDULED
    with runtime.db.transaction() as s:
        # a bulk UPDATE (as the dispatcher does) is seen, not a stale relationship
        post = s.get(Post, pid)
        _ = post.targets  # load the relationship first: it must not be trusted
        first = s.scalars(select(PostTarget).where(PostTarget.post_id == pid).order_by(PostTarget.id)).first()
        s.execute(PostTarget.__table__.update().where(PostTarget.id == first.id).values(status="published"))
        assert refresh_post_status(s, post, actor="worker") == P.PUBLISHING
    with runtime.db.transaction() as s:
        post = s.get(Post, pid)
        for t in post.targets:
            t.status = TargetStatus.FAILED if t.id != first.id else t.status  # pending ORM change, flushed by refresh
        assert refresh_post_status(s, post, actor="worker") == P.PARTIALLY_PUBLISHED
        # no change, no event
        assert refresh_post_status(s, post, actor="worker") == P.PARTIALLY_PUBLISHED
    with runtime.db.session() as s:
        events = s.scalars(
            select(AuditEvent).where(AuditEvent.object_type == "post", AuditEvent.object_id == str(pid))
            .order_by(AuditEvent.id)
        ).all()
        assert [(e.action, e.data["from"], e.data["to"], e.actor) for e in events] == [
            ("post.status_changed", "draft", "scheduled", "system"),
            ("post.status_changed", "scheduled", "publishing", "worker"),
            ("post.status_changed", "publishing", "partially_published", "worker"),
        ]
        assert s.get(Post, pid).status == P.PARTIALLY_PUBLISHED
