"""A publish whose outcome stayed unknown, when the platform cannot be asked
(no lookup for the account, a refused lookup, lookups that keep failing),
ends ``unconfirmed`` with a link to the account's profile: it may be live,
so it is never reported as plain ``failed`` (a user would post it again)."""
from __future__ import annotations

import pytest

from clientnest.models import PostStatus, TargetStatus
from clientnest.services.post_status import SETTLED
from clientnest.testing.fake_platform import FakeConnector

PROFILE = "https://fake.example/@{}"


@pytest.fixture
def no_lookup(monkeypatch):
    """The fake connector, for these accounts, has no lookup (as LinkedIn for a
    member without r_member_social) but knows the profile page."""
    monkeypatch.setattr(FakeConnector, "can_look_up", lambda self, account: False)
    monkeypatch.setattr(FakeConnector, "profile_url", lambda self, account: PROFILE.format(account.external_id))


def _check_unconfirmed(engine, tid: int, post_id: int) -> dict:
    t = engine.target(tid)
    assert t.status == TargetStatus.UNCONFIRMED
    assert engine.post_row(post_id).status == PostStatus.UNCONFIRMED
    err = t.last_error
    assert err["kind"] == "unconfirmed"
    assert err["message"].startswith("May have been published")
    assert "before posting it again" in err["message"]
    return err


def test_unknown_outcome_without_a_lookup_ends_unconfirmed_with_the_profile(engine, no_lookup):
    acct = engine.account("member-1")
    engine.fake.fail("publish", "error", status=500, created=True)
    made = engine.post([acct], "may be live")
    engine.settle()
    err = _check_unconfirmed(engine, made.target_ids[0], made.post_id)
    assert err["profile_url"] == PROFILE.format("member-1")
    assert PROFILE.format("member-1") in err["message"]
    assert engine.fake.counts["publish"] == 1  # never sent again
    assert engine.fake.counts.get("lookup", 0) == 0  # and not asked: it cannot be
    assert engine.fake.copies(text="may be live") == 1
    assert engine.attempts(made.target_ids[0]) == [("publish", "ambiguous"), ("reconcile", "permanent")]
    assert engine.audit_actions("post_target", made.target_ids[0])[-1] == "target.unconfirmed"


def test_a_refused_lookup_ends_unconfirmed_not_failed(engine):
    acct = engine.account()
    engine.fake.fail("publish", "error", status=500, created=True)
    engine.fake.fail("lookup", "permanent", message="this app may not list the member's posts")
    made = engine.post([acct], "refused lookup")
    engine.settle()
    err = _check_unconfirmed(engine, made.target_ids[0], made.post_id)
    assert "this app may not list the member's posts" in err["message"]
    assert err["profile_url"] is None  # the fake connector has no profile page
    assert "Check the Fake Platform account" in err["message"]
    assert engine.fake.counts["publish"] == 1


def test_lookups_that_keep_failing_end_unconfirmed(engine):
    acct = engine.account()
    engine.fake.fail("publish", "error", status=500, created=True)
    engine.fake.fail("lookup", "unavailable", times=10, retry_after=0)
    made = engine.post([acct], "nobody can tell")
    engine.settle()
    _check_unconfirmed(engine, made.target_ids[0], made.post_id)
    assert engine.fake.counts["publish"] == 1
    assert engine.fake.counts["lookup"] == engine.rt.settings.max_publish_attempts


def test_unconfirmed_beside_published_makes_the_post_unconfirmed(engine, no_lookup):
    ok, unsure = engine.account(), engine.account()
    engine.fake.fail("publish", "error", status=500, created=True, account=engine.account_row(unsure).external_id)
    made = engine.post([ok, unsure], "one sure, one not")
    engine.settle()
    assert engine.target(made.target_ids[0]).status == TargetStatus.PUBLISHED
    _check_unconfirmed(engine, made.target_ids[1], made.post_id)
    assert TargetStatus.UNCONFIRMED in SETTLED
