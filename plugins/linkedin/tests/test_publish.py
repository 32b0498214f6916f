"""Publishing through the Posts API against the sandbox, over HTTP."""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from clientnest import Account, Credentials, MediaItem, PostContent
from clientnest.errors import AmbiguousError, AuthError, NotSentError, PermanentError
from clientnest_linkedin import LinkedInConnector, little
from clientnest_linkedin.errors import DuplicateContentError
from clientnest_linkedin.versions import default_api_version
from clientnest_linkedin.sandbox import LinkedInSandbox


def _read_post(base_url: str, account: Account, urn: str) -> httpx.Response:
    """Read a post back through LinkedIn's own endpoint, as any client would."""
    return httpx.get(f"{base_url}/rest/posts/{urn.replace(':', '%3A')}", headers={
        "Authorization": f"Bearer {account.credentials.access_token}",
        "LinkedIn-Version": default_api_version(), "X-Restli-Protocol-Version": "2.0.0"})


def test_text_post_headers_body_and_id(
    connector: LinkedInConnector, org: Account, sandbox: LinkedInSandbox, base_url: str,
    recording: Callable[[str], Any],
) -> None:
    result = connector.publish(org, PostContent(text="Test from ClientNest 1"))
    [sent] = sandbox.requests_to("POST", "/rest/posts")
    assert sent["headers"]["Linkedin-Version"] == default_api_version()
    assert sent["headers"]["X-Restli-Protocol-Version"] == "2.0.0"
    assert sent["headers"]["Authorization"] == "Bearer ***"
    # the same body as the recorded real request (publish-post.json, first interaction)
    recorded = recording("publish-post.json")["interactions"][0]["request_body"]
    assert sent["json"] == {**recorded, "commentary": "Test from ClientNest 1", "author": org.external_id}
    # the id is the x-restli-id of a 201 with an empty body
    assert result.external_id.startswith("urn:li:share:")
    assert result.raw["x-restli-id"] == result.external_id
    assert result.raw["location"] == "/posts/" + result.external_id.replace(":", "%3A")
    assert result.url == f"{base_url}/feed/update/{result.external_id}/"
    assert abs(result.published_at - datetime.now(UTC)) < timedelta(seconds=10)
    read = _read_post(base_url, org, result.external_id)
    assert read.status_code == 200 and read.json()["commentary"] == "Test from ClientNest 1"
    page = httpx.get(result.url)
    assert page.status_code == 200 and "Test from ClientNest 1" in page.text


def test_linkedin_version_is_configurable(
    make_connector: Callable[..., LinkedInConnector], oauth_connect: Callable[..., list[Account]],
    sandbox: LinkedInSandbox,
) -> None:
    pinned = default_api_version(date.today() - timedelta(days=120))
    connector = make_connector(api_version=pinned)
    member = oauth_connect(connector)[0]
    connector.publish(member, PostContent(text="versioned"))
    [sent] = sandbox.requests_to("POST", "/rest/posts")
    assert sent["headers"]["Linkedin-Version"] == pinned


