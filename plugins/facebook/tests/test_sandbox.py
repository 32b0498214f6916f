"""The connector against its sandbox over HTTP, and the sandbox against the
recordings (same shapes, headers and error envelopes)."""
from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from clientnest import Account, Credentials, MediaItem, PostContent
from clientnest.errors import AmbiguousError, AuthError, NotSentError, PermanentError
from clientnest.testing.server import serve
from clientnest_facebook import FacebookConnector
from clientnest_facebook.sandbox import SANDBOX_PAGES
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware

PAGE = SANDBOX_PAGES[0]["id"]
REDIRECT = "https://app.example/oauth/callback"
GRAPH_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$")


def _login(connector: FacebookConnector) -> list[Account]:
    request = connector.authorization_url(REDIRECT, "state-123")
    answer = httpx.get(request.url)
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["state"] == ["state-123"]
    return connector.complete_authorization(query["code"][0], REDIRECT, None)


@pytest.fixture
def page(connector: FacebookConnector) -> Account:
    return next(a for a in _login(connector) if a.external_id == PAGE)


def _image(i: int = 1) -> MediaItem:
    return MediaItem(id=f"img{i}", kind="image", content_type="image/jpeg", size=4, read=lambda: b"\xff\xd8\xff\xd9")


# -- connecting ------------------------------------------------------------------------------

def test_login_lists_every_page_with_its_own_token(connector: FacebookConnector) -> None:
    request = connector.authorization_url(REDIRECT, "s")
    params = parse_qs(urlsplit(request.url).query)
    assert params["scope"][0].split(",")[:3] == ["pages_show_list", "pages_read_engagement", "pages_manage_posts"]
    assert urlsplit(request.url).path == "/v23.0/dialog/oauth"
    accounts = _login(connector)
    assert [a.external_id for a in accounts] == [p["id"] for p in SANDBOX_PAGES]
    assert len({a.credentials.access_token for a in accounts}) == 2
    assert accounts[0].username == "sftest7904" and accounts[0].kind == "page"


def test_a_code_works_once_and_only_with_its_redirect_uri(connector: FacebookConnector) -> None:
    answer = httpx.get(connector.authorization_url(REDIRECT, "s").url)
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    with pytest.raises(PermanentError, match="redirect_uri"):
        connector.complete_authorization(code, "https://evil.example/cb", None)
    connector.complete_authorization(code, REDIRECT, None)
    with pytest.raises(PermanentError, match="has been used"):
        connector.complete_authorization(code, REDIRECT, None)


def test_direct_connection_with_a_user_or_a_page_token(connector: FacebookConnector, sandbox: Any) -> None:
    user_token = sandbox.issue_user_token()
    pages = connector.connect_with_token(user_token)
    assert [p.external_id for p in pages] == [p["id"] for p in SANDBOX_PAGES]
    (only,) = connector.connect_with_token({**user_token, "page_id": PAGE})
    (itself,) = connector.connect_with_token({"access_token": only.credentials.access_token})
    assert itself.external_id == PAGE and itself.display_name == "Sf-test"
    with pytest.raises(PermanentError, match="not among"):
        connector.connect_with_token({**user_token, "page_id": "999"})
    with pytest.raises(AuthError):
        connector.connect_with_token({"access_token": "EAAnot-a-token"})


def test_login_needs_the_app_credentials(sandbox_url: str) -> None:
    from clientnest.errors import ConfigError

    bare = FacebookConnector({"api_base": sandbox_url})
    with pytest.raises(ConfigError, match="CLIENTNEST_FACEBOOK_APP_ID"):
        bare.authorization_url(REDIRECT, "s")
    bare.close()


# -- publishing --------------------------------------------------------------------------------

