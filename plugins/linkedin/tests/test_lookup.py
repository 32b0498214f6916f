"""Reconciliation: ``find_published`` must be exact (a wrong "no" duplicates a
post, a wrong "yes" loses one). Against the sandbox, over HTTP."""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from clientnest import Account, MediaItem, PostContent
from clientnest.errors import AmbiguousError, PermanentError
from clientnest_linkedin import LinkedInConnector
from clientnest_linkedin.connector import DEFAULT_SCOPES
from clientnest_linkedin.sandbox import LinkedInSandbox

ORG = "urn:li:organization:2414183"


@pytest.fixture
def impatient(make_connector: Callable[..., LinkedInConnector]) -> LinkedInConnector:
    return make_connector(timeout=0.3)


@pytest.mark.parametrize("kind", ["slow", "disconnect"])
def test_a_post_sent_behind_a_timeout_or_reset_is_found(
    impatient: LinkedInConnector, org: Account, sandbox: LinkedInSandbox, kind: str
) -> None:
    since = datetime.now(UTC)
    content = PostContent(text=f"Ambiguous ({kind}) #launch https://ex.com/a_b")
    sandbox.faults.arm(kind=kind, delay=0.8 if kind == "slow" else 0, method="POST", path="/rest/posts")
    with pytest.raises(AmbiguousError):
        impatient.publish(org, content)
    [urn] = sandbox.state_posts()  # it did go out
    found = impatient.find_published(org, content, since)
    assert found is not None and found.external_id == urn
    assert found.url and found.url.endswith(f"/feed/update/{urn}/")
    assert abs(found.published_at - datetime.now(UTC)) < timedelta(seconds=30)
    # every lookup request asks for newest-created first
    [lookup] = sandbox.requests_to("GET", "/rest/posts")
    assert "sortBy=CREATED" in lookup["query"] and f"author={ORG.replace(':', '%3A')}" in lookup["query"]


def test_nothing_found_when_nothing_went_out(connector: LinkedInConnector, org: Account,
                                             sandbox: LinkedInSandbox) -> None:
    since = datetime.now(UTC)
    sandbox.faults.arm(kind="server_error", status=504, method="POST", path="/rest/posts")
    with pytest.raises(AmbiguousError):
        connector.publish(org, PostContent(text="never made it"))
    connector.publish(org, PostContent(text="another post"))
    assert connector.find_published(org, PostContent(text="never made it"), since) is None


def test_older_posts_do_not_count(make_connector: Callable[..., LinkedInConnector],
                                  oauth_connect: Callable[..., list[Account]]) -> None:
    connector = make_connector(clock_skew_seconds=0)
    org = next(a for a in oauth_connect(connector) if a.external_id == ORG)
    connector.publish(org, PostContent(text="old news"))
    time.sleep(0.01)
    since = datetime.now(UTC)
    assert connector.find_published(org, PostContent(text="old news"), since) is None
    # within the default clock-skew tolerance it would count
    tolerant = make_connector()
    assert tolerant.find_published(org, PostContent(text="old news"), since) is not None


def test_text_alone_is_not_enough_the_content_kind_must_match(
    connector: LinkedInConnector, org: Account, image: Callable[..., MediaItem]
) -> None:
    since = datetime.now(UTC)
    with_image = connector.publish(org, PostContent(text="same text", media=[image()]))
    assert connector.find_published(org, PostContent(text="same text"), since) is None
    assert connector.find_published(org, PostContent(text="same text", link="https://ex.com"), since) is None
    found = connector.find_published(org, PostContent(text="same text", media=[image()]), since)
    assert found is not None and found.external_id == with_image.external_id
    link_post = connector.publish(org, PostContent(text="same text", link="https://ex.com/"))
    found = connector.find_published(org, PostContent(text="same text", link="https://ex.com"), since)
    assert found is not None and found.external_id == link_post.external_id


