"""End to end against the bundled X sandbox (real response shapes): a post
published by the engine gets its follow-ups; its metrics are collected and
normalised; a reply that X delivered by webhook (signed, through the API) and
then found again by the comment poll is stored once; the reply policy
drafts an answer that a human sends, once, as a reply on X."""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from clientnest.api.webhooks.routes import x_signature
from clientnest.db import utcnow
from clientnest.engine.dispatcher import Dispatcher
from clientnest.models import (
    InboxComment,
    MetricSnapshot,
    Post,
    PostStatus,
    PostTarget,
    SocialAccount,
    TargetStatus,
    User,
    Workspace,
)
from clientnest.queue import get_queue
from clientnest.services import accounts as account_svc
from clientnest.services import replies
from clientnest.testing.server import serve

twitter = pytest.importorskip("clientnest_twitter")
from clientnest_twitter.sandbox import TwitterSandbox  # noqa: E402

SECRET = "x-consumer-secret-for-tests"


@pytest.fixture
def sandbox_url() -> Iterator[str]:
    with serve(TwitterSandbox(check_after_secs=0)) as url:
        yield url


@pytest.fixture
def followup_settings(sandbox_url: str) -> dict[str, Any]:
    cfg = {**twitter.TwitterConnector.sandbox_config(sandbox_url), "consumer_secret": SECRET}
    return {"plugin_config_extra": {"twitter": cfg}}


def _control(url: str, path: str, body: dict[str, Any]) -> Any:
    r = httpx.post(f"{url}/_sandbox/{path}", json=body, timeout=10)
    assert r.status_code in (200, 201, 204), r.text
    return r.json() if r.content else None


def test_followups_through_the_x_sandbox(world: Any, sandbox_url: str) -> None:
    rt = world.rt
    from clientnest.api import create_app

    client = create_app(runtime=rt).test_client()
    # connect with a token the sandbox issues, as POST /accounts would
    creds = _control(sandbox_url, "tokens", {})
    with rt.db.transaction() as s:
        user = User(email="owner@example.com", password_hash="x")
        s.add(user)
        s.flush()
        uid = user.id
    with rt.db.session() as s:
        (acct,) = account_svc.connect_with_token(s, rt, workspace_id=world.workspace_id, user_id=uid,
                                                 platform="twitter", credentials=creds)
        account_id, account_ext = acct.id, acct.external_id
    # the engine publishes the post on the sandbox
    due = utcnow() - timedelta(seconds=1)
    with rt.db.transaction() as s:
        post = Post(workspace_id=world.workspace_id, text="Our spring menu is here #food", status=PostStatus.SCHEDULED,
                    scheduled_at=due)
        s.add(post)
        s.flush()
        t = PostTarget(post_id=post.id, workspace_id=world.workspace_id, account_id=account_id, platform="twitter",
                       status=TargetStatus.SCHEDULED, scheduled_at=due, next_attempt_at=due)
        s.add(t)
        s.flush()
        tid, pid = t.id, post.id
    Dispatcher(rt, get_queue(rt)).tick(force=True)
    world.run_jobs()
    with rt.db.session() as s:
        target = s.get(PostTarget, tid)
        assert target.status == TargetStatus.PUBLISHED, target.last_error
        tweet_id = target.external_id
    assert world.schedule(tid) == 6  # X has metrics and comments: five slots and the poll

    # the world reacts: metrics, and two replies from another user
    _control(sandbox_url, "metrics", {"post_id": tweet_id, "metrics": {"likes": 12, "impressions": 340, "shares": 3}})
    first = _control(sandbox_url, "comments", {"post_id": tweet_id, "text": "Looks delicious, love it!"})["id"]
    second = _control(sandbox_url, "comments", {"post_id": tweet_id, "text": "Do you deliver on Sundays?"})["id"]
    # X's account activity webhook delivers the first one (signed with the consumer secret)
    payload = {"for_user_id": account_ext, "tweet_create_events": [{
        "id_str": first, "text": "Looks delicious, love it!", "in_reply_to_status_id_str": tweet_id,
        "in_reply_to_user_id_str": account_ext, "timestamp_ms": str(int(utcnow().timestamp() * 1000)),
        "user": {"id_str": "777", "screen_name": "foodie"}}]}
    body = json.dumps(payload).encode()
    r = client.post("/api/v1/webhooks/twitter", data=body,
                    headers={"x-twitter-webhooks-signature": x_signature(SECRET, body),
                             "Content-Type": "application/json"})
    assert r.status_code == 200, r.get_json()

    # an hour later: the first metrics slot and the comment poll are due
    world.make_due(tid, metrics_slot=0)
    world.settle()
    with rt.db.session() as s:
        snaps = s.scalars(select(MetricSnapshot).where(MetricSnapshot.target_id == tid)).all()
        rows = s.scalars(select(InboxComment).where(InboxComment.account_id == account_id)
                         .order_by(InboxComment.id)).all()
    assert len(snaps) == 1
    assert (snaps[0].likes, snaps[0].impressions, snaps[0].shares) == (12, 340, 3)
    assert snaps[0].raw is not None
    assert [r.external_id for r in rows] == [first, second]  # the webhook's and the poll's: once each
    assert all(r.target_id == tid for r in rows)
    assert rows[0].sentiment_label == "positive" and rows[1].needs_human is True  # a question
    assert all(r.reply_status == "drafted" for r in rows)  # the default policy drafts

    # a human sends the draft to the first comment: one reply tweet on X
    with rt.db.session() as s:
        ws = s.get(Workspace, world.workspace_id)
        user = s.get(User, uid)
        replies.request_reply(s, rt, ws, rows[0].id, user)
    world.run_jobs()
    sent = world.comment(rows[0].id)
    assert sent.reply_status == "sent" and sent.reply_external_id
    connector = rt.plugins.connector("twitter")
    with rt.db.session() as s:
        account = account_svc.to_connector_account(rt.vault, s.get(SocialAccount, account_id))
    got = connector.client.request_json("GET", f"/2/tweets/{sent.reply_external_id}", token=account.credentials.access_token,
                                        params={"tweet.fields": "referenced_tweets,author_id"})
    assert got["data"]["text"] == sent.reply_text
    assert {"type": "replied_to", "id": first} in got["data"]["referenced_tweets"]
    # and the next poll does not take our own reply for a new comment
    world.make_due(tid, metrics_slot=1)
    world.settle()
    assert len(world.comments()) == 2
    with rt.db.session() as s:
        assert s.get(Post, pid).status == PostStatus.PUBLISHED
