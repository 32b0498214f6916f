"""The connector against responses X really sent, replayed through httpx.

Each test queues recorded interactions (method, path, status, headers, body);
a request with no queued answer fails the test, so the connector can only
succeed by making the calls X was recorded answering.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from clientnest import Account, Credentials, PostContent
from clientnest.errors import NotSentError, PermanentError
from clientnest_twitter import TwitterConnector

ACCOUNT = Account(external_id="1466796521412771840", username="superface_test",
                  credentials=Credentials(access_token="recorded-token", refresh_token="recorded-refresh"))


def _headers(raw: Any) -> dict[str, str]:
    pairs = raw.items() if isinstance(raw, dict) else raw
    out = {}
    for key, value in pairs:
        value = value[0] if isinstance(value, list) else value
        # bodies in the recordings are decoded: drop the wire encoding headers
        if key.lower() not in ("content-encoding", "content-length", "transfer-encoding"):
            out[key] = str(value)
    return out


class Replay:
    """An httpx transport answering queued recordings in order."""

    def __init__(self) -> None:
        self.queue: list[tuple[str, str, int, dict[str, str], Any]] = []
        self.requests: list[httpx.Request] = []

    def add(self, method: str, url: str, status: int, headers: Any, body: Any) -> Replay:
        self.queue.append((method.upper(), urlsplit(url).path, status, _headers(headers), body))
        return self

    def tweepy(self, recorded: Path, name: str) -> Replay:
        for i in json.loads((recorded / "decoded" / f"{name}.json").read_text()):
            r = i["response"]
            self.add(i["request"]["method"], i["request"]["uri"], r["status"]["code"], r["headers"], r["body"])
        return self

    def superface(self, recorded: Path, name: str, pick: Callable[[dict[str, Any]], bool] = lambda i: True) -> Replay:
        for i in json.loads((recorded / "superface_station" / f"{name}.recording.json").read_text())["interactions"]:
            if pick(i):
                self.add(i["method"], i["url"], i["status"], i["response_headers"], i["response_body"])
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        for index, (method, path, status, headers, body) in enumerate(self.queue):
            if method == request.method and path == request.url.path:
                del self.queue[index]
                if isinstance(body, (dict, list)):
                    return httpx.Response(status, json=body, headers=headers)
                return httpx.Response(status, text=body or "", headers=headers)
        pytest.fail(f"no recorded answer for {request.method} {request.url}")

    def connector(self, **config: Any) -> TwitterConnector:
        raw = {"client_id": "recorded-client", "api_base": "https://api.twitter.com", **config}
        return TwitterConnector(TwitterConnector.config_schema.validate("twitter", raw),
                                transport=httpx.MockTransport(self))


def test_publish_and_delete(recorded: Path) -> None:
    replay = Replay().tweepy(recorded, "test_client_create_and_delete_tweet")
    connector = replay.connector()
    result = connector.publish(ACCOUNT, PostContent(text="Test Tweet"))
    assert result.external_id == "1456012973835788293"
    assert result.url == "https://x.com/superface_test/status/1456012973835788293"
    sent = replay.requests[0]
    assert json.loads(sent.content) == {"text": "Test Tweet"}
    assert sent.headers["authorization"] == "Bearer recorded-token"
    connector.delete(ACCOUNT, result.external_id)
    assert replay.requests[1].method == "DELETE" and replay.requests[1].url.path == "/2/tweets/1456012973835788293"
    assert replay.queue == []


def test_connect_with_token_reads_the_user(recorded: Path) -> None:
    replay = Replay().superface(recorded, "social-media_publishing-profiles__twitter")
    [account] = replay.connector().connect_with_token({"access_token": "tok", "expires_in": 7200})
    assert (account.external_id, account.username, account.display_name) == ("1466796521412771840", "superface_test", "SF Tester")
    assert account.extra["profile_image_url"].startswith("https://pbs.twimg.com/")
    assert account.credentials.expires_at is not None


def test_publish_then_refused_empty_post(recorded: Path) -> None:
    replay = Replay().superface(recorded, "social-media_publish-post__twitter", lambda i: i["method"] == "POST")
    connector = replay.connector()
    assert connector.publish(ACCOUNT, PostContent(text="Test from Superface Station 7.")).external_id == "1528693514527199232"
    with pytest.raises(PermanentError, match="Please include either text or media in your Tweet."):
        connector.publish(ACCOUNT, PostContent(text=""))


def test_refresh_rotates_the_refresh_token(recorded: Path) -> None:
    replay = Replay().superface(recorded, "oauth2_refresh-token__twitter")
    connector = replay.connector(client_secret="recorded-secret")
    before = datetime.now(UTC)
    creds = connector.refresh(ACCOUNT)
    assert creds.access_token == "XXX_ACCESS_TOKEN_REDACTED_XXX"
    assert creds.refresh_token == "XXX_REFRESH_TOKEN_REDACTED_XXX"
    assert creds.extra["scope"] == "tweet.write users.read tweet.read offline.access"
    assert before + timedelta(seconds=7190) < creds.expires_at < datetime.now(UTC) + timedelta(seconds=7201)
    form = parse_qs(replay.requests[0].content.decode())
    assert form["grant_type"] == ["refresh_token"] and form["refresh_token"] == ["recorded-refresh"]
    assert replay.requests[0].headers["authorization"].startswith("Basic ")  # a confidential client


def _timeline(recorded: Path) -> Replay:
    """The recorded account's own timeline, then the empty page that ends it
    (the shape X sends for an empty page, recorded by academictwitteR)."""
    replay = Replay().superface(recorded, "social-media_posts__twitter", lambda i: "/tweets" in i["url"])
    selected = json.loads((recorded / "academictwitteR_httptest" / "selected.json").read_text())
    empty = next(e for e in selected if e["body"] == {"meta": {"result_count": 0, "previous_token": "ONJNUDKPE5QEIZZZ"}})
    return replay.add("GET", "https://api.twitter.com/2/users/1466796521412771840/tweets", 200, {}, empty["body"])


def test_lookup_finds_the_recorded_post(recorded: Path) -> None:
    replay = _timeline(recorded)
    found = replay.connector().find_published(
        ACCOUNT, PostContent(text="Test from Superface Station 7."), datetime(2022, 1, 20, tzinfo=UTC))
    assert found is not None and found.external_id == "1484080952548732930"
    assert found.published_at == datetime(2022, 1, 20, 8, 30, 46, tzinfo=UTC)
    first, second = replay.requests
    assert parse_qs(first.url.query.decode())["start_time"] == ["2022-01-20T00:00:00Z"]
    # the second page asked for the recorded next_token
    assert parse_qs(second.url.query.decode())["pagination_token"] == ["7140dibdnow9c7btw3z3q3h3prhxkvpxouunsp2orvk8h"]


@pytest.mark.parametrize(
    ("text", "media", "since", "expected"),
    [
        ("Test from Superface Station.", 0, datetime(2022, 1, 19, tzinfo=UTC), "1483839727061061633"),
        # the same text exists, but before `since`: not ours
        ("Test from Superface Station 7.", 0, datetime(2022, 1, 20, 8, 31, tzinfo=UTC), None),
        # a prefix of a recorded post is another post
        ("Test from Superface", 0, datetime(2022, 1, 1, tzinfo=UTC), None),
        # exact among near-duplicates
        ('{"temperature":3,"feelsLike":1,"description":"Overcast"}', 0, datetime(2022, 1, 1, tzinfo=UTC), "1486051381173751811"),
        # a post with a photo, recorded without entities: only a weak match, and it is the single one
        ("Goro", 1, datetime(2022, 1, 1, tzinfo=UTC), "1483386067801841665"),
        ("Goro", 0, datetime(2022, 1, 1, tzinfo=UTC), None),
    ],
)
def test_lookup_is_exact_on_the_recorded_timeline(recorded: Path, text: str, media: int, since: datetime,
                                                  expected: str | None) -> None:
    from clientnest import MediaItem

    items = [MediaItem(id=f"m{i}", kind="image", content_type="image/jpeg", size=1) for i in range(media)]
    found = _timeline(recorded).connector().find_published(ACCOUNT, PostContent(text=text, media=items), since)
    assert (found.external_id if found else None) == expected


def test_metrics_from_a_200_with_partial_errors(recorded: Path) -> None:
    selected = json.loads((recorded / "academictwitteR_httptest" / "selected.json").read_text())
    entry = next(e for e in selected if e["file"].endswith("tweets-0ee54c.R"))
    replay = Replay().add("GET", entry["url"], 200, entry["rate_headers"], entry["body"])
    ids = [str(i) for i in range(1, 10)] + [t["id"] for t in entry["body"]["data"]]
    metrics = replay.connector().fetch_metrics(ACCOUNT, ids)
    assert [m.external_id for m in metrics] == [t["id"] for t in entry["body"]["data"]]  # not found: left out
    first = metrics[0]
    assert (first.likes, first.comments, first.shares, first.impressions, first.reach) == (0, 0, 100, None, None)
    assert first.raw["public_metrics"]["retweet_count"] == 100
    query = parse_qs(replay.requests[0].url.query.decode())
    assert "public_metrics" in query["tweet.fields"][0] and "non_public_metrics" in query["tweet.fields"][0]


def test_metrics_skip_a_deleted_post(recorded: Path) -> None:
    examples = json.loads((recorded / "postman_official" / "extracted_examples.json").read_text())
    rec = examples["Multiple Tweets :: 200 Success - 1 Deleted, 1 Valid Tweet"]
    metrics = Replay().add("GET", "https://api.twitter.com/2/tweets", 200, rec["headers"], rec["body"]).connector() \
        .fetch_metrics(ACCOUNT, ["20", "1276230436478386177"])
    assert [m.external_id for m in metrics] == ["20"]


def test_comments_from_a_recorded_search(recorded: Path) -> None:
    selected = json.loads((recorded / "academictwitteR_httptest" / "selected.json").read_text())
    entry = next(e for e in selected if e["file"].endswith("search/all-0336e6.R"))
    replay = Replay().add("GET", "https://api.twitter.com/2/tweets/search/all", 200, entry["rate_headers"], entry["body"])
    post_id = "1402982550675488784"
    page = replay.connector(search_scope="all").fetch_comments(ACCOUNT, post_id)
    assert page.next_cursor is None  # the recorded meta has no next_token
    assert len(page.comments) == entry["body"]["meta"]["result_count"]
    reply = next(c for c in page.comments if c.external_id == "1403292134736814082")
    assert reply.author_id == "1238776140094996481" and reply.author_name == "Sponobil"
    assert reply.parent_external_id == "1403196903794294784"
    assert reply.created_at == datetime(2021, 6, 11, 10, 4, 51, tzinfo=UTC)
    assert parse_qs(replay.requests[0].url.query.decode())["query"] == [f"conversation_id:{post_id}"]


def test_comments_page_on_with_the_recorded_next_token(recorded: Path) -> None:
    replay = Replay().tweepy(recorded, "test_client_search_recent_tweets")
    page = replay.connector().fetch_comments(ACCOUNT, "1578511538419212288")
    assert page.next_cursor == "b26v89c19zqg8o3fpzbn1e0ffhxjiofzw6po136rvbnul"
    assert len(page.comments) == 9  # the post itself is not a comment on it


def test_reply_reads_the_comment_then_posts(recorded: Path) -> None:
    replay = Replay().tweepy(recorded, "test_client_get_tweet").tweepy(recorded, "test_client_create_and_delete_tweet")
    reply = replay.connector().reply(ACCOUNT, "1293593516040269825", "Test Tweet")
    assert reply.external_id == "1456012973835788293" and reply.parent_external_id == "1293593516040269825"
    assert json.loads(replay.requests[1].content) == {"text": "Test Tweet", "reply": {"in_reply_to_tweet_id": "1293593516040269825"}}


def test_recorded_refusals_raise_their_classes(recorded: Path) -> None:
    captured = json.loads((recorded / "captured_in_issues" / "errors.json").read_text())
    dup = captured["403_duplicate_tweet"]
    replay = Replay().add("POST", "https://api.twitter.com/2/tweets", 403,
                          captured["403_duplicate_tweet_headers"]["headers"], dup["body"])
    with pytest.raises(PermanentError) as info:
        replay.connector().publish(ACCOUNT, PostContent(text="again"))
    assert info.value.message == dup["body"]["detail"]
    examples = json.loads((recorded / "postman_official" / "extracted_examples.json").read_text())
    limited = examples["Single Tweet :: 429 Rate Limit Exceeded"]
    replay = Replay().add("GET", "https://api.twitter.com/2/tweets/1", 429, limited["headers"], limited["body"])
    with pytest.raises(NotSentError) as info2:
        replay.connector().reply(ACCOUNT, "1", "hi")
    assert info2.value.retry_at == datetime.fromtimestamp(int(limited["headers"]["x-rate-limit-reset"]), tz=UTC)
