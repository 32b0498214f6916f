"""The connector against LinkedIn's recorded real responses (``recordings/``).

A small WSGI app replays the recorded interactions over HTTP: a request is
answered with the recorded status, headers and body of the first interaction
with the same method and resource (the URN in the path decoded, the ``/v2`` or
``/rest`` prefix ignored, and the ``author``, ``start`` and ``action``
parameters equal); ``count`` and ``sortBy`` are ignored, since the recordings
were made by another client. Upload URLs in recorded bodies are pointed at the
replay. A request with no recording gets a 599 and fails the test.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from werkzeug.wrappers import Request, Response

from clientnest import Account, Credentials, MediaItem, PostContent
from clientnest.errors import PermanentError
from clientnest.testing.server import serve
from clientnest_linkedin import LinkedInConnector
from clientnest_linkedin.versions import default_api_version

ORG = "urn:li:organization:2414183"
_MATCHED_PARAMS = ("author", "start", "action", "q")
_HOP_HEADERS = {"content-length", "content-encoding", "transfer-encoding", "connection"}


def _key(method: str, url: str) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    parts = urlsplit(url)
    path = unquote(parts.path)
    for prefix in ("/rest", "/v2"):
        if path.startswith(prefix + "/"):
            path = path[len(prefix):]
            break
    params = {k: v for k, v in parse_qsl(parts.query) if k in _MATCHED_PARAMS}
    if method.upper() == "GET":
        params.setdefault("start", "0")  # LinkedIn's default
    return method.upper(), path, tuple(sorted(params.items()))


class Replay:
    """Answers with recorded interactions; keeps what it received."""

    def __init__(self, interactions: list[dict[str, Any]]) -> None:
        self.interactions = interactions
        self.used: set[int] = set()
        self.received: list[dict[str, Any]] = []
        self.misses: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        raw = environ.get("REQUEST_URI") or request.full_path
        body = request.get_data()
        self.received.append({"method": request.method, "raw_uri": raw, "headers": dict(request.headers),
                              "body": body, "json": request.get_json(silent=True)})
        want = _key(request.method, raw)
        for i, rec in enumerate(self.interactions):
            # writes are answered once each, in order; reads as often as asked
            if i in self.used or _key(rec["method"], rec["url"]) != want:
                continue
            if rec["method"] != "GET":
                self.used.add(i)
            return self._answer(rec, request)(environ, start_response)
        self.misses.append(f"{request.method} {raw}")
        return Response(json.dumps({"message": f"no recording for {request.method} {raw}"}), 599,
                        content_type="application/json")(environ, start_response)

    @staticmethod
    def _answer(rec: dict[str, Any], request: Request) -> Response:
        headers = [(k, v) for k, v in rec["response_headers"] if k.lower() not in _HOP_HEADERS]
        body = rec["response_body"]
        text = body if isinstance(body, str) else json.dumps(body)
        text = text.replace("https://www.linkedin.com/", request.url_root)
        return Response(text, rec["status"], headers=headers)


@pytest.fixture
def replay(recording: Callable[[str], Any]) -> Iterator[Callable[..., tuple[Replay, LinkedInConnector]]]:
    """``replay(file, indexes=None)``: a connector pointed at a replay of those interactions."""
    opened: list[Any] = []

    def start(name: str, indexes: list[int] | None = None) -> tuple[Replay, LinkedInConnector]:
        interactions = recording(name)["interactions"]
        if indexes is not None:
            interactions = [interactions[i] for i in indexes]
        app = Replay(interactions)
        ctx = serve(app)
        url = ctx.__enter__()
        opened.append(ctx)
        connector = LinkedInConnector(LinkedInConnector.config_schema.validate("linkedin", {
            "api_base": url, "oauth_base": url, "client_id": "id", "client_secret": "secret",
            "clock_skew_seconds": 0}))
        opened.append(connector)
        return app, connector

    yield start
    for item in reversed(opened):
        if isinstance(item, LinkedInConnector):
            item.close()
        else:
            item.__exit__(None, None, None)


def _account(urn: str = ORG) -> Account:
    return Account(external_id=urn, credentials=Credentials(access_token="AQV_REDACTED"),
                   kind="organization" if "organization" in urn else "person")


def _jpeg(i: int) -> MediaItem:
    data = b"\xff\xd8\xff\xe0" + bytes([i]) * 64
    return MediaItem(id=f"j{i}", kind="image", content_type="image/jpeg", size=len(data), read=lambda: data)


def _ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def test_text_post(replay: Callable[..., tuple[Replay, LinkedInConnector]],
                   recording: Callable[[str], Any]) -> None:
    app, connector = replay("publish-post.json", [0])
    result = connector.publish(_account(), PostContent(text="Test from Superface Station 10"))
    assert result.external_id == "urn:li:share:7034659181546627072"
    [sent] = app.received
    # the request LinkedIn accepted, byte for byte in meaning
    assert sent["json"] == recording("publish-post.json")["interactions"][0]["request_body"]
    assert sent["headers"]["Linkedin-Version"] == default_api_version()
    assert sent["headers"]["X-Restli-Protocol-Version"] == "2.0.0"
    assert sent["headers"]["Authorization"] == "Bearer AQV_REDACTED"
    assert app.misses == []


def test_link_post(replay: Callable[..., tuple[Replay, LinkedInConnector]],
                   recording: Callable[[str], Any]) -> None:
    app, connector = replay("publish-post.json", [1])
    text = "This is a post with a link to an example domain..."
    result = connector.publish(_account(), PostContent(text=text, link="https://www.example.com"))
    assert result.external_id == "urn:li:share:7034659186114228224"
    recorded = recording("publish-post.json")["interactions"][1]["request_body"]
    sent = app.received[0]["json"]
    # LinkedIn's card title comes from the page; without fetching it we send the host
    assert sent["content"]["article"]["source"] == recorded["content"]["article"]["source"]
    assert {**sent, "content": recorded["content"]} == recorded


def test_one_image(replay: Callable[..., tuple[Replay, LinkedInConnector]]) -> None:
    app, connector = replay("publish-post.json", [11, 12, 13])
    result = connector.publish(_account(), PostContent(text="This is a post with one image", media=[_jpeg(1)]))
    assert result.external_id == "urn:li:share:7034659197531095040"
    assert result.extra_ids["images"] == ["urn:li:image:C4E10AQHWQ0aaJmFOsw"]
    init, put, post = app.received
    assert init["json"] == {"initializeUploadRequest": {"owner": ORG}}
    assert put["method"] == "PUT" and put["raw_uri"].startswith("/dms-uploads/C4E10AQHWQ0aaJmFOsw/uploaded-image/0?")
    assert put["body"] == _jpeg(1).read() and put["headers"]["Authorization"] == "Bearer AQV_REDACTED"
    assert post["json"]["content"] == {"media": {"id": "urn:li:image:C4E10AQHWQ0aaJmFOsw"}}
    assert app.misses == []


def test_multi_image(replay: Callable[..., tuple[Replay, LinkedInConnector]]) -> None:
    app, connector = replay("publish-post.json", [14, 15, 16, 17, 18])
    result = connector.publish(_account(), PostContent(text="This is a post with two images",
                                                       media=[_jpeg(1), _jpeg(2)]))
    assert result.external_id == "urn:li:ugcPost:7034659212542496768"
    post = app.received[-1]["json"]
    assert post["content"] == {"multiImage": {"images": [
        {"id": "urn:li:image:C4E10AQFp6V8ffUxnTw"}, {"id": "urn:li:image:C4E10AQGnbMuf1-EpHQ"}]}}
    assert app.misses == []


def test_recorded_422(replay: Callable[..., tuple[Replay, LinkedInConnector]]) -> None:
    _, connector = replay("publish-post.json", [10])
    with pytest.raises(PermanentError) as info:
        connector.publish(_account("4"), PostContent(text="Test media publishing from Superface Station."))
    assert type(info.value) is PermanentError and info.value.status == 422
    assert info.value.message.startswith("ERROR :: /author :: Urn doesn't start with 'urn:'. Urn: 4")


def test_organizations_from_recorded_acls(replay: Callable[..., tuple[Replay, LinkedInConnector]],
                                          recording: Callable[[str], Any]) -> None:
    app, connector = replay("publishing-profiles.json")
    # userinfo was not recorded; this body follows LinkedIn's documented OpenID shape
    app.interactions.append({"method": "GET", "url": "https://api.linkedin.com/v2/userinfo", "status": 200,
                             "response_headers": [["Content-Type", "application/json"]],
                             "response_body": {"sub": "QIMLoK7PG6", "name": "Station Tester",
                                               "given_name": "Station", "family_name": "Tester"}})
    accounts = connector.connect_with_token({"access_token": "AQV_REDACTED"})
    assert [(a.external_id, a.display_name, a.username, a.kind) for a in accounts] == [
        ("urn:li:person:QIMLoK7PG6", "Station Tester", None, "person"),
        ("urn:li:organization:80893183", "sf-test", "sf-test-1", "organization"),
    ]
    acl = next(r for r in app.received if "organizationAcls" in r["raw_uri"])
    assert "q=roleAssignee" in acl["raw_uri"] and "role=ADMINISTRATOR" in acl["raw_uri"]
    assert "state=APPROVED" in acl["raw_uri"]


def test_lookup_finds_the_earliest_exact_match(replay: Callable[..., tuple[Replay, LinkedInConnector]]) -> None:
    app, connector = replay("posts.json")
    # three posts say "Test from Superface Station 10"; two were created after `since`
    found = connector.find_published(_account(), PostContent(text="Test from Superface Station 10"),
                                     _ms(1677192700000))
    assert found is not None and found.external_id == "urn:li:share:7034656090705285120"
    assert found.published_at == _ms(1677192709696)
    # it followed the recorded `next` link and stopped once posts were older than `since`
    starts = [dict(parse_qsl(urlsplit(r["raw_uri"]).query))["start"] for r in app.received]
    assert starts == ["0", "10"]
    assert app.misses == []


def test_lookup_compares_after_the_same_escaping(replay: Callable[..., tuple[Replay, LinkedInConnector]]) -> None:
    _, connector = replay("posts.json")
    text = "eiusmod magna dolore sed et Lorem adipiscing aliqua elit, tempor amet @ 1677196226720"
    found = connector.find_published(_account(), PostContent(text=text), _ms(1677196000000))
    # LinkedIn gave the commentary back escaped ("\@"), as it had been sent
    assert found is not None and found.external_id == "urn:li:share:7034670843116879873"


def test_lookup_matches_the_kind_of_content(replay: Callable[..., tuple[Replay, LinkedInConnector]]) -> None:
    _, connector = replay("posts.json")
    since = _ms(1677193000000)
    two = PostContent(text="This is a post with two images", media=[_jpeg(1), _jpeg(2)])
    found = connector.find_published(_account(), two, since)
    assert found is not None and found.external_id == "urn:li:ugcPost:7034659212542496768"
    # the single-image post with that text is older than `since`
    one = PostContent(text="This is a post with two images", media=[_jpeg(1)])
    assert connector.find_published(_account(), one, since) is None
    video = MediaItem(id="v", kind="video", content_type="video/mp4", size=1, read=lambda: b"v")
    found = connector.find_published(_account(), PostContent(text="a great video post here!", media=[video]),
                                     _ms(1677211000000))
    assert found is not None and found.external_id == "urn:li:ugcPost:7034735182234443776"
    assert connector.find_published(_account(), PostContent(text="a great video post here!"),
                                    _ms(1677211000000)) is None


def test_lookup_of_a_member_without_member_permissions(
    replay: Callable[..., tuple[Replay, LinkedInConnector]]
) -> None:
    _, connector = replay("posts.json")
    with pytest.raises(PermanentError, match="r_member_social") as info:
        connector.find_published(_account("urn:li:person:QIMLoK7PG6"), PostContent(text="x"), _ms(0))
    assert "Member permissions must be used when using member as author" in info.value.message


def test_recorded_comments(replay: Callable[..., tuple[Replay, LinkedInConnector]]) -> None:
    app, connector = replay("replies.json")
    post = "urn:li:activity:6905096044615405568"
    page = connector.fetch_comments(_account("urn:li:organization:81974063"), post)
    assert [(c.external_id, c.text, c.author_id) for c in page.comments] == [
        (f"urn:li:comment:({post},6930467700934590464)", "rabbit", "urn:li:organization:81974063"),
        (f"urn:li:comment:({post},6930466642367774720)", "cats", "urn:li:organization:81974063"),
    ]
    assert page.comments[0].created_at == _ms(1652352261767)
    assert page.comments[0].post_external_id == post and page.comments[0].parent_external_id is None
    assert page.next_cursor is None  # total 2, no next link
    [sent] = app.received
    assert sent["raw_uri"].startswith("/rest/socialActions/urn%3Ali%3Aactivity%3A6905096044615405568/comments?")
