"""The connector against the responses Instagram really sent (replayed)."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from clientnest import Account, Credentials, MediaItem, PostContent
from clientnest.errors import AmbiguousError, AuthError, NotSentError, PermanentError

IG = "17841450841275119"
PAGE = "110658944785122"
PUBLISH = "social-media_publish-post__instagram.recording.json"
UPLOAD = "social-media_upload-from-url__instagram.recording.json"
POSTS = "social-media_posts__instagram.recording.json"
SITTA = "https://upload.wikimedia.org/wikipedia/commons/0/09/Sitta-carolinensis-001.jpg"


def _account() -> Account:
    return Account(IG, Credentials("PAGE-TOKEN", extra={"page_id": PAGE}), username="sftest23894729", kind="business")


def _image(url: str = SITTA) -> MediaItem:
    return MediaItem(id="m", kind="image", content_type="image/jpeg", size=1, url=url)


def _video(url: str) -> MediaItem:
    return MediaItem(id="v", kind="video", content_type="video/mp4", size=1, url=url)


def test_accounts_are_the_instagram_accounts_linked_to_the_pages(
    replay_connector: Any, replay: Any, interaction: Any
) -> None:
    _, h1, accounts = interaction(POSTS, "GET", "/me/accounts")
    _, h2, page = interaction(POSTS, "GET", f"/{PAGE}?fields=instagram_business_account")
    replay.add("GET", "/me/accounts", accounts, headers=h1)
    replay.add("GET", f"/{PAGE}", page, headers=h2,
               when=lambda r: r.url.params["fields"] == "instagram_business_account{id,username,name,profile_picture_url}")
    (account,) = replay_connector.connect_with_token({"access_token": "user-token"})
    assert account.external_id == IG
    assert (account.username, account.display_name, account.kind) == ("sftest23894729", "SF Test", "business")
    assert account.extra["page_id"] == PAGE
    assert account.extra["profile_picture_url"].startswith("https://scontent-prg1-1.xx.fbcdn.net/")
    # the recorded Page listing carries no Page token: the user token is kept
    assert account.credentials.access_token == "user-token"
    assert replay.requests[0].url.params["fields"].startswith("id,name,access_token,instagram_business_account")


def test_single_image_is_a_container_then_media_publish_then_the_permalink(
    replay_connector: Any, replay: Any, interaction: Any
) -> None:
    for method, part, path in (("POST", "/media?image_url", f"/{IG}/media"),
                               ("POST", "/media_publish", f"/{IG}/media_publish"),
                               ("GET", "17903829641624005?fields=permalink", "/17903829641624005")):
        status, headers, body = interaction(PUBLISH, method, part)
        replay.add(method, path, body, status=status, headers=headers)
    result = replay_connector.publish(_account(), PostContent(text="Single post from Superface Station.",
                                                              media=[_image()]))
    container, publish, permalink = replay.form(0), replay.form(1), replay.requests[2]
    assert container == {"image_url": SITTA, "caption": "Single post from Superface Station.",
                         "appsecret_proof": container["appsecret_proof"]}
    assert publish["creation_id"] == "18017539678410998"
    assert permalink.url.params["fields"] == "permalink,timestamp"
    assert result.external_id == "17903829641624005"
    assert result.url == "https://www.instagram.com/p/CgU3ilsNGN8/"
    assert result.extra_ids["container"] == "18017539678410998"


def test_carousel_children_then_the_album(replay_connector: Any, replay: Any, interaction: Any) -> None:
    _, _, child1 = interaction(PUBLISH, "POST", "is_carousel_item=true", 0)
    _, _, child2 = interaction(PUBLISH, "POST", "is_carousel_item=true", 1)
    _, _, album = interaction(PUBLISH, "POST", "media_type=CAROUSEL")
    _, _, published = interaction(PUBLISH, "POST", "/media_publish", 1)
    _, _, permalink = interaction(PUBLISH, "GET", "18219205078144675?fields=permalink")
    replay.add("POST", f"/{IG}/media", child1).add("POST", f"/{IG}/media", child2).add("POST", f"/{IG}/media", album)
    replay.add("GET", "/17964475606774245", {"id": "17964475606774245", "status_code": "FINISHED",
                                             "status": "Finished: Media has been uploaded and it is ready to be published."})
    replay.add("POST", f"/{IG}/media_publish", published).add("GET", "/18219205078144675", permalink)
    flower = "https://upload.wikimedia.org/wikipedia/commons/thumb/b/b5/flower.jpg"
    result = replay_connector.publish(_account(), PostContent(text="Carousel post from Superface Station.",
                                                              media=[_image(flower), _image()]))
    first, second, parent = replay.form(0), replay.form(1), replay.form(2)
    assert first["is_carousel_item"] == "true" and first["image_url"] == flower and "caption" not in first
    assert second["image_url"] == SITTA
    assert parent["media_type"] == "CAROUSEL" and parent["children"] == "17931401468234972,17938910873241210"
    assert parent["caption"] == "Carousel post from Superface Station."
    assert replay.form(4)["creation_id"] == "17964475606774245"
    assert (result.external_id, result.url) == ("18219205078144675", "https://www.instagram.com/p/CgU3j4ftpdn/")
    assert result.extra_ids["children"] == ["17931401468234972", "17938910873241210"]


def test_reel_container_is_polled_until_finished(replay_connector: Any, replay: Any, interaction: Any) -> None:
    _, _, container = interaction(UPLOAD, "POST", "media_type=REELS")
    _, _, finished = interaction(UPLOAD, "GET", "17944248500128615?fields=status")
    _, _, published = interaction(UPLOAD, "POST", "/media_publish", 1)
    _, _, permalink = interaction(UPLOAD, "GET", "17957350709060432?fields=permalink")
    replay.add("POST", f"/{IG}/media", container)
    in_progress = {"status": "In Progress: Media is still being processed.", "status_code": "IN_PROGRESS",
                   "id": "17944248500128615"}
    replay.add("GET", "/17944248500128615", in_progress).add("GET", "/17944248500128615", in_progress)
    replay.add("GET", "/17944248500128615", finished)
    replay.add("POST", f"/{IG}/media_publish", published).add("GET", "/17957350709060432", permalink)
    url = "https://assets.mixkit.co/videos/download/mixkit-waves-in-the-water-1164.mp4"
    result = replay_connector.publish(_account(), PostContent(text="Single reel from Superface Station.",
                                                              media=[_video(url)]))
    assert replay.form(0)["media_type"] == "REELS" and replay.form(0)["video_url"] == url
    polls = [r for r in replay.requests if r.method == "GET" and r.url.path.endswith("/17944248500128615")]
    assert len(polls) == 3 and polls[0].url.params["fields"] == "status_code,status"
    assert result.url == "https://www.instagram.com/reel/Ci0FuMbKuJ7/"


def test_a_failed_permalink_read_back_never_fails_a_publish(
    replay_connector: Any, replay: Any, interaction: Any
) -> None:
    _, _, container = interaction(PUBLISH, "POST", "/media?image_url")
    _, _, published = interaction(PUBLISH, "POST", "/media_publish")
    replay.add("POST", f"/{IG}/media", container).add("POST", f"/{IG}/media_publish", published)
    replay.add("GET", "/17903829641624005", {"error": {"message": "An unknown error has occurred.", "code": 1,
                                                        "type": "OAuthException", "is_transient": True}}, status=500)
    result = replay_connector.publish(_account(), PostContent(text="x", media=[_image()]))
    assert result.external_id == "17903829641624005"
    assert result.url is None
    assert "unknown error" in result.extra_ids["permalink_error"]


def test_lost_answer_of_media_publish_is_ambiguous_but_of_a_container_is_not(
    replay_connector: Any, replay: Any, interaction: Any
) -> None:
    import httpx

    _, _, container = interaction(PUBLISH, "POST", "/media?image_url")
    replay.add("POST", f"/{IG}/media", container)
    replay.add("POST", f"/{IG}/media_publish", raise_=httpx.ReadTimeout("timed out"))
    with pytest.raises(AmbiguousError):
        replay_connector.publish(_account(), PostContent(text="x", media=[_image()]))
    replay.add("POST", f"/{IG}/media", raise_=httpx.ReadTimeout("timed out"))
    with pytest.raises(NotSentError):  # a container is invisible: nothing can be on the account
        replay_connector.publish(_account(), PostContent(text="x", media=[_image()]))


def test_media_not_ready_is_waited_for_then_published(replay_connector: Any, replay: Any, interaction: Any) -> None:
    _, _, container = interaction(PUBLISH, "POST", "/media?image_url")
    _, _, published = interaction(PUBLISH, "POST", "/media_publish")
    replay.add("POST", f"/{IG}/media", container)
    replay.add("POST", f"/{IG}/media_publish", {"error": {
        "message": "Media ID is not available", "type": "OAuthException", "code": 9007, "error_subcode": 2207027,
        "is_transient": False, "error_user_title": "Media not ready for publishing",
        "error_user_msg": "The media is not ready for publishing, please wait for a moment"}}, status=400)
    replay.add("GET", "/18017539678410998", {"id": "18017539678410998", "status_code": "FINISHED"})
    replay.add("POST", f"/{IG}/media_publish", published)
    replay.add("GET", "/17903829641624005", {"permalink": "https://www.instagram.com/p/CgU3ilsNGN8/"})
    assert replay_connector.publish(_account(), PostContent(text="x", media=[_image()])).external_id == "17903829641624005"


def test_publishing_to_an_unknown_account_fails_with_the_platforms_message(
    replay_connector: Any, replay: Any, interaction: Any
) -> None:
    status, headers, body = interaction(PUBLISH, "POST", "/4/media")
    replay.add("POST", "/4/media", body, status=status, headers=headers)
    with pytest.raises(PermanentError, match="Object with ID '4' does not exist") as info:
        replay_connector.publish(Account("4", Credentials("t")), PostContent(text="x", media=[_image()]))
    assert info.value.code == 100


def test_lookup_on_the_recorded_media_list(replay_connector: Any, replay: Any, interaction: Any) -> None:
    _, headers, media = interaction(POSTS, "GET", f"/{IG}/media")
    replay.add("GET", f"/{IG}/media", media, headers=headers, repeat=True)
    caption = "Test media publishing from Superface Station."
    found = replay_connector.find_published(_account(), PostContent(text=caption, media=[_image()]),
                                            datetime(2022, 4, 14, 15, 41, 0, tzinfo=UTC))
    assert found is not None and found.external_id == "17926446668245635"
    assert found.url == "https://www.instagram.com/p/CcVj2DGKcnl/"
    # several identical captions after `since`: the earliest is the first attempt's
    earliest = replay_connector.find_published(_account(), PostContent(text=caption, media=[_image()]),
                                               datetime(2022, 4, 14, 15, 20, 0, tzinfo=UTC))
    assert earliest is not None and earliest.external_id == "17918417666257115"
    assert replay_connector.find_published(_account(), PostContent(text=caption, media=[_image()]),
                                           datetime(2022, 4, 14, 15, 42, 0, tzinfo=UTC)) is None
    # a carousel with this caption was not published; nor a reel
    assert replay_connector.find_published(_account(), PostContent(text="This is caption. 😍", media=[_image()]),
                                           datetime(2022, 1, 17, 14, 0, tzinfo=UTC)) is None
    album = replay_connector.find_published(_account(), PostContent(text="This is caption. 😍",
                                                                    media=[_image(), _image()]),
                                            datetime(2022, 1, 17, 14, 0, tzinfo=UTC))
    assert album is not None and album.external_id == "18274402201021938"
    assert replay_connector.find_published(_account(), PostContent(text=caption, media=[_video("https://x/v.mp4")]),
                                           datetime(2022, 4, 14, 15, 20, 0, tzinfo=UTC)) is None


def test_metrics_from_recorded_insights(replay_connector: Any, replay: Any, recorded: Any) -> None:
    media = "17846368219941692"
    replay.add("GET", f"/{media}", {"id": media, "media_type": "IMAGE", "media_product_type": "FEED",
                                    "like_count": 4, "comments_count": 2, "timestamp": "2021-08-13T08:02:40+0000"})
    refused = recorded("airbyte_partial/media_insights_for_error_posted_before_business.json")
    replay.add("GET", f"/{media}/insights", refused, status=400,
               when=lambda r: r.url.params["metric"] == "reach,saved,shares,views")
    replay.add("GET", f"/{media}/insights", recorded("pyfacebook_apidata/medias/insights.json"),
               when=lambda r: r.url.params["metric"] == "impressions,reach,saved")
    (m,) = replay_connector.fetch_metrics(_account(), [media])
    assert (m.impressions, m.reach, m.saves, m.likes, m.comments) == (8, 5, 0, 4, 2)
    assert m.video_views is None and m.shares is None
    assert "insights_error" not in m.raw and m.raw["insights"]["data"][0]["name"] == "impressions"


def test_metrics_when_insights_are_refused_for_good(replay_connector: Any, replay: Any, recorded: Any) -> None:
    media = "17846368219941692"
    replay.add("GET", f"/{media}", {"id": media, "media_type": "IMAGE", "like_count": 1, "comments_count": 0})
    refused = recorded("airbyte_partial/media_insights_for_error_posted_before_business.json")
    replay.add("GET", f"/{media}/insights", refused, status=400, repeat=True)
    (m,) = replay_connector.fetch_metrics(_account(), [media])
    assert m.likes == 1 and m.impressions is None
    assert m.raw["insights_error"].startswith("The media was posted before the most recent time")


def test_album_and_new_style_insight_values(replay_connector: Any, replay: Any, recorded: Any) -> None:
    from clientnest_instagram.connector import _insight_values

    album = _insight_values(recorded("pyfacebook_legacy/media_album_insights.json"))
    assert album["carousel_album_impressions"] == 1513 and album["saved"] == 5
    assert _insight_values(recorded("pyfacebook_apidata/medias/insights_new.json")) == {"profile_activity": 11}
    media = "18274402201021938"
    replay.add("GET", f"/{media}", {"id": media, "media_type": "CAROUSEL_ALBUM", "like_count": 9, "comments_count": 1})
    replay.add("GET", f"/{media}/insights", {"error": {"message": "(#100) metric[3] must be one of ...", "code": 100}},
               status=400)
    replay.add("GET", f"/{media}/insights", recorded("pyfacebook_legacy/media_album_insights.json"))
    (m,) = replay_connector.fetch_metrics(_account(), [media])
    assert (m.impressions, m.reach, m.saves) == (1513, 1180, 5)


def test_comments_and_replies_from_recordings(replay_connector: Any, replay: Any, recorded: Any) -> None:
    media = "17846368219941692"
    page = recorded("pyfacebook_apidata/medias/comments_p1.json")
    page["data"][0]["replies"] = recorded("pyfacebook_apidata/comments/replies.json")
    replay.add("GET", f"/{media}/comments", page)
    result = replay_connector.fetch_comments(_account(), media)
    assert [c.external_id for c in result.comments] == ["17858154961981086", "17847314687296283", "17874875428706419"]
    assert result.comments[1].parent_external_id == "17858154961981086"
    assert result.comments[1].text == "@lixiangguodu123 nihao"
    assert result.comments[0].created_at == datetime(2020, 6, 1, 10, 56, 52, tzinfo=UTC)
    assert all(c.post_external_id == media for c in result.comments)
    assert result.next_cursor == "after"
    assert "replies{" in replay.requests[0].url.params["fields"]


def test_reply_reads_back_the_post_it_belongs_to(replay_connector: Any, replay: Any, recorded: Any) -> None:
    replay.add("POST", "/17858154961981086/replies", {"id": "17847314687296283"})
    replay.add("GET", "/17858154961981086", {"media": {"id": "17846368219941692"}, "id": "17858154961981086"})
    reply = replay_connector.reply(_account(), "17858154961981086", "@lixiangguodu123 nihao")
    assert replay.form(0)["message"] == "@lixiangguodu123 nihao"
    assert (reply.external_id, reply.post_external_id, reply.parent_external_id) == (
        "17847314687296283", "17846368219941692", "17858154961981086")
    assert reply.author_name == "sftest23894729"


def test_expired_token_during_a_publish_is_auth(replay_connector: Any, replay: Any) -> None:
    replay.add("POST", f"/{IG}/media", {"error": {
        "message": "Error validating access token: Session has expired on Monday, 19-Jun-23 06:29:46 PDT.",
        "type": "OAuthException", "code": 190, "error_subcode": 463}}, status=400)
    with pytest.raises(AuthError):
        replay_connector.publish(_account(), PostContent(text="x", media=[_image()]))


def test_what_is_refused_before_any_call(replay_connector: Any, replay: Any) -> None:
    with pytest.raises(PermanentError, match="need an image or a video"):
        replay_connector.publish(_account(), PostContent(text="text only"))
    with pytest.raises(PermanentError, match="public URL"):
        replay_connector.publish(_account(), PostContent(text="x", media=[
            MediaItem(id="local", kind="image", content_type="image/jpeg", size=1, read=lambda: b"")]))
    with pytest.raises(PermanentError, match="at most 10"):
        replay_connector.publish(_account(), PostContent(text="x", media=[_image()] * 11))
    with pytest.raises(PermanentError, match="cannot delete"):
        replay_connector.delete(_account(), "17903829641624005")
    assert replay.requests == []
