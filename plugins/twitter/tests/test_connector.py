"""The X connector against its sandbox: the cases the conformance kit does
not reach (X-specific behaviour, partial failures, exact lookup)."""
from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from clientnest import Account, Credentials, MediaItem, PostContent
from clientnest.errors import AmbiguousError, AuthError, ConfigError, NotSentError, PermanentError
from clientnest.testing.server import serve
from clientnest_twitter import TwitterConnector
from clientnest_twitter.sandbox import TwitterSandbox


def since() -> datetime:
    return datetime.now(UTC) - timedelta(seconds=2)


def media(kind: str = "image", data: bytes = b"\x89PNG-bytes", ctype: str = "image/png") -> MediaItem:
    return MediaItem(id=f"{kind}-{len(data)}", kind=kind, content_type=ctype, size=len(data), read=lambda: data)


# -- connecting ------------------------------------------------------------------------------------

def test_authorization_url_asks_for_pkce_and_the_scopes(connector: TwitterConnector) -> None:
    request = connector.authorization_url("http://127.0.0.1:8000/api/v1/oauth/twitter/callback", "st-1")
    query = parse_qs(urlsplit(request.url).query)
    assert query["scope"] == ["tweet.read tweet.write users.read offline.access media.write"]
    assert "%20" in request.url and "+" not in urlsplit(request.url).query
    assert query["code_challenge_method"] == ["S256"] and query["state"] == ["st-1"]
    assert query["client_id"] == ["clientnest-sandbox"] and query["response_type"] == ["code"]
    assert request.verifier and 43 <= len(request.verifier) <= 128
    assert query["code_challenge"][0] != request.verifier


def test_code_exchange_needs_the_verifier(connector: TwitterConnector) -> None:
    with pytest.raises(AuthError, match="PKCE"):
        connector.complete_authorization("code", "http://cb", None)
    request = connector.authorization_url("http://cb.test/x", "s")
    code = parse_qs(urlsplit(httpx.get(request.url).headers["location"]).query)["code"][0]
    with pytest.raises(AuthError, match="authorization code was invalid"):
        connector.complete_authorization(code, "http://cb.test/x", "another-verifier-" + "x" * 40)


def test_account_and_two_hour_token(account: Account) -> None:
    assert account.external_id == "1600000000000000001" and account.username == "clientnest_sandbox"
    assert account.kind == "user" and account.display_name == "ClientNest Sandbox"
    remaining = account.credentials.expires_at - datetime.now(UTC)
    assert timedelta(hours=1, minutes=59) < remaining <= timedelta(hours=2)
    assert account.credentials.refresh_token


def test_expired_token_then_refresh_then_rotation(connector: TwitterConnector, account: Account, clock: Any) -> None:
    clock.advance(hours=2, minutes=1)
    with pytest.raises(AuthError):
        connector.publish(account, PostContent(text="after expiry"))
    fresh = connector.refresh(account)
    assert fresh.refresh_token != account.credentials.refresh_token
    assert fresh.expires_at > clock() - timedelta(minutes=5)
    renewed = Account(account.external_id, fresh, username=account.username)
    assert connector.publish(renewed, PostContent(text="after refresh")).external_id
    with pytest.raises(AuthError, match="Value passed for the token was invalid"):
        connector.refresh(account)  # the old refresh token was used up


def test_connect_with_token(connector: TwitterConnector, control: httpx.Client) -> None:
    token = control.post("/_sandbox/tokens", json={}).json()
    [acct] = connector.connect_with_token({"access_token": token["access_token"], "refresh_token": token["refresh_token"],
                                           "expires_at": "2030-01-01T00:00:00+00:00"})
    assert acct.credentials.expires_at == datetime(2030, 1, 1, tzinfo=UTC)
    with pytest.raises(AuthError, match="access_token is required"):
        connector.connect_with_token({})
    with pytest.raises(AuthError):
        connector.connect_with_token({"access_token": "not-a-token"})