def test_every_kind_of_post_is_readable_on_the_page_feed(connector: FacebookConnector, page: Account) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    text = connector.publish(page, PostContent(text="Plain text"))
    link = connector.publish(page, PostContent(text="A link", link="https://example.com/article"))
    photo = connector.publish(page, PostContent(text="One photo", media=[_image()]))
    album = connector.publish(page, PostContent(text="Two photos", media=[
        _image(1), MediaItem(id="u", kind="image", content_type="image/png", size=1, url="https://cdn.example/u.png")]))
    video = connector.publish(page, PostContent(text="A video", media=[
        MediaItem(id="v", kind="video", content_type="video/mp4", size=3, read=lambda: b"mp4")]))
    for result in (text, link, photo, album):
        assert result.external_id.startswith(f"{PAGE}_")
        assert result.url == f"https://www.facebook.com/{PAGE}/posts/{result.external_id.split('_')[1]}/"
        assert result.published_at is not None and result.published_at >= since.replace(microsecond=0)
    assert len(album.extra_ids["photos"]) == 2 and len(photo.extra_ids["photos"]) == 1
    assert "_" not in video.external_id and video.url.endswith(f"/videos/{video.external_id}")

    feed = httpx.get(f"{connector.graph.url(f'{PAGE}/feed')}", params={
        "fields": "id,message,attachments{media_type,target,subattachments}"},
        headers={"Authorization": f"Bearer {page.credentials.access_token}"}).json()["data"]
    by_message = {p.get("message"): p for p in feed}
    assert by_message["A link"]["attachments"]["data"][0]["media_type"] == "link"
    assert by_message["One photo"]["attachments"]["data"][0]["media_type"] == "photo"
    assert len(by_message["Two photos"]["attachments"]["data"][0]["subattachments"]["data"]) == 2
    assert by_message["A video"]["attachments"]["data"][0]["target"]["id"] == video.external_id
    assert "attachments" not in by_message["Plain text"]

    for content, expected in [(PostContent(text="Plain text"), text), (PostContent(text="Two photos", media=[
            _image(1), _image(2)]), album), (PostContent(text="A video", media=[MediaItem(
            id="v", kind="video", content_type="video/mp4", size=3)]), video)]:
        found = connector.find_published(page, content, since)
        assert found is not None and found.external_id == expected.external_id
    # the same text with another kind of media was not published
    assert connector.find_published(page, PostContent(text="Plain text", media=[_image()]), since) is None


def test_first_comment_is_posted_and_its_failure_does_not_fail_the_post(
    connector: FacebookConnector, page: Account, sandbox: Any
) -> None:
    ok = connector.publish(page, PostContent(text="With a comment", first_comment="Link in the comments"))
    comments = connector.fetch_comments(page, ok.external_id).comments
    assert [(c.external_id, c.text, c.author_id) for c in comments] == [
        (ok.extra_ids["first_comment"], "Link in the comments", PAGE)]
    sandbox.faults.arm(kind="server_error", method="POST", path=f"/v23.0/{PAGE}_")
    failed = connector.publish(page, PostContent(text="Comment fails", first_comment="lost"))
    assert failed.external_id and failed.url
    assert "first_comment" not in failed.extra_ids
    assert "unexpected error" in failed.extra_ids["first_comment_error"]


def test_publishing_the_same_status_twice_is_a_duplicate(connector: FacebookConnector, page: Account) -> None:
    connector.publish(page, PostContent(text="Same words"))
    with pytest.raises(PermanentError) as info:
        connector.publish(page, PostContent(text="Same words"))
    assert info.value.code == 506
    assert "identical to the last one you posted" in info.value.message


def test_a_lost_answer_on_an_unpublished_photo_upload_is_not_ambiguous(
    connector: FacebookConnector, page: Account, sandbox: Any, sandbox_url: str
) -> None:
    quick = FacebookConnector({**FacebookConnector.sandbox_config(sandbox_url), "timeout": 0.5})
    since = datetime.now(UTC)
    sandbox.faults.arm(kind="slow", delay=1.0, method="POST", path=f"/v23.0/{PAGE}/photos")
    with pytest.raises(NotSentError):
        quick.publish(page, PostContent(text="Album that never was", media=[_image(1), _image(2)]))
    quick.close()
    assert connector.find_published(page, PostContent(text="Album that never was", media=[_image(1), _image(2)]),
                                    since) is None


def test_a_dropped_answer_on_publish_is_ambiguous_and_found(
    connector: FacebookConnector, page: Account, sandbox: Any
) -> None:
    since = datetime.now(UTC)
    content = PostContent(text="Published, answer lost", media=[_image(1), _image(2)])
    sandbox.faults.arm(kind="disconnect")  # waits for the request that makes the post
    with pytest.raises(AmbiguousError):
        connector.publish(page, content)
    found = connector.find_published(page, content, since)
    assert found is not None and found.external_id.startswith(f"{PAGE}_")


def test_throttling_carries_the_time_to_regain_access(connector: FacebookConnector, page: Account,
                                                      sandbox: Any) -> None:
    before = datetime.now(UTC)
    sandbox.faults.arm(kind="rate_limit", retry_after=150)
    with pytest.raises(NotSentError) as info:
        connector.publish(page, PostContent(text="throttled"))
    assert info.value.code == 32
    assert before + timedelta(minutes=3) <= info.value.retry_at <= datetime.now(UTC) + timedelta(minutes=3)


