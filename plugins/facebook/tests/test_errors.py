"""Error classification, from the Graph error bodies the platform really sent."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from clientnest import Account, Credentials, PostContent
from clientnest.errors import AmbiguousError, AuthError, NotSentError, PermanentError
from clientnest_facebook.graph import GraphClient, classify_error, retry_at_from_headers

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _captured(recorded: Any, key: str) -> dict[str, Any]:
    return recorded("captured_in_issues/errors.json")[key]["body"]


def test_expired_token_190_463_is_auth(recorded: Any) -> None:
    exc = classify_error(400, _captured(recorded, "190_463_expired"), {}, "POST")
    assert isinstance(exc, AuthError)
    assert exc.code == 190 and exc.status == 400
    assert exc.message.startswith("Error validating access token: Session has expired")


def test_undecryptable_token_is_auth(recorded: Any) -> None:
    exc = classify_error(400, recorded("pyfacebook_legacy/access_token_wrong.json"), {}, "GET")
    assert isinstance(exc, AuthError) and exc.code == 190


def test_app_rate_limit_4_is_not_sent(recorded: Any) -> None:
    headers = {"x-app-usage": json.dumps({"call_count": 100, "total_cputime": 10, "total_time": 100})}
    exc = classify_error(403, _captured(recorded, "4_app_rate_limit"), headers, "POST", now=NOW)
    assert isinstance(exc, NotSentError)
    assert exc.code == 4 and exc.message == "(#4) Application request limit reached"
    assert exc.retry_at is None  # x-app-usage gives no time: the engine backs off


@pytest.mark.parametrize("code, message", [
    (17, "(#17) User request limit reached"),
    (32, "(#32) Page request limited reached"),
    (613, "(#613) Calls to graph_post_search_get have exceeded the rate of 10000 calls per 1 seconds."),
    (80001, "There have been too many calls to this Page account."),
    (341, "(#341) Application limit reached"),
])
def test_throttling_codes_from_the_issue_threads_are_not_sent(code: int, message: str) -> None:
    body = {"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "x"}}
    exc = classify_error(400, body, {}, "POST")
    assert isinstance(exc, NotSentError) and exc.code == code


def test_throttle_retry_at_comes_from_business_use_case_usage() -> None:
    headers = {"x-business-use-case-usage": json.dumps({"110658944785122": [{
        "type": "pages", "call_count": 100, "total_cputime": 4, "total_time": 100,
        "estimated_time_to_regain_access": 7}]})}
    exc = classify_error(400, {"error": {"message": "(#32) Page request limit reached", "code": 32}},
                         headers, "POST", now=NOW)
    assert isinstance(exc, NotSentError)
    assert exc.retry_at == NOW + timedelta(minutes=7)


def test_recorded_usage_headers_with_nothing_to_wait_give_no_retry_time(interaction: Any) -> None:
    _, headers, _ = interaction("social-media_posts__facebook.recording.json", "GET", "/feed")
    assert "x-business-use-case-usage" in headers
    assert retry_at_from_headers(headers, NOW) is None  # estimated_time_to_regain_access: 0


def test_retry_after_seconds_and_http_dates() -> None:
    assert retry_at_from_headers({"retry-after": "30"}, NOW) == NOW + timedelta(seconds=30)
    assert retry_at_from_headers({"retry-after": "Wed, 01 May 2024 12:05:00 GMT"}, NOW) == NOW + timedelta(minutes=5)
    assert retry_at_from_headers({"x-ad-account-usage": '{"reset_time_duration": 90}'}, NOW) == NOW + timedelta(seconds=90)
    assert retry_at_from_headers({"x-app-usage": "not json"}, NOW) is None


def test_duplicate_506_is_permanent_with_the_users_message(interaction: Any) -> None:
    status, headers, body = interaction("social-media_publish-post__facebook.recording.json", "POST", "/feed")
    exc = classify_error(status, body, headers, "POST")
    assert isinstance(exc, PermanentError)
    assert exc.code == 506
    assert exc.message.startswith("This status update is identical to the last one you posted")
    assert exc.raw == body


def test_unsupported_get_100_33_is_permanent(interaction: Any) -> None:
    status, headers, body = interaction("social-media_publish-post__facebook.recording.json", "GET", "/v12.0/4?")
    exc = classify_error(status, body, headers, "GET")
    assert isinstance(exc, PermanentError) and exc.code == 100


@pytest.mark.parametrize("rel", ["pyfacebook_base/base_error_data.json", "pyfacebook_base/error.json"])
def test_missing_permission_feature_100_is_permanent(recorded: Any, rel: str) -> None:
    exc = classify_error(400, recorded(rel), {}, "GET")
    assert isinstance(exc, PermanentError) and exc.code == 100


def test_permission_errors_need_reconnecting() -> None:
    body = {"error": {"message": "(#200) Requires pages_manage_posts permission", "type": "OAuthException", "code": 200}}
    assert isinstance(classify_error(403, body, {}, "POST"), AuthError)
    body["error"]["code"] = 10
    assert isinstance(classify_error(400, body, {}, "POST"), AuthError)


def test_server_errors_are_ambiguous_for_writes_only() -> None:
    body = {"error": {"message": "An unknown error has occurred.", "type": "OAuthException", "code": 1,
                      "is_transient": True}}
    assert isinstance(classify_error(500, body, {}, "POST"), AmbiguousError)
    assert isinstance(classify_error(502, None, {}, "DELETE"), AmbiguousError)
    assert isinstance(classify_error(500, body, {}, "GET"), NotSentError)
    unavailable = classify_error(503, {"error": {"message": "Service temporarily unavailable", "code": 2}},
                                 {"retry-after": "20"}, "POST", now=NOW)
    assert isinstance(unavailable, NotSentError) and unavailable.retry_at == NOW + timedelta(seconds=20)
    transient = classify_error(400, {"error": {"message": "Please retry", "code": 2, "is_transient": True}}, {}, "POST")
    assert isinstance(transient, NotSentError)


# -- through the client ----------------------------------------------------------------------

def _client(replay: Any, **kw: Any) -> GraphClient:
    return GraphClient("https://graph.facebook.com", "v23.0", transport=replay.transport(), **kw)


def test_connection_failures_before_sending_are_not_sent(replay: Any) -> None:
    replay.add("POST", "/feed", raise_=httpx.ConnectError("refused"))
    with pytest.raises(NotSentError):
        _client(replay).post("1/feed", token="t", data={"message": "hi"})


def test_timeouts_after_sending_are_ambiguous_for_writes(replay: Any) -> None:
    replay.add("POST", "/feed", raise_=httpx.ReadTimeout("slow"))
    replay.add("GET", "/feed", raise_=httpx.ReadTimeout("slow"))
    replay.add("POST", "/photos", raise_=httpx.RemoteProtocolError("Server disconnected without sending a response."))
    client = _client(replay)
    with pytest.raises(AmbiguousError):
        client.post("1/feed", token="t", data={"message": "hi"})
    with pytest.raises(NotSentError):
        client.get("1/feed", token="t")
    with pytest.raises(AmbiguousError):
        client.post("1/photos", token="t", data={"url": "https://x/y.jpg"})


def test_a_gateway_page_that_is_not_json_is_classified_by_status(replay: Any) -> None:
    replay.add("POST", "/feed", status=502, raw=b"<html>Bad Gateway</html>")
    with pytest.raises(AmbiguousError) as info:
        _client(replay).post("1/feed", token="t", data={"message": "hi"})
    assert info.value.status == 502


def test_tokens_travel_in_a_header_with_appsecret_proof(replay: Any) -> None:
    replay.add("GET", "/me", {"id": "1"})
    _client(replay, app_secret="shh").get("me", token="PAGE-TOKEN")
    req = replay.requests[0]
    assert "PAGE-TOKEN" not in str(req.url)
    assert req.headers["Authorization"] == "Bearer PAGE-TOKEN"
    proof = hmac.new(b"shh", b"PAGE-TOKEN", hashlib.sha256).hexdigest()
    assert req.url.params["appsecret_proof"] == proof
    assert req.url.path == "/v23.0/me"


def test_secrets_of_the_code_exchange_never_reach_the_log(replay_connector: Any, replay: Any, recorded: Any,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    replay.add("GET", "/oauth/access_token", recorded("pyfacebook_legacy/exchange_token.json"),
               when=lambda r: "code" in r.url.params)
    replay.add("GET", "/oauth/access_token", recorded("pyfacebook_base/base_long_term_token.json"))
    replay.add("GET", "/me/accounts", recorded("pyfacebook_base/base_user_accounts_token.json"))
    with caplog.at_level(logging.DEBUG, logger="httpx"):
        replay_connector.complete_authorization("THE-CODE", "https://app.example/cb", None)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "oauth/access_token" in text  # the requests were logged ...
    for secret in ("app-secret", "THE-CODE", "client_secret=app", "fb_exchange_token=access_token"):
        assert secret not in text  # ... without their secrets


def test_a_failed_publish_raises_the_classified_error(replay_connector: Any, replay: Any, interaction: Any) -> None:
    status, headers, body = interaction("social-media_publish-post__facebook.recording.json", "POST", "/feed")
    replay.add("POST", "/110658944785122/feed", body, status=status, headers=headers)
    account = Account("110658944785122", Credentials("PAGE_ACCESS_TOKEN_VALUE_REDACTED"))
    with pytest.raises(PermanentError) as info:
        replay_connector.publish(account, PostContent(text="Test from Superface Station 7."))
    assert info.value.code == 506 and info.value.platform == "facebook"
    assert replay.form(0)["message"] == "Test from Superface Station 7."
