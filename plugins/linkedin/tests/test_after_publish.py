"""Metrics, comments and replies against the sandbox, over HTTP."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from clientnest import Account, PostContent, PostMetrics
from clientnest.errors import PermanentError
from clientnest_linkedin import LinkedInConnector
from clientnest_linkedin.metrics import share_statistics_metrics
from clientnest_linkedin.sandbox import LinkedInSandbox


def test_organization_metrics_from_share_statistics(
    connector: LinkedInConnector, org: Account, sandbox: LinkedInSandbox, base_url: str,
    image: Callable[..., Any],
) -> None:
    share = connector.publish(org, PostContent(text="stats share")).external_id
    ugc = connector.publish(org, PostContent(text="stats ugc", media=[image(1), image(2)])).external_id
    sandbox.engage(share, impressions=1000, unique_impressions=700, likes=12, clicks=30, shares=2)
    # the standard control route, with PostMetrics names
    r = httpx.post(f"{base_url}/_sandbox/metrics", json={"post_id": ugc, "metrics": {"impressions": 50, "likes": 1}})
    assert r.status_code == 204
    sandbox.add_comment(share, "nice")
    metrics = connector.fetch_metrics(org, [share, ugc, "urn:li:share:1"])
    assert [m.external_id for m in metrics] == [share, ugc]  # unknown posts are left out
    s, u = metrics
    assert (s.impressions, s.reach, s.likes, s.comments, s.shares, s.clicks) == (1000, 700, 12, 1, 2, 30)
    assert s.saves is None and s.video_views is None  # LinkedIn has no such counts
    assert s.raw["share"] == share and "totalShareStatistics" in s.raw
    assert (u.impressions, u.likes, u.comments) == (50, 1, 0)
    [sent] = sandbox.requests_to("GET", "/rest/organizationalEntityShareStatistics")
    assert "shares=List(urn%3Ali%3Ashare%3A" in sent["query"] and "ugcPosts=List(urn%3Ali%3AugcPost%3A" in sent["query"]


def test_member_metrics_from_social_metadata(connector: LinkedInConnector, member: Account,
                                             sandbox: LinkedInSandbox) -> None:
    urn = connector.publish(member, PostContent(text="member stats")).external_id
    sandbox.engage(urn, likes=4, impressions=999)
    top = sandbox.add_comment(urn, "first")
    sandbox.add_comment(top["commentUrn"], "a reply")
    [m] = connector.fetch_metrics(member, [urn])
    assert (m.likes, m.comments) == (4, 2)
    # socialMetadata carries no impressions: None, not a made-up zero
    assert m.impressions is None and m.reach is None and m.clicks is None and m.shares is None
    assert m.raw["commentSummary"] == {"count": 2, "topLevelCount": 1}
    [sent] = sandbox.requests_to("GET", "/rest/socialMetadata")
    assert sent["query"] == "ids=List(" + urn.replace(":", "%3A") + ")"


def test_share_statistics_normaliser_on_the_recorded_shape(recording: Callable[[str], Any]) -> None:
    records = recording("airbyte_expected_records.jsonl")
    stats = next(r["data"] for r in records if r["stream"] == "share_statistics")
    m = share_statistics_metrics("urn:li:share:1", stats)
    assert isinstance(m, PostMetrics)
    assert (m.impressions, m.reach, m.likes, m.comments, m.shares, m.clicks) == (0, 0, 0, 0, 0, 0)
    assert m.saves is None and m.video_views is None


def test_comments_paging_and_replies(connector: LinkedInConnector, org: Account, sandbox: LinkedInSandbox,
                                     base_url: str) -> None:
    urn = connector.publish(org, PostContent(text="discuss")).external_id
    for i in range(55):
        sandbox.add_comment(urn, f"comment {i}")
    newest = sandbox.comments[urn][-1]["commentUrn"]
    # another member replies, through the standard control route
    r = httpx.post(f"{base_url}/_sandbox/comments", json={"post_id": urn, "text": "a reply", "reply_to": newest})
    assert r.status_code == 201
    reply_urn = r.json()["id"]
    page = connector.fetch_comments(org, urn)
    top = [c for c in page.comments if c.parent_external_id is None]
    assert len(top) == 50 and page.next_cursor == "50"
    # newest first, each followed by its replies
    assert page.comments[0].external_id == newest and page.comments[0].text == "comment 54"
    assert page.comments[1].external_id == reply_urn and page.comments[1].parent_external_id == newest
    assert page.comments[1].post_external_id == urn
    first = page.comments[0]
    assert first.author_id and first.author_id.startswith("urn:li:person:") and first.created_at is not None
    rest = connector.fetch_comments(org, urn, page.next_cursor)
    assert [c.text for c in rest.comments] == [f"comment {i}" for i in range(4, -1, -1)]
    assert rest.next_cursor is None


def test_reply_as_the_organization(connector: LinkedInConnector, org: Account, sandbox: LinkedInSandbox) -> None:
    urn = connector.publish(org, PostContent(text="ask me")).external_id
    question = sandbox.add_comment(urn, "when (exactly)?")
    answer = connector.reply(org, question["commentUrn"], "Tomorrow (9am)")
    assert answer.text == "Tomorrow (9am)" and answer.author_id == org.external_id
    assert answer.parent_external_id == question["commentUrn"]
    assert answer.external_id.startswith(f"urn:li:comment:({urn},")
    [stored] = sandbox.comments[question["commentUrn"]]
    assert stored["commentUrn"] == answer.external_id and stored["parentComment"] == question["commentUrn"]
    # LinkedIn records which member acted for the organization
    assert stored["created"]["impersonator"] == org.extra["member_urn"]
    [sent] = sandbox.requests_to("POST", "/rest/socialActions/")[-1:]
    assert sent["raw_uri"].startswith("/rest/socialActions/urn%3Ali%3Acomment%3A%28urn%3Ali%3Ashare%3A")
    assert sent["json"] == {"actor": org.external_id, "object": urn, "message": {"text": "Tomorrow (9am)"},
                            "parentComment": question["commentUrn"]}
    # and it shows up in the thread
    page = connector.fetch_comments(org, urn)
    assert [c.external_id for c in page.comments] == [question["commentUrn"], answer.external_id]


def test_reply_to_something_that_is_not_a_comment(connector: LinkedInConnector, org: Account) -> None:
    with pytest.raises(PermanentError, match="not a LinkedIn comment URN"):
        connector.reply(org, "urn:li:share:1", "hi")