def test_posting_with_the_user_token_is_refused_as_auth(connector: FacebookConnector, sandbox: Any) -> None:
    user = Account(PAGE, Credentials(sandbox.issue_user_token()["access_token"]))
    with pytest.raises(AuthError) as info:
        connector.publish(user, PostContent(text="not with a user token"))
    assert info.value.code == 200


def test_an_expired_token_is_auth(connector: FacebookConnector, page: Account, sandbox: Any) -> None:
    with sandbox.state.lock:
        sandbox.state.tokens[page.credentials.access_token].expires_at = datetime.now(UTC) - timedelta(seconds=1)
    with pytest.raises(AuthError) as info:
        connector.publish(page, PostContent(text="expired"))
    assert info.value.code == 190


# -- after publishing --------------------------------------------------------------------------

def test_metrics_read_back_what_the_sandbox_was_told(connector: FacebookConnector, page: Account,
                                                     sandbox_url: str) -> None:
    post = connector.publish(page, PostContent(text="Measured"))
    video = connector.publish(page, PostContent(text="Measured video", media=[
        MediaItem(id="v", kind="video", content_type="video/mp4", size=3, url="https://cdn.example/v.mp4")]))
    for pid, values in ((post.external_id, {"impressions": 120, "reach": 90, "likes": 7, "shares": 2, "clicks": 5}),
                        (video.external_id, {"impressions": 300, "reach": 250, "video_views": 80, "likes": 1})):
        r = httpx.post(f"{sandbox_url}/_sandbox/metrics", json={"post_id": pid, "metrics": values})
        assert r.status_code == 204
    m_post, m_video = connector.fetch_metrics(page, [post.external_id, video.external_id])
    assert (m_post.impressions, m_post.reach, m_post.likes, m_post.shares, m_post.clicks, m_post.comments) == (
        120, 90, 7, 2, 5, 0)
    assert m_post.video_views is None and m_post.saves is None
    assert (m_video.impressions, m_video.reach, m_video.video_views, m_video.likes) == (300, 250, 80, 1)
    assert m_post.raw["insights"]["data"][0]["name"] == "post_impressions"
    connector.delete(page, post.external_id)
    assert [m.external_id for m in connector.fetch_metrics(page, [post.external_id, video.external_id])] == [
        video.external_id]


def test_comments_page_through_cursors_and_replies_are_threaded(
    connector: FacebookConnector, page: Account, sandbox_url: str
) -> None:
    post = connector.publish(page, PostContent(text="Talk to us"))
    ids = [httpx.post(f"{sandbox_url}/_sandbox/comments",
                      json={"post_id": post.external_id, "text": f"comment {i}"}).json()["id"] for i in range(55)]
    reply = connector.reply(page, ids[0], "Thanks for asking")
    assert reply.parent_external_id == ids[0] and reply.post_external_id == post.external_id
    seen, cursor, pages = [], None, 0
    while True:
        chunk = connector.fetch_comments(page, post.external_id, cursor)
        seen += chunk.comments
        pages += 1
        cursor = chunk.next_cursor
        if not cursor:
            break
    assert pages == 2
    assert [c.external_id for c in seen if c.parent_external_id is None] == ids
    (threaded,) = [c for c in seen if c.parent_external_id]
    assert threaded.external_id == reply.external_id and threaded.author_id == PAGE


def test_delete_removes_posts_and_videos_from_the_feed(connector: FacebookConnector, page: Account) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    post = connector.publish(page, PostContent(text="Short-lived"))
    video = connector.publish(page, PostContent(text="Short-lived video", media=[
        MediaItem(id="v", kind="video", content_type="video/mp4", size=3, url="https://cdn.example/v.mp4")]))
    connector.delete(page, post.external_id)
    connector.delete(page, video.external_id)
    assert connector.find_published(page, PostContent(text="Short-lived"), since) is None
    assert connector.find_published(page, PostContent(text="Short-lived video", media=[
        MediaItem(id="v", kind="video", content_type="video/mp4", size=3)]), since) is None
    with pytest.raises(PermanentError):
        connector.delete(page, post.external_id)


# -- the sandbox itself ---------------------------------------------------------------------------

