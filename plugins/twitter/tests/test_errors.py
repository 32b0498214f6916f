"""Classification of X's failures, fed with the error responses X really sent."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from clientnest.errors import AmbiguousError, AuthError, NotSentError, PermanentError
from clientnest_twitter.errors import classify_response, classify_transport, error_message, retry_at

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    # the recordings keep the wire's gzip and length headers; the bodies are decoded
    headers = {k: v for k, v in (headers or {}).items() if k.lower() not in ("content-encoding", "content-length")}
    if isinstance(body, (dict, list)):
        return httpx.Response(status, json=body, headers=headers)
    return httpx.Response(status, text=str(body), headers=headers)


@pytest.fixture(scope="module")
def captured(recorded: Path) -> dict[str, Any]:
    return json.loads((recorded / "captured_in_issues" / "errors.json").read_text())


@pytest.fixture(scope="module")
def postman(recorded: Path) -> dict[str, Any]:
    return json.loads((recorded / "postman_official" / "extracted_examples.json").read_text())


def test_429_problem_json_retries_at_the_rate_limit_reset(captured: dict[str, Any]) -> None:
    rec = captured["429_v2_problem_json"]
    err = classify_response(response(429, rec["body"], {"x-rate-limit-reset": "1682422975"}), now=NOW)
    assert isinstance(err, NotSentError)
    assert err.retry_at == datetime.fromtimestamp(1682422975, tz=UTC)
    assert err.status == 429 and "Too Many Requests" in err.message


def test_429_plain_text_of_older_api_is_classified_too(postman: dict[str, Any]) -> None:
    rec = postman["Single Tweet :: 429 Rate Limit Exceeded"]
    assert rec["headers"]["content-type"].startswith("text/plain")
    err = classify_response(response(429, rec["body"], rec["headers"]), now=NOW)
    assert isinstance(err, NotSentError)
    assert err.retry_at == datetime.fromtimestamp(int(rec["headers"]["x-rate-limit-reset"]), tz=UTC)
    assert "Rate limit exceeded" in err.message


def test_24_hour_post_cap_retries_at_its_own_reset() -> None:
    headers = {"x-rate-limit-reset": "1700000900", "x-user-limit-24hour-limit": "17",
               "x-user-limit-24hour-remaining": "0", "x-user-limit-24hour-reset": "1700080000"}
    err = classify_response(response(429, {"title": "Too Many Requests", "status": 429}, headers), now=NOW)
    assert isinstance(err, NotSentError)
    assert err.retry_at == datetime.fromtimestamp(1700080000, tz=UTC)


def test_403_duplicate_is_permanent_with_xs_message(captured: dict[str, Any]) -> None:
    rec = captured["403_duplicate_tweet"]
    err = classify_response(response(403, rec["body"], captured["403_duplicate_tweet_headers"]["headers"]))
    assert isinstance(err, PermanentError)
    assert err.message == "You are not allowed to create a Tweet with duplicate content."
    assert err.status == 403


def test_401_is_auth(captured: dict[str, Any], postman: dict[str, Any]) -> None:
    for body in (captured["401_v2"]["body"], postman["Retrieve Rules :: 401 Unauthorized"]["body"]):
        err = classify_response(response(401, body))
        assert isinstance(err, AuthError) and "Unauthorized" in err.message


def test_400_invalid_request_keeps_the_specific_message(captured: dict[str, Any]) -> None:
    err = classify_response(response(400, captured["400_invalid_request"]["body"]))
    assert isinstance(err, PermanentError)
    assert err.message == "Please include either text or media in your Tweet."
    assert err.code == "https://api.twitter.com/2/problems/invalid-request"


def test_403_client_not_enrolled_is_permanent(postman: dict[str, Any]) -> None:
    err = classify_response(response(403, postman["Add Rules :: 403 Forbidden - Client Not Enrolled"]["body"]))
    assert isinstance(err, PermanentError)
    assert "approved developer account" in err.message


def test_403_missing_scope_asks_to_reconnect() -> None:
    body = {"title": "Forbidden", "detail": "Missing scope(s) for this endpoint: media.write", "type": "about:blank", "status": 403}
    assert isinstance(classify_response(response(403, body)), AuthError)


@pytest.mark.parametrize("status", [500, 502, 504])
def test_5xx_is_ambiguous(status: int) -> None:
    err = classify_response(response(status, {"title": "Internal Server Error", "status": status}))
    assert isinstance(err, AmbiguousError) and err.status == status


def test_503_with_retry_after_is_not_sent_and_without_is_ambiguous() -> None:
    with_header = classify_response(response(503, {"title": "Service Unavailable"}, {"retry-after": "30"}), now=NOW)
    assert isinstance(with_header, NotSentError)
    assert with_header.retry_at == NOW + timedelta(seconds=30)
    assert isinstance(classify_response(response(503, {"title": "Service Unavailable"})), AmbiguousError)


def test_retry_after_as_http_date() -> None:
    r = response(503, "busy", {"retry-after": "Sun, 01 Mar 2026 12:05:00 GMT"})
    assert retry_at(r, NOW) == NOW + timedelta(minutes=5)


def test_oauth_refusals_are_auth_errors() -> None:
    body = {"error": "invalid_request", "error_description": "Value passed for the token was invalid."}
    err = classify_response(response(400, body), oauth=True)
    assert isinstance(err, AuthError) and "Value passed for the token was invalid." in err.message
    # the same body outside the token endpoint is just a bad request
    assert isinstance(classify_response(response(400, body)), PermanentError)


def test_success_is_no_error_even_with_partial_errors(recorded: Path) -> None:
    selected = json.loads((recorded / "academictwitteR_httptest" / "selected.json").read_text())
    partial = next(e for e in selected if e["status"] == 200 and "errors" in e["body"] and "data" in e["body"])
    assert classify_response(response(200, partial["body"])) is None
    assert error_message(partial["body"]).startswith("Could not find tweet with ids: [1].")


def _raising(exc: Exception) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc
    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), NotSentError),
        (httpx.ConnectError("[Errno -2] Name or service not known"), NotSentError),
        (httpx.ConnectTimeout("timed out"), NotSentError),
        (httpx.PoolTimeout("no connection"), NotSentError),
        (httpx.ReadTimeout("timed out"), AmbiguousError),
        (httpx.WriteTimeout("timed out"), AmbiguousError),
        (httpx.ReadError("[Errno 104] Connection reset by peer"), AmbiguousError),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), AmbiguousError),
    ],
)
def test_transport_failures(exc: httpx.TransportError, expected: type) -> None:
    with httpx.Client(transport=_raising(exc)) as client:
        with pytest.raises(httpx.TransportError) as info:
            client.post("https://api.x.com/2/tweets", json={"text": "x"})
    assert type(classify_transport(info.value)) is expected
