"""The connector against the responses Facebook really sent (replayed)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clientnest import Account, Credentials, MediaItem, PostContent
from clientnest.errors import PermanentError

PAGE = "110658944785122"


def _account(token: str = "PAGE_ACCESS_TOKEN_VALUE_REDACTED", page: str = PAGE) -> Account:
    return Account(page, Credentials(token), display_name="Sf-test", kind="page")


def test_facebook_login_exchanges_for_a_long_lived_token_then_lists_pages(
    replay_connector: Any, replay: Any, recorded: Any
) -> None:
    replay.add("GET", "/v12.0/oauth/access_token", recorded("pyfacebook_legacy/exchange_token.json"),
               when=lambda r: "code" in r.url.params)
    replay.add("GET", "/v12.0/oauth/access_token", recorded("pyfacebook_base/base_long_term_token.json"),
               when=lambda r: r.url.params.get("grant_type") == "fb_exchange_token")
    replay.add("GET", "/v12.0/me/accounts", recorded("pyfacebook_base/base_user_accounts_token.json"))
    before = datetime.now(UTC)
    accounts = replay_connector.complete_authorization("CODE", "https://app.example/cb", None)

    code, exchange, pages = replay.requests
    assert code.url.params["code"] == "CODE" and code.url.params["redirect_uri"] == "https://app.example/cb"
    assert code.url.params["client_id"] == "1234567890" and code.url.params["client_secret"] == "app-secret"
    assert exchange.url.params["fb_exchange_token"] == "access_token"  # the short-lived token
    assert pages.headers["Authorization"] == "Bearer token"  # the long-lived one lists the Pages
    (account,) = accounts
    assert account.external_id == "2121008874780932" and account.display_name == "MyLife"
    assert account.kind == "page"
    assert account.credentials.access_token == "access_token"  # the Page token, not the user's
    assert account.credentials.expires_at is None  # Page tokens from a long-lived user token do not expire
    user_expiry = datetime.fromisoformat(account.credentials.extra["user_token_expires_at"])
    assert before + timedelta(seconds=5184000 - 5) <= user_expiry <= datetime.now(UTC) + timedelta(seconds=5184000)
    assert "CREATE_CONTENT" in account.extra["tasks"]


def test_page_listing_follows_the_after_cursor(replay_connector: Any, replay: Any, recorded: Any) -> None:
    replay.add("GET", "/me/accounts", recorded("pyfacebook_apidata/users/user_accounts_p1.json"),
               when=lambda r: "after" not in r.url.params)
    replay.add("GET", "/me/accounts", recorded("pyfacebook_apidata/users/user_accounts_p2.json"),
               when=lambda r: r.url.params.get("after") == "after")
    accounts = replay_connector.connect_with_token({"access_token": "system-user-token"})
    assert [a.external_id for a in accounts] == ["123", "1234", "123512", "1234624", "123456", "12345678"]
    assert len(accounts) == recorded("pyfacebook_apidata/users/user_accounts_p1.json")["summary"]["total_count"]
    assert "graph.facebook.com/v11.0" not in str(replay.requests[1].url)  # never the recorded `next` URL
    one = replay_connector  # a page_id narrows the choice
    replay.add("GET", "/me/accounts", recorded("pyfacebook_apidata/users/user_accounts_p2.json"))
    assert [a.display_name for a in one.connect_with_token({"access_token": "t", "page_id": "12345678"})] == ["DDDDDDDD"]


def test_pages_listed_without_a_token_are_not_offered(replay_connector: Any, replay: Any, interaction: Any) -> None:
    _, headers, body = interaction("social-media_publishing-profiles__facebook.recording.json", "GET", "/me/accounts")
    replay.add("GET", "/me/accounts", body, headers=headers)
    with pytest.raises(PermanentError, match="manages no Facebook Pages"):
        replay_connector.connect_with_token({"access_token": "user-token"})


def test_video_goes_to_the_video_host_and_its_relative_permalink_is_made_absolute(
    replay_connector: Any, replay: Any, interaction: Any
) -> None:
    rec = "social-media_upload-from-url__facebook.recording.json"
    _, up_headers, uploaded = interaction(rec, "POST", "/videos")
    _, pub_headers, published = interaction(rec, "POST", "/v12.0/1042961149725000")
    replay.add("POST", f"/v12.0/{PAGE}/videos", uploaded, headers=up_headers)
    replay.add("GET", "/v12.0/1042961149725000", published, headers=pub_headers)
    video = MediaItem(id="m1", kind="video", content_type="video/mp4", size=100,
                      url="https://download.samplelib.com/mp4/sample-5s.mp4")
    result = replay_connector.publish(_account("EAA_REDACTED_BY_FIXTURE_COPY"),
                                      PostContent(text="Single video from Superface Station.", media=[video]))
    assert replay.requests[0].url.host == "graph-video.facebook.com"
    sent = replay.form(0)
    assert sent["file_url"] == video.url and sent["description"] == "Single video from Superface Station."
    assert result.external_id == "1042961149725000"
    assert result.url == "https://www.facebook.com/175657278317538/videos/1042961149725000"


def test_lookup_finds_exactly_the_recorded_post(replay_connector: Any, replay: Any, interaction: Any) -> None:
    _, headers, feed = interaction("social-media_posts__facebook.recording.json", "GET", "/feed")
    replay.add("GET", f"/{PAGE}/feed", feed, headers=headers, repeat=True)
    account = _account()

    found = replay_connector.find_published(account, PostContent(text="test x"),
                                            datetime(2023, 2, 13, 8, 47, 20, tzinfo=UTC))
    assert found is not None and found.external_id == "110658944785122_206586845224581"
    assert found.url == "https://www.facebook.com/206586848557914/posts/206586845224581"
    assert found.published_at == datetime(2023, 2, 13, 8, 47, 26, tzinfo=UTC)
    assert replay.requests[0].url.params["since"] == str(int(datetime(2023, 2, 13, 8, 47, 15, tzinfo=UTC).timestamp()))

    # three "Hello world!" posts in the feed: only the one at or after `since` counts
    hello = replay_connector.find_published(account, PostContent(text="Hello world!"),
                                            datetime(2021, 12, 6, 13, 49, 0, tzinfo=UTC))
    assert hello is not None and hello.external_id == "110658944785122_112599784591038"
    earliest = replay_connector.find_published(account, PostContent(text="Hello world!"),
                                               datetime(2021, 12, 6, 13, 30, 0, tzinfo=UTC))
    assert earliest is not None and earliest.external_id == "110658944785122_112595464591470"
    assert replay_connector.find_published(account, PostContent(text="Hello world!"),
                                           datetime(2021, 12, 6, 13, 50, 0, tzinfo=UTC)) is None
    assert replay_connector.find_published(account, PostContent(text="test"),
                                           datetime(2023, 2, 13, 8, 0, tzinfo=UTC)) is None


def test_lookup_matches_the_kind_of_media(replay_connector: Any, replay: Any, interaction: Any) -> None:
    _, headers, feed = interaction("social-media_posts__facebook.recording.json", "GET", "/feed")
    replay.add("GET", f"/{PAGE}/feed", feed, headers=headers, repeat=True)
    since = datetime(2021, 12, 6, 13, 49, 0, tzinfo=UTC)
    link = PostContent(text="Sitta carolinensis", link="https://upload.wikimedia.org/x.jpg")
    found = replay_connector.find_published(_account(), link, since)
    assert found is not None and found.external_id == "110658944785122_112599761257707"
    photo = MediaItem(id="1", kind="image", content_type="image/jpeg", size=1, url="https://x/y.jpg")
    # the recorded posts are link shares, not photos: a photo post was not published
    assert replay_connector.find_published(_account(), PostContent(text="Sitta carolinensis", media=[photo]),
                                           since) is None


def test_comments_without_ids_get_them_from_their_permalinks(
    replay_connector: Any, replay: Any, recorded: Any
) -> None:
    post = "19292868552_10158407654328553"
    replay.add("GET", f"/{post}/comments", recorded("pyfacebook_apidata/comments/comments_p1.json"),
               when=lambda r: "after" not in r.url.params)
    replay.add("GET", f"/{post}/comments", recorded("pyfacebook_apidata/comments/comments_p2.json"),
               when=lambda r: r.url.params.get("after") == "after")
    first = replay_connector.fetch_comments(_account(page="19292868552"), post)
    assert len(first.comments) == 10 and first.next_cursor == "after"
    top = first.comments[0]
    assert top.external_id == "10158407654328553_10158407835073553" and top.parent_external_id is None
    assert top.post_external_id == post
    assert top.created_at == datetime(2021, 8, 10, 18, 45, 3, tzinfo=UTC)
    reply = first.comments[5]
    assert reply.external_id == "10158407654328553_10158409983033553"
    assert reply.parent_external_id == "10158407654328553_10158407903973553"
    second = replay_connector.fetch_comments(_account(page="19292868552"), post, first.next_cursor)
    assert len(second.comments) == 5 and second.next_cursor is None  # no `next`: the last page
    params = replay.requests[0].url.params
    assert params["filter"] == "stream" and params["order"] == "chronological"


def test_comments_with_ids_and_authors(replay_connector: Any, replay: Any, recorded: Any) -> None:
    post = "2121008874780932_2498613793687103"
    replay.add("GET", f"/{post}/comments", recorded("pyfacebook_legacy/comment_by_parent_p1.json"))
    page = replay_connector.fetch_comments(_account(page="2121008874780932"), post)
    assert [c.external_id for c in page.comments][:2] == [
        "2498598377021978_2498617433686739", "2498598377021978_2499265936955222"]
    assert page.comments[1].text == "中午要吃俩鸡腿？" and page.comments[1].author_name == "杨佳名"
    assert page.comments[0].author_id == "2711636948859886"
    assert page.next_cursor == "token"


def test_reply_returns_the_created_comment(replay_connector: Any, replay: Any, recorded: Any) -> None:
    replay.add("POST", "/245778718206154_229880000000000/comments", recorded("pyfacebook_apidata/comments/create_resp.json"))
    reply = replay_connector.reply(_account(page="245628824887810"), "245778718206154_229880000000000", "Thanks!")
    assert replay.form(0)["message"] == "Thanks!"
    assert reply.external_id == "245778718206154_229887283291835"
    assert reply.parent_external_id == "245778718206154_229880000000000"
    assert reply.post_external_id == "245628824887810_245778718206154"
    assert reply.created_at == datetime(2023, 7, 14, 10, 45, 55, tzinfo=UTC)
    assert reply.author_id == "245628824887810"


def test_metrics_keep_the_counts_when_insights_are_refused(
    replay_connector: Any, replay: Any, recorded: Any
) -> None:
    post = "175154750010052_424924701699721"
    replay.add("GET", f"/{post}", recorded("pyfacebook_apidata/posts/single_post_data.json"))
    replay.add("GET", f"/{post}/insights", recorded("pyfacebook_base/base_error_data.json"), status=400)
    (m,) = replay_connector.fetch_metrics(_account(page="175154750010052"), [post])
    assert m.external_id == post
    assert m.likes == 1  # reactions.summary.total_count
    assert m.comments == 0 and m.shares == 0
    assert m.impressions is None and m.reach is None
    assert "pages_read_engagement" in m.raw["insights_error"]


def test_metrics_skip_posts_that_are_gone(replay_connector: Any, replay: Any, interaction: Any) -> None:
    status, headers, body = interaction("social-media_publish-post__facebook.recording.json", "GET", "/v12.0/4?")
    replay.add("GET", "/v12.0/4", body, status=status, headers=headers)
    assert replay_connector.fetch_metrics(_account(), ["4"]) == []


def test_delete_of_an_unknown_object_fails_with_the_platforms_message(
    replay_connector: Any, replay: Any, interaction: Any
) -> None:
    status, headers, body = interaction("social-media_publish-post__facebook.recording.json", "GET", "/v12.0/4?")
    replay.add("DELETE", "/v12.0/4", body, status=status, headers=headers)
    with pytest.raises(PermanentError, match="Object with ID '4' does not exist"):
        replay_connector.delete(_account(), "4")