def test_sandbox_shapes_agree_with_the_recordings(connector: FacebookConnector, page: Account, sandbox_url: str,
                                                  recorded: Any, interaction: Any) -> None:
    post = connector.publish(page, PostContent(text="Shape check", link="https://example.com"))
    auth = {"Authorization": f"Bearer {page.credentials.access_token}"}

    rec_pages = recorded("pyfacebook_base/base_user_accounts_token.json")
    user = {"Authorization": f"Bearer {_user_token(sandbox_url)}"}
    answer = httpx.get(f"{sandbox_url}/v23.0/me/accounts", headers=user)
    _, rec_accounts_headers, _ = interaction("social-media_posts__facebook.recording.json", "GET", "/me/accounts")
    assert set(json.loads(answer.headers["x-app-usage"])) == set(json.loads(rec_accounts_headers["x-app-usage"]))
    mine = answer.json()
    assert set(mine) == set(rec_pages)  # data, paging
    assert set(mine["data"][0]) == set(rec_pages["data"][0])
    assert set(mine["paging"]["cursors"]) == {"before", "after"}

    status, rec_headers, rec_feed = interaction("social-media_posts__facebook.recording.json", "GET", "/feed")
    fields = "id,permalink_url,created_time,message,attachments,duration,height,width"
    r = httpx.get(f"{sandbox_url}/v23.0/{PAGE}/feed", params={"limit": 25, "fields": fields}, headers=auth)
    assert r.status_code == status
    item = r.json()["data"][0]
    assert item["id"] == post.external_id
    assert set(item) <= set(fields.split(","))
    assert GRAPH_TIME.match(item["created_time"]) and GRAPH_TIME.match(rec_feed["data"][0]["created_time"])
    assert set(item["attachments"]["data"][0]) >= {"target", "title", "type", "url"}
    for name in ("x-business-use-case-usage", "facebook-api-version"):
        assert name in r.headers and name in rec_headers
    rec_buc = json.loads(rec_headers["x-business-use-case-usage"])
    buc = json.loads(r.headers["x-business-use-case-usage"])
    assert set(buc[PAGE][0]) == set(next(iter(rec_buc.values()))[0])

    status, _, rec_error = interaction("social-media_publish-post__facebook.recording.json", "GET", "/v12.0/4?")
    r = httpx.get(f"{sandbox_url}/v23.0/4", params={"fields": "access_token"}, headers=auth)
    assert r.status_code == status
    assert set(r.json()["error"]) == set(rec_error["error"])
    assert r.json()["error"]["message"] == rec_error["error"]["message"]
    assert r.headers["www-authenticate"].startswith('OAuth "Facebook Platform" "invalid_request"')

    _, _, rec_dup = interaction("social-media_publish-post__facebook.recording.json", "POST", "/feed")
    r = httpx.post(f"{sandbox_url}/v23.0/{PAGE}/feed", data={"message": "Shape check", "link": "https://example.com"},
                   headers=auth)
    assert r.status_code == 400
    assert set(r.json()["error"]) == set(rec_dup["error"])
    assert {k: v for k, v in r.json()["error"].items() if k != "fbtrace_id"} == {
        k: v for k, v in rec_dup["error"].items() if k != "fbtrace_id"}


def _user_token(sandbox_url: str) -> str:
    return httpx.post(f"{sandbox_url}/_sandbox/tokens", json={}).json()["access_token"]


def test_the_sandbox_works_mounted_under_a_prefix_as_in_the_embedded_mode() -> None:
    app = DispatcherMiddleware(NotFound(), {"/sandbox/facebook": FacebookConnector.sandbox()})
    with serve(app) as url:
        connector = FacebookConnector(FacebookConnector.sandbox_config(f"{url}/sandbox/facebook"))
        (first, _) = _login(connector)
        result = connector.publish(first, PostContent(text="Through the mount"))
        assert result.url and result.external_id.startswith(f"{first.external_id}_")
        assert httpx.post(f"{url}/sandbox/facebook/_sandbox/reset").status_code == 204
        with pytest.raises(AuthError):  # reset forgot the tokens
            connector.publish(first, PostContent(text="after reset"))
        connector.close()


def test_sandbox_control_routes_refuse_bad_input(sandbox_url: str) -> None:
    assert httpx.post(f"{sandbox_url}/_sandbox/comments", json={"post_id": "nope", "text": "x"}).status_code == 404
    assert httpx.post(f"{sandbox_url}/_sandbox/comments", json={"post_id": "x"}).status_code == 400
    assert httpx.post(f"{sandbox_url}/_sandbox/metrics", json={"post_id": "nope", "metrics": {"likes": 1}}).status_code == 404
    assert httpx.post(f"{sandbox_url}/_sandbox/faults", json={"kind": "meteor"}).status_code == 400
    login = httpx.get(f"{sandbox_url}/v23.0/dialog/oauth", params={"client_id": "1"})
    assert login.status_code == 400  # no redirect_uri


def test_sandbox_requires_a_token(sandbox_url: str) -> None:
    r = httpx.get(f"{sandbox_url}/v23.0/me")
    assert r.status_code == 400 and r.json()["error"]["code"] == 104
    r = httpx.get(f"{sandbox_url}/v23.0/me", params={"access_token": "bogus"})
    assert r.json()["error"]["code"] == 190