def test_a_retired_version_names_the_setting_to_change(
    make_connector: Callable[..., LinkedInConnector], oauth_connect: Callable[..., list[Account]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # LinkedIn's real answer to a version past its year (n8n-io/n8n#28967)
    member = oauth_connect(make_connector())[0]
    with caplog.at_level(logging.WARNING, logger="clientnest_linkedin.connector"):
        retired = make_connector(api_version="202405")
    assert "LinkedIn-Version 202405" in caplog.text
    with pytest.raises(PermanentError) as info:
        retired.publish(member, PostContent(text="versioned"))
    assert info.value.status == 426
    assert "Requested version 202405 is not active" in str(info.value)
    assert "CLIENTNEST_LINKEDIN_API_VERSION" in str(info.value)


def test_reserved_characters_survive(
    connector: LinkedInConnector, member: Account, sandbox: LinkedInSandbox, base_url: str
) -> None:
    text = "Q3 results (audited) are in: revenue *up* 20% [see https://ex.com/q3_report] #growth ~ @team"
    result = connector.publish(member, PostContent(text=text))
    [sent] = sandbox.requests_to("POST", "/rest/posts")
    assert sent["json"]["commentary"] == little.escape(text)
    stored = _read_post(base_url, member, result.external_id).json()["commentary"]
    # nothing was cut, the hashtag stayed a hashtag
    assert "{hashtag|\\#|growth}" in stored
    assert little.to_plain(stored) == text


def test_link_becomes_an_article(connector: LinkedInConnector, org: Account, sandbox: LinkedInSandbox) -> None:
    result = connector.publish(org, PostContent(text="Read this", link="https://www.example.com/a"))
    post = sandbox.post(result.external_id)
    assert result.external_id.startswith("urn:li:share:")
    assert post["content"] == {"article": {"source": "https://www.example.com/a", "title": "example.com"}}
    assert post["commentary"] == "Read this"


def test_one_image(connector: LinkedInConnector, org: Account, sandbox: LinkedInSandbox,
                   image: Callable[..., MediaItem]) -> None:
    result = connector.publish(org, PostContent(text="one image", media=[image(1, b"JPEGDATA" * 10)]))
    post = sandbox.post(result.external_id)
    image_urn = post["content"]["media"]["id"]
    assert result.external_id.startswith("urn:li:share:")  # as recorded for single images
    assert image_urn.startswith("urn:li:image:") and result.extra_ids["images"] == [image_urn]
    assert sandbox.images[image_urn] == {"owner": org.external_id, "status": "AVAILABLE", "size": 80}
    [init] = sandbox.requests_to("POST", "/rest/images")
    assert init["json"] == {"initializeUploadRequest": {"owner": org.external_id}}
    assert init["query"] == "action=initializeUpload"


def test_several_images(connector: LinkedInConnector, member: Account, sandbox: LinkedInSandbox,
                        image: Callable[..., MediaItem]) -> None:
    result = connector.publish(member, PostContent(text="three", media=[image(i) for i in range(3)]))
    post = sandbox.post(result.external_id)
    assert result.external_id.startswith("urn:li:ugcPost:")  # as recorded for multiImage
    ids = [i["id"] for i in post["content"]["multiImage"]["images"]]
    assert ids == result.extra_ids["images"] and len(set(ids)) == 3
    assert all(sandbox.images[i]["owner"] == member.external_id for i in ids)


def test_link_with_media_goes_into_the_text(connector: LinkedInConnector, org: Account,
                                            sandbox: LinkedInSandbox, image: Callable[..., MediaItem]) -> None:
    result = connector.publish(org, PostContent(text="Look", link="https://ex.com/x", media=[image()]))
    post = sandbox.post(result.external_id)
    assert post["commentary"] == "Look\n\nhttps://ex.com/x"
    assert "article" not in post["content"]


def test_video_in_parts(connector: LinkedInConnector, org: Account, sandbox: LinkedInSandbox,
                        video: Callable[..., MediaItem]) -> None:
    result = connector.publish(org, PostContent(text="a video", media=[video(2500)]))
    assert result.external_id.startswith("urn:li:ugcPost:")
    video_urn = result.extra_ids["video"]
    assert sandbox.post(result.external_id)["content"] == {"media": {"id": video_urn}}
    stored = sandbox.videos[video_urn]
    assert stored["status"] == "AVAILABLE" and stored["size"] == 2500
    assert [p["size"] for p in stored["parts"]] == [1024, 1024, 452]
    [init] = sandbox.requests_to("POST", "/rest/videos")[:1]
    assert init["json"]["initializeUploadRequest"]["fileSizeBytes"] == 2500
    finalize = sandbox.requests_to("POST", "/rest/videos")[1]
    assert finalize["query"] == "action=finalizeUpload"
    assert finalize["json"]["finalizeUploadRequest"]["uploadedPartIds"] == [p["etag"] for p in stored["parts"]]
    # it waited for processing before posting
    assert len(sandbox.requests_to("GET", "/rest/videos/")) == 2


def test_video_processing_timeout_is_not_sent(make_connector: Callable[..., LinkedInConnector],
                                              oauth_connect: Callable[..., list[Account]],
                                              sandbox: LinkedInSandbox, video: Callable[..., MediaItem]) -> None:
    sandbox.video_processing_polls = 10_000
    connector = make_connector(video_wait_seconds=0.1)
    member = oauth_connect(connector)[0]
    with pytest.raises(NotSentError, match="still PROCESSING"):
        connector.publish(member, PostContent(text="slow video", media=[video(100)]))
    assert sandbox.requests_to("POST", "/rest/posts") == []


def test_first_comment(connector: LinkedInConnector, org: Account, sandbox: LinkedInSandbox) -> None:
    result = connector.publish(org, PostContent(text="with a comment", first_comment="Link in here: (x)"))
    comment_urn = result.extra_ids["first_comment"]
    assert comment_urn == f"urn:li:comment:({result.external_id},{comment_urn.rsplit(',', 1)[1][:-1]})"
    [stored] = sandbox.comments[result.external_id]
    assert stored["message"]["text"] == "Link in here: (x)" and stored["actor"] == org.external_id
    [sent] = sandbox.requests_to("POST", "/rest/socialActions/")
    assert sent["json"] == {"actor": org.external_id, "object": result.external_id,
                            "message": {"text": "Link in here: (x)"}}
    assert sent["raw_uri"].startswith("/rest/socialActions/urn%3Ali%3Ashare%3A")


def test_a_failed_first_comment_does_not_fail_the_post(connector: LinkedInConnector, org: Account,
                                                       sandbox: LinkedInSandbox) -> None:
    sandbox.faults.arm(kind="server_error", status=500, method="POST", path="/rest/socialActions/")
    result = connector.publish(org, PostContent(text="post stands", first_comment="lost"))
    assert sandbox.post(result.external_id) is not None
    assert "first_comment" not in result.extra_ids
    assert result.extra_ids["first_comment_error"]["kind"] == "ambiguous"


def test_duplicate_content(connector: LinkedInConnector, org: Account) -> None:
    first = connector.publish(org, PostContent(text="same words"))
    with pytest.raises(DuplicateContentError) as info:
        connector.publish(org, PostContent(text="same words"))
    assert isinstance(info.value, PermanentError) and info.value.status == 422
    assert info.value.duplicate_of == first.external_id
    assert info.value.message == f"Content is a duplicate of {first.external_id}"


@pytest.mark.parametrize(("spec", "cls"), [
    ({"kind": "rate_limit", "retry_after": 90}, NotSentError),
    ({"kind": "unavailable", "retry_after": 30}, NotSentError),
    ({"kind": "server_error", "status": 500}, AmbiguousError),
    ({"kind": "server_error", "status": 502}, AmbiguousError),
    ({"kind": "server_error", "status": 504}, AmbiguousError),
    ({"kind": "expired_token"}, AuthError),
    ({"kind": "duplicate"}, PermanentError),
])
def test_injected_faults(connector: LinkedInConnector, org: Account, sandbox: LinkedInSandbox,
                         spec: dict[str, Any], cls: type) -> None:
    sandbox.faults.arm(method="POST", path="/rest/posts", **spec)
    before = datetime.now(UTC)
    with pytest.raises(cls) as info:
        connector.publish(org, PostContent(text="faulted"))
    assert type(info.value) is cls or (cls is PermanentError and isinstance(info.value, DuplicateContentError))
    if "retry_after" in spec:
        assert before + timedelta(seconds=spec["retry_after"] - 2) <= info.value.retry_at
        assert info.value.retry_at <= datetime.now(UTC) + timedelta(seconds=spec["retry_after"])
    # the fault answered in place of LinkedIn: nothing was created, and the next try goes through
    assert sandbox.state_posts() == []
    assert connector.publish(org, PostContent(text="faulted")).external_id


def test_media_failure_before_the_post_is_not_sent(connector: LinkedInConnector, org: Account,
                                                   sandbox: LinkedInSandbox,
                                                   image: Callable[..., MediaItem]) -> None:
    sandbox.faults.arm(kind="server_error", status=502, method="PUT", path="/dms-uploads/")
    with pytest.raises(NotSentError, match="before the post was sent"):
        connector.publish(org, PostContent(text="pic", media=[image()]))
    assert sandbox.requests_to("POST", "/rest/posts") == []


def test_an_organization_the_member_does_not_administer(connector: LinkedInConnector, org: Account) -> None:
    analyst_only = Account(external_id="urn:li:organization:80893183",
                           credentials=Credentials(access_token=org.credentials.access_token), kind="organization")
    with pytest.raises(PermanentError, match="Not enough permissions to access: POST /posts") as info:
        connector.publish(analyst_only, PostContent(text="not mine"))
    assert info.value.status == 403 and info.value.code == 100


def test_delete(connector: LinkedInConnector, org: Account, sandbox: LinkedInSandbox, base_url: str) -> None:
    result = connector.publish(org, PostContent(text="to delete"))
    connector.delete(org, result.external_id)
    assert sandbox.post(result.external_id) is None
    assert _read_post(base_url, org, result.external_id).status_code == 404
    [sent] = sandbox.requests_to("DELETE", "/rest/posts/")
    assert sent["raw_uri"] == "/rest/posts/" + result.external_id.replace(":", "%3A")
    assert sent["headers"]["X-Restli-Method"] == "DELETE"
    connector.delete(org, result.external_id)  # already gone: done


def test_validation_rules(connector: LinkedInConnector, image: Callable[..., MediaItem],
                          video: Callable[..., MediaItem]) -> None:
    assert connector.validate(PostContent(text="x" * 3000)) == []
    assert [v.rule for v in connector.validate(PostContent(text="x" * 3001))] == ["max_length"]
    mixed = connector.validate(PostContent(text="m", media=[image(), video(10)]))
    assert "mixed_media" in [v.rule for v in mixed]
    assert [v.rule for v in connector.validate(PostContent(text="t", thread=["no threads"]))] == ["max_thread"]
    assert connector.validate(PostContent(text="c", first_comment="ok")) == []