@pytest.mark.parametrize("override", [
    {"api_base": "ftp://x"}, {"scopes": "tweet.read users.read"}, {"search_scope": "everything"},
    {"media_chunk_bytes": 6 * 1024 * 1024}, {"timeout": 0}, {"comments_page_size": 5},
])
def test_bad_settings_are_refused(override: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        TwitterConnector(TwitterConnector.config_schema.validate("twitter", {"client_id": "c", **override}))


# -- publishing ------------------------------------------------------------------------------------

def test_link_is_appended_and_found_again(connector: TwitterConnector, account: Account, sandbox: TwitterSandbox) -> None:
    t0 = since()
    content = PostContent(text="Our launch notes", link="https://www.example.com/Launch?ref=cn")
    result = connector.publish(account, content)
    stored = sandbox.store.tweets[result.external_id]
    assert stored.text.startswith("Our launch notes\n\nhttps://t.co/")
    assert stored.urls[0]["expanded_url"] == "https://www.example.com/Launch?ref=cn"
    assert connector.find_published(account, content, t0).external_id == result.external_id
    same_link_written_differently = PostContent(text="Our launch notes", link="HTTPS://WWW.EXAMPLE.COM/Launch?ref=cn")
    assert connector.find_published(account, same_link_written_differently, t0).external_id == result.external_id
    other_path = PostContent(text="Our launch notes", link="https://www.example.com/launch?ref=cn")
    assert connector.find_published(account, other_path, t0) is None


def test_lookup_tells_near_identical_posts_apart(connector: TwitterConnector, account: Account) -> None:
    t0 = since()
    a = connector.publish(account, PostContent(text="Sale on example.com/a today"))
    b = connector.publish(account, PostContent(text="Sale on example.com/b today"))
    nfd = unicodedata.normalize("NFD", "Caf\u00e9 & <cr\u00e8me>")
    c = connector.publish(account, PostContent(text=nfd))
    assert connector.find_published(account, PostContent(text="Sale on example.com/b today"), t0).external_id == b.external_id
    assert connector.find_published(account, PostContent(text="Sale on http://example.com/a today"), t0).external_id == a.external_id
    assert connector.find_published(account, PostContent(text="Sale on example.com/c today"), t0) is None
    nfc = unicodedata.normalize("NFC", nfd)
    assert connector.find_published(account, PostContent(text=nfc), t0).external_id == c.external_id


def test_lookup_ignores_thread_replies_with_the_same_text(connector: TwitterConnector, account: Account) -> None:
    t0 = since()
    connector.publish(account, PostContent(text="Part one", thread=["The reply text"]))
    assert connector.find_published(account, PostContent(text="The reply text"), t0) is None


def test_lookup_pages_through_the_timeline(connector: TwitterConnector, account: Account, sandbox: TwitterSandbox) -> None:
    t0 = since()
    target = connector.publish(account, PostContent(text="the oldest of many"))
    token = account.credentials.access_token
    with httpx.Client(base_url=connector.client.api_base, headers={"Authorization": f"Bearer {token}"}) as api:
        for i in range(120):
            assert api.post("/2/tweets", json={"text": f"filler {i}"}).status_code == 201
    found = connector.find_published(account, PostContent(text="the oldest of many"), t0)
    assert found is not None and found.external_id == target.external_id


def test_media_post_is_found_by_text_and_media_count(connector: TwitterConnector, account: Account) -> None:
    t0 = since()
    images = [media(data=b"one"), media(data=b"two!")]
    result = connector.publish(account, PostContent(text="", media=images))
    assert len(result.extra_ids["media"]) == 2
    assert connector.find_published(account, PostContent(text="", media=images), t0).external_id == result.external_id
    assert connector.find_published(account, PostContent(text="", media=images[:1]), t0) is None


def test_media_is_sent_in_chunks(make_connector: Any, base_url: str, account: Account, sandbox: TwitterSandbox) -> None:
    small = make_connector(base_url, media_chunk_bytes=10)
    result = small.publish(account, PostContent(text="chunks", media=[media(data=b"x" * 35)]))
    [mid] = result.extra_ids["media"]
    assert sandbox.store.media[mid].chunks == {0: 10, 1: 10, 2: 10, 3: 5}
    small.close()


def test_video_waits_for_processing(connector: TwitterConnector, account: Account, sandbox: TwitterSandbox) -> None:
    sandbox.processing_steps = 3
    video = media("video", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100, "video/mp4")
    result = connector.publish(account, PostContent(text="a video", media=[video]))
    [mid] = result.extra_ids["media"]
    assert sandbox.store.media[mid].state == "succeeded"
    assert sandbox.store.tweets[result.external_id].media_keys == [f"13_{mid}"]


def test_video_processing_failure_is_permanent(connector: TwitterConnector, account: Account, sandbox: TwitterSandbox) -> None:
    with pytest.raises(PermanentError, match="Unsupported"):
        connector.publish(account, PostContent(text="bad video", media=[media("video", b"NOTAVIDEO....", "video/mp4")]))
    assert not any(t.text.startswith("bad video") for t in sandbox.store.tweets.values())


def test_video_processing_timeout_is_not_sent(base_url: str, account: Account, sandbox: TwitterSandbox) -> None:
    sandbox.processing_steps, sandbox.check_after_secs = 100, 5
    slept: list[float] = []
    raw = {**TwitterConnector.sandbox_config(base_url), "media_processing_timeout": 12}
    patient = TwitterConnector(TwitterConnector.config_schema.validate("twitter", raw), sleep=slept.append)
    with pytest.raises(NotSentError, match="still processing") as info:
        patient.publish(account, PostContent(text="slow video", media=[media("video", b"\x00" * 50, "video/mp4")]))
    assert slept == [5, 5] and info.value.retry_at is not None
    patient.close()


def test_a_failed_upload_is_never_ambiguous(connector: TwitterConnector, account: Account, control: httpx.Client,
                                            sandbox: TwitterSandbox) -> None:
    control.post("/_sandbox/faults", json={"status": 500, "path": "/2/media/upload"})
    with pytest.raises(NotSentError, match="before anything was posted"):
        connector.publish(account, PostContent(text="never posted", media=[media()]))
    assert not any(t.source_text == "never posted" for t in sandbox.store.tweets.values())


def test_thread_is_a_reply_chain(connector: TwitterConnector, account: Account, sandbox: TwitterSandbox) -> None:
    result = connector.publish(account, PostContent(text="1/3 thread", thread=["2/3 thread", "3/3 thread"]))
    first, second = result.extra_ids["thread"]
    tweets = sandbox.store.tweets
    assert tweets[first].replied_to == result.external_id and tweets[second].replied_to == first
    assert tweets[second].conversation_id == result.external_id
    assert "thread_incomplete" not in result.extra_ids


def test_a_thread_cut_short_still_reports_the_published_post(connector: TwitterConnector, account: Account) -> None:
    connector.publish(account, PostContent(text="already said"))
    result = connector.publish(account, PostContent(text="root of thread", thread=["fine reply", "already said", "never"]))
    assert len(result.extra_ids["thread"]) == 1
    cut = result.extra_ids["thread_incomplete"]
    assert cut["index"] == 1 and cut["error"]["kind"] == "permanent"
    assert "duplicate content" in cut["error"]["message"]


def test_daily_cap_retries_after_its_reset(clock: Any) -> None:
    sandbox = TwitterSandbox(clock=clock, daily_post_limit=1)
    with serve(sandbox) as url:
        c = TwitterConnector(TwitterConnector.config_schema.validate("twitter", TwitterConnector.sandbox_config(url)))
        token = httpx.post(f"{url}/_sandbox/tokens", json={}).json()
        [acct] = c.connect_with_token(token)
        c.publish(acct, PostContent(text="first of the day"))
        with pytest.raises(NotSentError) as info:
            c.publish(acct, PostContent(text="second of the day"))
        assert info.value.retry_at > datetime.now(UTC) + timedelta(hours=23)
        c.close()


def test_answers_without_an_id_are_ambiguous() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/2/tweets":
            return httpx.Response(201, json={"data": {}})
        return httpx.Response(200, text="<html>not json</html>")
    c = TwitterConnector({"client_id": "c"}, transport=httpx.MockTransport(handler))
    acct = Account("1", credentials=Credentials(access_token="t"))
    with pytest.raises(AmbiguousError, match="did not return its id"):
        c.publish(acct, PostContent(text="x"))
    with pytest.raises(AmbiguousError, match="not JSON"):
        c.delete(acct, "5")


# -- after publishing --------------------------------------------------------------------------------

def test_delete_is_idempotent_and_only_for_own_posts(connector: TwitterConnector, account: Account,
                                                    control: httpx.Client, sandbox: TwitterSandbox) -> None:
    post = connector.publish(account, PostContent(text="to delete"))
    connector.delete(account, post.external_id)
    connector.delete(account, post.external_id)  # already gone: fine
    other = control.post("/_sandbox/comments", json={"post_id": connector.publish(account, PostContent(text="x")).external_id,
                                                     "text": "not yours"}).json()["id"]
    with pytest.raises(PermanentError, match="not allowed to delete"):
        connector.delete(account, other)


def test_metrics_private_then_public_only_for_old_posts(connector: TwitterConnector, account: Account,
                                                       control: httpx.Client, clock: Any) -> None:
    post = connector.publish(account, PostContent(text="measured"))
    control.post("/_sandbox/metrics", json={"post_id": post.external_id, "metrics": {
        "likes": 4, "shares": 2, "saves": 1, "impressions": 250, "clicks": 9}})
    [m] = connector.fetch_metrics(account, [post.external_id])
    assert (m.likes, m.shares, m.saves, m.impressions, m.clicks, m.reach) == (4, 2, 1, 250, 9, None)
    assert m.raw["non_public_metrics"]["url_link_clicks"] == 9
    clock.advance(days=31)
    token = connector.refresh(account)
    [old] = connector.fetch_metrics(Account(account.external_id, token), [post.external_id])
    assert "non_public_metrics" not in old.raw
    assert (old.likes, old.impressions, old.clicks) == (4, 250, None)  # public impressions; clicks are private


def test_metrics_ask_in_batches_of_100(make_connector: Any, base_url: str, account: Account, sandbox: TwitterSandbox) -> None:
    quiet = make_connector(base_url, private_metrics=False)
    post = quiet.publish(account, PostContent(text="one real post"))
    ids = [post.external_id] + [str(10**18 + i) for i in range(150)]
    metrics = quiet.fetch_metrics(account, ids)
    assert [m.external_id for m in metrics] == [post.external_id]
    assert "non_public_metrics" not in metrics[0].raw
    quiet.close()


def test_comments_page_exclude_own_replies_and_keep_parents(make_connector: Any, base_url: str, account: Account,
                                                           control: httpx.Client) -> None:
    c = make_connector(base_url, comments_page_size=10)
    post = c.publish(account, PostContent(text="tell us", thread=["more detail"]))
    ids = [control.post("/_sandbox/comments", json={"post_id": post.external_id, "text": f"comment {i} & more"}).json()["id"]
           for i in range(24)]
    nested = control.post("/_sandbox/comments", json={"post_id": post.external_id, "text": "nested", "reply_to": ids[3]}).json()["id"]
    own = c.reply(account, ids[0], "thanks!")
    seen, cursor, pages = {}, None, 0
    while True:
        page = c.fetch_comments(account, post.external_id, cursor)
        pages += 1
        seen.update({x.external_id: x for x in page.comments})
        cursor = page.next_cursor
        if not cursor:
            break
    assert pages == 3  # 28 tweets in the conversation, 10 a page
    assert set(seen) == set(ids) | {nested}  # neither the thread nor our own reply
    assert own.external_id not in seen
    assert seen[ids[5]].text == "comment 5 & more"  # unescaped
    assert seen[ids[5]].parent_external_id is None and seen[nested].parent_external_id == ids[3]
    assert seen[nested].author_name == "sandbox_commenter"
    c.close()


def test_reply_to_a_deleted_comment_posts_nothing(connector: TwitterConnector, account: Account,
                                                  control: httpx.Client, sandbox: TwitterSandbox) -> None:
    post = connector.publish(account, PostContent(text="comment here"))
    cid = control.post("/_sandbox/comments", json={"post_id": post.external_id, "text": "hi"}).json()["id"]
    sandbox.store.tweets[cid].deleted = True
    count = len(sandbox.store.tweets)
    with pytest.raises(PermanentError, match="Could not find tweet"):
        connector.reply(account, cid, "hello?")
    assert len(sandbox.store.tweets) == count


def test_reply_belongs_to_the_post(connector: TwitterConnector, account: Account, control: httpx.Client) -> None:
    post = connector.publish(account, PostContent(text="the post"))
    cid = control.post("/_sandbox/comments", json={"post_id": post.external_id, "text": "question"}).json()["id"]
    reply = connector.reply(account, cid, "answer")
    assert reply.post_external_id == post.external_id and reply.parent_external_id == cid
    assert reply.author_id == account.external_id and reply.text == "answer"


def test_unreachable_x_is_not_sent(account: Account) -> None:
    c = TwitterConnector({"client_id": "c", "api_base": "http://127.0.0.1:9", "connect_timeout": 2})
    with pytest.raises(NotSentError, match="could not reach X"):
        c.publish(account, PostContent(text="x"))
