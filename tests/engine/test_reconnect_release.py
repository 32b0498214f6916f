"""Reconnecting an account releases the targets held while it needed
reconnecting: each is due again at its own time, or now if that has passed."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from clientnest import Account, Credentials
from clientnest.db import utcnow
from clientnest.models import (
    AccountStatus,
    AuditEvent,
    Post,
    PostTarget,
    SocialAccount,
    TargetStatus,
    Workspace,
)
from clientnest.services.accounts import upsert_account


def test_reconnect_releases_held_targets_at_their_own_time(runtime: Any) -> None:
    now = utcnow()
    past, future = now - timedelta(minutes=10), now + timedelta(days=3)
    with runtime.db.transaction() as s:
        ws = Workspace(name="W")
        s.add(ws)
        s.flush()
        acc = SocialAccount(workspace_id=ws.id, platform="twitter", external_id="42",
                            credentials_encrypted=runtime.vault.encrypt({"access_token": "old"}),
                            status=AccountStatus.NEEDS_RECONNECT)
        s.add(acc)
        s.flush()
        ids = []
        for when in (past, future):
            post = Post(workspace_id=ws.id, text="hi", status="scheduled", scheduled_at=when)
            s.add(post)
            s.flush()
            t = PostTarget(post_id=post.id, workspace_id=ws.id, account_id=acc.id, platform="twitter",
                           status=TargetStatus.HELD, scheduled_at=when, next_attempt_at=when)
            s.add(t)
            s.flush()
            ids.append(t.id)
        wid, aid = ws.id, acc.id

    with runtime.db.transaction() as s:
        row, created = upsert_account(
            s, runtime.vault, workspace_id=wid, platform="twitter",
            account=Account("42", Credentials(access_token="new")), user_id=None,
        )
        assert not created and row.status == AccountStatus.CONNECTED

    with runtime.db.session() as s:
        overdue, later = (s.get(PostTarget, i) for i in ids)
        assert overdue.status == later.status == TargetStatus.SCHEDULED
        assert overdue.next_attempt_at >= now  # due at once
        assert later.next_attempt_at == future  # not before its own time
        actions = [e.data.get("reason") for e in s.query(AuditEvent).filter(AuditEvent.object_type == "post_target")]
        assert actions.count("account reconnected") == 2
        assert s.get(SocialAccount, aid).status == AccountStatus.CONNECTED
