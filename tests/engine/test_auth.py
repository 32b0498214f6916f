"""Auth errors and token refresh: refresh once under a lock, rotate safely,
hold targets and say "reconnect" when the platform refuses for good."""
from __future__ import annotations

from datetime import timedelta

from clientnest.connector import Credentials
from clientnest.db import utcnow
from clientnest.engine import release_held_targets
from clientnest.engine.refresh import RefreshOutcome, refresh_account
from clientnest.models import AccountStatus, PostStatus, TargetStatus


def _creds(engine, aid) -> Credentials:
    return Credentials.from_json(engine.rt.vault.decrypt(engine.account_row(aid).credentials_encrypted))


def test_auth_error_refreshes_once_and_publishes(engine):
    acct = engine.account()
    before = _creds(engine, acct)
    engine.fake.fail("publish", "auth")
    made = engine.post([acct], "after refresh")
    engine.settle()
    t = engine.target(made.target_ids[0])
    assert t.status == TargetStatus.PUBLISHED
    assert engine.fake.counts["refresh"] == 1
    assert engine.attempts(t.id) == [("publish", "auth"), ("publish", "published")]
    after = _creds(engine, acct)
    # the rotated refresh token was stored (the old one is now refused by the platform)
    assert after.access_token != before.access_token
    assert after.refresh_token != before.refresh_token
    assert engine.account_row(acct).status == AccountStatus.CONNECTED
    assert "account.token_refreshed" in engine.audit_actions("social_account", acct)


def test_refresh_refused_holds_targets_and_says_reconnect(engine):
    acct = engine.account()
    other = engine.account()
    ext = engine.account_row(acct).external_id
    engine.fake.fail("publish", "auth", account=ext)
    engine.fake.fail("refresh", "fail", message="token revoked by user")
    made = engine.post([acct, other], "needs reconnect")
    later = engine.post([acct], "later one", due=utcnow() + timedelta(hours=2))
    engine.settle()
    row = engine.account_row(acct)
    assert row.status == AccountStatus.NEEDS_RECONNECT
    assert "Reconnect the account" in row.status_reason and "token revoked by user" in row.status_reason
    t = engine.target(made.target_ids[0])
    assert t.status == TargetStatus.HELD
    assert "Reconnect the account" in t.last_error["message"]
    # the account's other pending target is held too; the other account's target went out
    assert engine.target(later.target_ids[0]).status == TargetStatus.HELD
    assert engine.target(made.target_ids[1]).status == TargetStatus.PUBLISHED
    assert engine.fake.counts["refresh"] == 1
    assert engine.fake.copies(text="needs reconnect") == 1
    assert engine.post_row(made.post_id).status == PostStatus.PUBLISHING  # one out, one waiting
    assert engine.post_row(later.post_id).status == PostStatus.SCHEDULED
    assert "account.needs_reconnect" in engine.audit_actions("social_account", acct)
    assert "target.held" in engine.audit_actions("post_target", later.target_ids[0])


def test_rejected_again_after_refresh_means_reconnect(engine):
    acct = engine.account()
    engine.fake.fail("publish", "auth", times=2)
    made = engine.post([acct])
    engine.settle()
    assert engine.fake.counts["refresh"] == 1  # refreshed once, never in a loop
    assert engine.fake.counts["publish"] == 2
    assert engine.account_row(acct).status == AccountStatus.NEEDS_RECONNECT
    t = engine.target(made.target_ids[0])
    assert t.status == TargetStatus.HELD and "Reconnect" in t.last_error["message"]
    assert engine.attempts(t.id) == [("publish", "auth"), ("publish", "auth")]


def test_held_targets_go_out_once_the_account_is_reconnected(engine):
    acct = engine.account()
    engine.fake.fail("publish", "auth")
    engine.fake.fail("refresh", "fail")
    made = engine.post([acct], "held then sent")
    engine.settle()
    assert engine.target(made.target_ids[0]).status == TargetStatus.HELD
    # the user reconnects: new credentials, account connected, held targets released
    creds = engine.fake.add_account(engine.account_row(acct).external_id)
    with engine.rt.db.transaction() as s:
        from clientnest.models import SocialAccount
        from clientnest.services.accounts import store_credentials

        row = s.get(SocialAccount, acct)
        store_credentials(s, engine.rt.vault, row, creds)
        row.status, row.status_reason = AccountStatus.CONNECTED, None
        assert release_held_targets(s, acct) == [made.target_ids[0]]
    engine.settle()
    assert engine.target(made.target_ids[0]).status == TargetStatus.PUBLISHED
    assert engine.fake.copies(text="held then sent") == 1


def test_transient_refresh_failure_never_disconnects(engine):
    acct = engine.account()
    engine.fake.fail("publish", "auth")
    engine.fake.fail("refresh", "unavailable", retry_after=0)
    made = engine.post([acct], "refresh later")
    engine.settle()
    assert engine.account_row(acct).status == AccountStatus.CONNECTED
    t = engine.target(made.target_ids[0])
    assert t.status == TargetStatus.PUBLISHED
    # the first refresh hit a 503; the next attempt got a 401-free publish after a real refresh
    assert engine.fake.copies(text="refresh later") == 1


def test_twenty_posts_with_an_expiring_token_refresh_once(engine):
    # the token expires within the lease: every job wants to refresh before publishing
    acct = engine.account(token_ttl=20)
    engine.posts(20, acct)
    engine.settle()
    assert engine.statuses() == {TargetStatus.PUBLISHED: 20}
    assert engine.fake.counts["refresh"] == 1
    assert engine.fake.stats()["duplicated_keys"] == 0
    assert engine.fake.copies() == 20


def test_twenty_posts_with_a_token_expired_server_side_refresh_once(engine):
    # we believe the token is good for an hour; the platform has expired it:
    # twenty jobs get 401 at once, exactly one refreshes, all publish
    acct = engine.account()
    engine.fake.expire_tokens(engine.account_row(acct).external_id)
    engine.posts(20, acct)
    engine.settle()
    assert engine.statuses() == {TargetStatus.PUBLISHED: 20}
    assert engine.fake.counts["refresh"] == 1
    assert engine.fake.copies() == 20
    assert engine.account_row(acct).status == AccountStatus.CONNECTED


def test_refresh_ahead_of_expiry_job(engine):
    acct = engine.account(token_ttl=300)  # inside refresh_ahead_seconds (600)
    stats = engine.dispatcher.tick(force=True)
    assert stats.refreshes == 1
    engine.run_jobs()
    assert engine.fake.counts["refresh"] == 1
    assert engine.account_row(acct).token_expires_at > utcnow() + timedelta(minutes=30)
    # a fresh token is not refreshed again
    assert engine.dispatcher.tick(force=True).refreshes == 0
    engine.run_jobs()
    assert engine.fake.counts["refresh"] == 1


def test_refresh_with_stale_view_does_not_call_the_platform(engine):
    acct = engine.account()
    seen = engine.account_row(acct).credentials_encrypted
    assert refresh_account(engine.rt, acct, seen=seen) == RefreshOutcome.REFRESHED
    # a second worker that saw the same old credentials: someone refreshed already
    assert refresh_account(engine.rt, acct, seen=seen) == RefreshOutcome.CURRENT
    assert engine.fake.counts["refresh"] == 1