def test_the_earliest_match_after_since_wins(connector: LinkedInConnector, org: Account,
                                             sandbox: LinkedInSandbox) -> None:
    sandbox.duplicate_window_seconds = 0  # LinkedIn lets identical posts through after a while
    since = datetime.now(UTC)
    first = connector.publish(org, PostContent(text="twice"))
    connector.publish(org, PostContent(text="twice"))
    found = connector.find_published(org, PostContent(text="twice"), since)
    assert found is not None and found.external_id == first.external_id


def test_pages_until_found(connector: LinkedInConnector, org: Account, sandbox: LinkedInSandbox) -> None:
    since = datetime.now(UTC)
    target = connector.publish(org, PostContent(text="the one"))
    for i in range(60):
        connector.publish(org, PostContent(text=f"later {i}"))
    found = connector.find_published(org, PostContent(text="the one"), since)
    assert found is not None and found.external_id == target.external_id
    starts = [r["query"].rsplit("start=", 1)[1] for r in sandbox.requests_to("GET", "/rest/posts")]
    assert starts == ["0", "50"]


def test_stops_at_posts_older_than_since(make_connector: Callable[..., LinkedInConnector],
                                         oauth_connect: Callable[..., list[Account]],
                                         sandbox: LinkedInSandbox) -> None:
    connector = make_connector(clock_skew_seconds=0)
    org = next(a for a in oauth_connect(connector) if a.external_id == ORG)
    for i in range(120):
        connector.publish(org, PostContent(text=f"before {i}"))
    time.sleep(0.01)
    since = datetime.now(UTC)
    assert connector.find_published(org, PostContent(text="absent"), since) is None
    assert len(sandbox.requests_to("GET", "/rest/posts")) == 1


def test_gives_up_loudly_rather_than_guessing(make_connector: Callable[..., LinkedInConnector],
                                              oauth_connect: Callable[..., list[Account]]) -> None:
    connector = make_connector(lookup_max_pages=1)
    org = next(a for a in oauth_connect(connector) if a.external_id == ORG)
    since = datetime.now(UTC)
    for i in range(55):
        connector.publish(org, PostContent(text=f"busy {i}"))
    with pytest.raises(AmbiguousError, match="1 pages"):
        connector.find_published(org, PostContent(text="absent"), since)


def test_deleted_posts_are_not_found(connector: LinkedInConnector, member: Account) -> None:
    since = datetime.now(UTC)
    result = connector.publish(member, PostContent(text="gone soon"))
    assert connector.find_published(member, PostContent(text="gone soon"), since) is not None
    connector.delete(member, result.external_id)
    assert connector.find_published(member, PostContent(text="gone soon"), since) is None


def test_member_lookup_needs_r_member_social(make_connector: Callable[..., LinkedInConnector],
                                             oauth_connect: Callable[..., list[Account]]) -> None:
    connector = make_connector(scopes=DEFAULT_SCOPES)
    member = oauth_connect(connector)[0]
    with pytest.raises(PermanentError, match="r_member_social") as info:
        connector.find_published(member, PostContent(text="x"), datetime.now(UTC))
    # LinkedIn's own message, as recorded, is kept
    assert "Member permissions must be used when using member as author" in info.value.message
    assert info.value.status == 400


def test_a_member_without_r_member_social_has_no_lookup_but_a_profile(
        make_connector: Callable[..., LinkedInConnector], oauth_connect: Callable[..., list[Account]]) -> None:
    """The engine then ends an unknown outcome "unconfirmed" with this link,
    without asking LinkedIn a question it refuses to answer."""
    connector = make_connector(scopes=DEFAULT_SCOPES)
    accounts = oauth_connect(connector)
    member = next(a for a in accounts if a.kind == "person")
    assert not connector.can_look_up(member)
    assert connector.profile_url(member) == f"{connector.oauth_base}/in/me/recent-activity/all/"
    for org in (a for a in accounts if a.kind == "organization"):
        assert connector.can_look_up(org)
        assert connector.profile_url(org) == f"{connector.oauth_base}/company/{org.username}/posts/"


def test_a_member_with_r_member_social_can_be_looked_up(connector: LinkedInConnector, member: Account) -> None:
    assert "r_member_social" in member.credentials.extra["scope"].split()
    assert connector.can_look_up(member)
