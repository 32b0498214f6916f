"""The connector against its sandbox over HTTP, and the sandbox against the
recordings (same envelopes, statuses and fields)."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from clientnest import Account, MediaItem, PostContent
from clientnest.errors import AmbiguousError, AuthError, NotSentError, PermanentError
from clientnest_instagram import InstagramConnector
from clientnest_instagram.sandbox import SANDBOX_IG_USERS, SANDBOX_PAGES

IG = SANDBOX_IG_USERS[0]["id"]
REDIRECT = "https://app.example/oauth/callback"
GRAPH_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$")


#: base URL of the media host (tests/conftest.py): the sandbox downloads what it is given
HOST = {"url": ""}


@pytest.fixture(autouse=True)
def _media_host(media_url: str) -> None:
    HOST["url"] = media_url


def _image(i: int = 1) -> MediaItem:
    return MediaItem(id=f"i{i}", kind="image", content_type="image/jpeg", size=1, url=f"{HOST['url']}/{i}.jpg")


def _video(url: str = "") -> MediaItem:
    return MediaItem(id="v", kind="video", content_type="video/mp4", size=1, url=url or f"{HOST['url']}/clip.mp4")


@pytest.fixture
def account(connector: InstagramConnector) -> Account:
    answer = httpx.get(connector.authorization_url(REDIRECT, "st").url)
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["state"] == ["st"]
    (acc,) = connector.complete_authorization(query["code"][0], REDIRECT, None)
    return acc


def test_login_offers_only_pages_with_an_instagram_account(connector: InstagramConnector, account: Account) -> None:
    assert len(SANDBOX_PAGES) == 2 and SANDBOX_PAGES[1]["ig"] is None
    assert account.external_id == IG and account.username == "sftest23894729"
    assert account.extra["page_id"] == SANDBOX_PAGES[0]["id"]
    assert account.credentials.extra["token_type"] == "page" and account.credentials.expires_at is None
    scopes = parse_qs(urlsplit(connector.authorization_url(REDIRECT, "s").url).query)["scope"][0]
    assert "instagram_content_publish" in scopes and "instagram_manage_comments" in scopes


def test_direct_connection_with_user_or_page_token(connector: InstagramConnector, sandbox: Any,
                                                   account: Account) -> None:
    (by_user,) = connector.connect_with_token(sandbox.issue_user_token())
    assert by_user.external_id == IG
    (by_page,) = connector.connect_with_token({"access_token": account.credentials.access_token})
    assert by_page.external_id == IG and by_page.username == "sftest23894729"
    with pytest.raises(PermanentError, match="not linked"):
        connector.connect_with_token({**sandbox.issue_user_token(), "ig_user_id": "1"})


def test_image_carousel_and_reel_are_published_and_found(connector: InstagramConnector, account: Account) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    image = connector.publish(account, PostContent(text="One image", media=[_image()]))
    carousel = connector.publish(account, PostContent(text="Mixed carousel", media=[_image(1), _video(), _image(2)]))
    reel = connector.publish(account, PostContent(text="A reel", media=[_video()]))
    assert re.match(r"https://www\.instagram\.com/p/[\w-]{11}/$", image.url)
    assert re.match(r"https://www\.instagram\.com/reel/[\w-]{11}/$", reel.url)
    assert len(carousel.extra_ids["children"]) == 3
    for content, expected in ((PostContent(text="One image", media=[_image()]), image),
                              (PostContent(text="Mixed carousel", media=[_image(), _image(), _image()]), carousel),
                              (PostContent(text="A reel", media=[_video()]), reel)):
        found = connector.find_published(account, content, since)
        assert found is not None and found.external_id == expected.external_id and found.url == expected.url
    assert connector.find_published(account, PostContent(text="A reel", media=[_image()]), since) is None
    assert connector.find_published(account, PostContent(text="One image", media=[_image()]),
                                    datetime.now(UTC) + timedelta(minutes=1)) is None


def test_a_video_that_instagram_cannot_process_fails_with_its_reason(
    connector: InstagramConnector, account: Account
) -> None:
    with pytest.raises(PermanentError, match="Media download has failed"):
        connector.publish(account, PostContent(text="bad clip", media=[_video(f"{HOST['url']}/missing.mp4")]))


def test_a_video_still_processing_at_the_deadline_is_retried_later(
    sandbox: Any, sandbox_url: str, account: Account
) -> None:
    sandbox.state.processing_polls = 1000
    impatient = InstagramConnector({**InstagramConnector.sandbox_config(sandbox_url), "poll_timeout": 0.2})
    before = datetime.now(UTC)
    with pytest.raises(NotSentError, match="still processing") as info:
        impatient.publish(account, PostContent(text="slow reel", media=[_video()]))
    assert info.value.retry_at is not None and info.value.retry_at > before
    impatient.close()


def test_permalink_failure_after_media_publish_leaves_the_post_published(
    connector: InstagramConnector, account: Account, sandbox: Any
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    sandbox.faults.arm(kind="server_error", method="GET")  # the read-back after media_publish
    result = connector.publish(account, PostContent(text="URL unknown", media=[_image()]))
    assert result.external_id and result.url is None
    found = connector.find_published(account, PostContent(text="URL unknown", media=[_image()]), since)
    assert found is not None and found.external_id == result.external_id and found.url


def test_a_lost_container_answer_is_not_sent_and_a_lost_publish_answer_is_ambiguous(
    connector: InstagramConnector, account: Account, sandbox: Any, sandbox_url: str
) -> None:
    quick = InstagramConnector({**InstagramConnector.sandbox_config(sandbox_url), "timeout": 0.5})
    since = datetime.now(UTC) - timedelta(seconds=1)
    sandbox.faults.arm(kind="slow", delay=1.0, method="POST", path=f"/v23.0/{IG}/media")
    with pytest.raises(NotSentError):
        quick.publish(account, PostContent(text="never out", media=[_image()]))
    assert connector.find_published(account, PostContent(text="never out", media=[_image()]), since) is None
    sandbox.faults.arm(kind="slow", delay=1.0)  # waits for media_publish
    with pytest.raises(AmbiguousError):
        quick.publish(account, PostContent(text="out, answer lost", media=[_image()]))
    assert connector.find_published(account, PostContent(text="out, answer lost", media=[_image()]), since)
    quick.close()


def test_publishing_limit_is_not_sent(connector: InstagramConnector, account: Account,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from clientnest_instagram.sandbox import app

    monkeypatch.setattr(app, "PUBLISH_QUOTA", 1)
    connector.publish(account, PostContent(text="first of the day", media=[_image()]))
    with pytest.raises(NotSentError, match="maximum number of posts"):
        connector.publish(account, PostContent(text="one too many", media=[_image()]))


def test_rate_limit_and_expired_token(connector: InstagramConnector, account: Account, sandbox: Any) -> None:
    before = datetime.now(UTC)
    sandbox.faults.arm(kind="rate_limit", retry_after=240)
    with pytest.raises(NotSentError) as info:
        connector.publish(account, PostContent(text="throttled", media=[_image()]))
    assert info.value.code == 80002
    assert before + timedelta(minutes=4) <= info.value.retry_at <= datetime.now(UTC) + timedelta(minutes=4)
    sandbox.faults.arm(kind="expired_token")
    with pytest.raises(AuthError):
        connector.fetch_comments(account, "17841450841275119")


def test_metrics_comments_and_replies(connector: InstagramConnector, account: Account, sandbox_url: str) -> None:
    reel = connector.publish(account, PostContent(text="Measured reel", media=[_video()]))
    r = httpx.post(f"{sandbox_url}/_sandbox/metrics", json={"post_id": reel.external_id, "metrics": {
        "impressions": 500, "reach": 400, "likes": 30, "saves": 4, "shares": 3}})
    assert r.status_code == 204
    (m,) = connector.fetch_metrics(account, [reel.external_id])
    assert (m.impressions, m.reach, m.likes, m.saves, m.shares, m.video_views, m.comments) == (
        500, 400, 30, 4, 3, 500, 0)
    ids = [httpx.post(f"{sandbox_url}/_sandbox/comments",
                      json={"post_id": reel.external_id, "text": f"wow {i}"}).json()["id"] for i in range(60)]
    reply = connector.reply(account, ids[3], "thank you!")
    assert reply.post_external_id == reel.external_id and reply.parent_external_id == ids[3]
    seen, cursor = [], None
    while True:
        page = connector.fetch_comments(account, reel.external_id, cursor)
        seen += page.comments
        cursor = page.next_cursor
        if not cursor:
            break
    assert [c.external_id for c in seen if c.parent_external_id is None] == ids
    assert [c.external_id for c in seen if c.parent_external_id == ids[3]] == [reply.external_id]
    with pytest.raises(PermanentError):  # Instagram replies are one level deep
        connector.reply(account, reply.external_id, "nested")
    (again,) = connector.fetch_metrics(account, [reel.external_id])
    assert again.comments == 61


def test_sandbox_shapes_agree_with_the_recordings(account: Account, sandbox_url: str, interaction: Any,
                                                  recorded: Any) -> None:
    auth = {"Authorization": f"Bearer {account.credentials.access_token}"}
    _, _, rec_container = interaction("social-media_publish-post__instagram.recording.json", "POST", "/media?image_url")
    r = httpx.post(f"{sandbox_url}/v23.0/{IG}/media", data={"image_url": f"{HOST['url']}/y.jpg", "caption": "c"}, headers=auth)
    assert r.status_code == 200 and set(r.json()) == set(rec_container) == {"id"}
    assert "x-business-use-case-usage" in r.headers
    cid = r.json()["id"]
    _, _, rec_status = interaction("social-media_upload-from-url__instagram.recording.json", "GET", "?fields=status")
    status = httpx.get(f"{sandbox_url}/v23.0/{cid}", params={"fields": "status,status_code"}, headers=auth).json()
    assert set(status) == set(rec_status) and status["status"] == rec_status["status"]
    published = httpx.post(f"{sandbox_url}/v23.0/{IG}/media_publish", data={"creation_id": cid}, headers=auth).json()
    assert set(published) == {"id"}
    _, _, rec_permalink = interaction("social-media_publish-post__instagram.recording.json", "GET", "?fields=permalink")
    permalink = httpx.get(f"{sandbox_url}/v23.0/{published['id']}", params={"fields": "permalink"}, headers=auth).json()
    assert set(permalink) == set(rec_permalink)
    _, _, rec_media = interaction("social-media_posts__instagram.recording.json", "GET", "/media")
    fields = "id,caption,media_url,timestamp,permalink,video_title,type,media_type"
    listing = httpx.get(f"{sandbox_url}/v23.0/{IG}/media", params={"fields": fields, "limit": 25}, headers=auth).json()
    assert set(listing) == set(rec_media)
    assert set(listing["data"][0]) == set(rec_media["data"][0])
    assert GRAPH_TIME.match(listing["data"][0]["timestamp"])
    limit = httpx.get(f"{sandbox_url}/v23.0/{IG}/content_publishing_limit", headers=auth).json()
    rec_limit = recorded("pyfacebook_apidata/users/content_publish_limit.json")
    assert set(limit["data"][0]) == set(rec_limit["data"][0]) and limit["data"][0]["quota_usage"] == 1
    insights = httpx.get(f"{sandbox_url}/v23.0/{published['id']}/insights",
                         params={"metric": "impressions,reach,saved"}, headers=auth).json()
    rec_insights = recorded("pyfacebook_apidata/medias/insights.json")
    assert [set(d) for d in insights["data"]] == [set(d) for d in rec_insights["data"]]
    assert [d["name"] for d in insights["data"]] == [d["name"] for d in rec_insights["data"]]
    status_code, _, rec_error = interaction("social-media_publish-post__instagram.recording.json", "POST", "/4/media")
    r = httpx.post(f"{sandbox_url}/v23.0/4/media", data={"image_url": f"{HOST['url']}/y.jpg"}, headers=auth)
    assert r.status_code == status_code and set(r.json()["error"]) == set(rec_error["error"])
    assert r.json()["error"]["message"] == rec_error["error"]["message"]
    deleted = httpx.delete(f"{sandbox_url}/v23.0/{published['id']}", headers=auth)
    assert deleted.status_code == 400 and deleted.json()["error"]["code"] == 100


def test_carousel_rules_of_the_sandbox(account: Account, sandbox_url: str) -> None:
    auth = {"Authorization": f"Bearer {account.credentials.access_token}"}
    one = httpx.post(f"{sandbox_url}/v23.0/{IG}/media", data={"image_url": f"{HOST['url']}/1.jpg",
                                                            "is_carousel_item": "true"}, headers=auth).json()["id"]
    r = httpx.post(f"{sandbox_url}/v23.0/{IG}/media", data={"media_type": "CAROUSEL", "children": one}, headers=auth)
    assert r.status_code == 400 and "between 2 and 10" in r.json()["error"]["message"]
    long = httpx.post(f"{sandbox_url}/v23.0/{IG}/media", data={"image_url": f"{HOST['url']}/1.jpg", "caption": "x" * 2201},
                      headers=auth)
    assert long.status_code == 400
    child = httpx.post(f"{sandbox_url}/v23.0/{IG}/media_publish", data={"creation_id": one}, headers=auth)
    assert child.status_code == 400  # a carousel item is never published alone


def test_the_sandbox_downloads_media_as_instagram_does(connector: InstagramConnector, account: Account,
                                                       sandbox: Any, media_host: Any) -> None:
    import hashlib

    _, host = media_host
    jpeg, mp4 = host.jpeg, host.mp4
    image = connector.publish(account, PostContent(text="fetched", media=[_image(7)]))
    reel = connector.publish(account, PostContent(text="fetched reel", media=[_video()]))
    assert host.hits["/7.jpg"] == 1 and host.hits["/clip.mp4"] == 1
    got = sandbox.state.media[image.external_id]["fetched"]
    assert got["size"] == len(jpeg) and got["sha256"] == hashlib.sha256(jpeg).hexdigest()
    assert sandbox.state.media[reel.external_id]["fetched"]["sha256"] == hashlib.sha256(mp4).hexdigest()


@pytest.mark.parametrize("path", ["/missing.jpg", "/page.html", "/clip.mp4"])
def test_an_image_instagram_cannot_download_is_refused_with_its_error(
    connector: InstagramConnector, account: Account, sandbox_url: str, sandbox: Any, path: str
) -> None:
    """404, a web page, a video given as image_url: Graph's 9004 / 2207052."""
    url = f"{HOST['url']}{path}"
    auth = {"Authorization": f"Bearer {account.credentials.access_token}"}
    r = httpx.post(f"{sandbox_url}/v23.0/{IG}/media", data={"image_url": url, "caption": "c"}, headers=auth)
    assert r.status_code == 400
    err = r.json()["error"]
    assert (err["code"], err["error_subcode"], err["type"]) == (9004, 2207052, "OAuthException")
    assert err["message"] == "Only photo or video can be accepted as media type."
    assert err["error_user_title"] == "Media download has failed."
    assert err["error_user_msg"] == f"The media could not be fetched from this uri: {url}. Please check the uri and try again."
    assert err["is_transient"] is False and err["fbtrace_id"]
    assert sandbox.state.containers == {}
    bad = MediaItem(id="b", kind="image", content_type="image/jpeg", size=1, url=url)
    with pytest.raises(PermanentError, match="could not be fetched from this uri") as info:
        connector.publish(account, PostContent(text="never fetched", media=[bad]))
    assert info.value.code == 9004


def test_nothing_is_downloaded_for_a_caller_who_may_not_post(account: Account, sandbox_url: str,
                                                             media_host: Any) -> None:
    _, host = media_host
    r = httpx.post(f"{sandbox_url}/v23.0/{IG}/media", data={"image_url": f"{HOST['url']}/1.jpg"},
                   headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 400 and r.json()["error"]["code"] == 190
    r = httpx.post(f"{sandbox_url}/v23.0/4/media", data={"image_url": f"{HOST['url']}/1.jpg"},
                   headers={"Authorization": f"Bearer {account.credentials.access_token}"})
    assert r.status_code == 400
    assert host.hits == {}
