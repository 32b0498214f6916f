"""Instagram error classification, from real Graph error bodies and headers."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from clientnest.errors import AmbiguousError, AuthError, NotSentError, PermanentError
from clientnest_instagram.graph import classify_error, retry_at_from_headers

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_media_posted_before_conversion_is_permanent_with_the_users_message(recorded: Any) -> None:
    body = recorded("airbyte_partial/media_insights_for_error_posted_before_business.json")
    exc = classify_error(400, body, {}, "GET")
    assert isinstance(exc, PermanentError)
    assert exc.platform == "instagram" and exc.code == 100
    assert exc.message.startswith("The media was posted before the most recent time")


def test_unknown_account_from_the_recording_is_permanent(interaction: Any) -> None:
    status, headers, body = interaction("social-media_publish-post__instagram.recording.json", "POST", "/4/media")
    exc = classify_error(status, body, headers, "POST")
    assert isinstance(exc, PermanentError) and exc.status == 400
    assert "WWW-Authenticate" in headers  # recorded alongside the body


def test_instagram_business_use_case_throttle_waits_as_told() -> None:
    headers = {"x-business-use-case-usage": json.dumps({"17841450841275119": [{
        "type": "instagram", "call_count": 100, "total_cputime": 20, "total_time": 100,
        "estimated_time_to_regain_access": 12}]})}
    body = {"error": {"message": "There have been too many calls to this Instagram account.", "code": 80002,
                      "type": "OAuthException", "is_transient": True}}
    exc = classify_error(400, body, headers, "POST", now=NOW)
    assert isinstance(exc, NotSentError) and exc.retry_at == NOW + timedelta(minutes=12)


def test_recorded_usage_header_means_no_wait(interaction: Any) -> None:
    _, headers, _ = interaction("social-media_posts__instagram.recording.json", "GET", "/media")
    assert retry_at_from_headers(headers, NOW) is None


def test_publishing_limit_is_not_sent() -> None:
    body = {"error": {"message": "Application request limit reached", "code": 9, "error_subcode": 2207042,
                      "is_transient": True, "error_user_msg": "The maximum number of posts that were published has "
                                                              "been reached."}}
    exc = classify_error(400, body, {}, "POST")
    assert isinstance(exc, NotSentError)
    assert exc.message.startswith("The maximum number of posts")


def test_media_not_ready_is_not_transient_by_itself() -> None:
    # the connector waits for the container and publishes again; the class alone is permanent
    body = {"error": {"message": "Media ID is not available", "code": 9007, "error_subcode": 2207027,
                      "is_transient": False}}
    assert isinstance(classify_error(400, body, {}, "POST"), PermanentError)


def test_auth_and_server_errors() -> None:
    expired = {"error": {"message": "Error validating access token", "code": 190, "error_subcode": 463}}
    assert isinstance(classify_error(400, expired, {}, "POST"), AuthError)
    missing_scope = {"error": {"message": "(#10) Application does not have permission for this action", "code": 10}}
    assert isinstance(classify_error(400, missing_scope, {}, "POST"), AuthError)
    assert isinstance(classify_error(504, None, {}, "POST"), AmbiguousError)
    assert isinstance(classify_error(504, None, {}, "GET"), NotSentError)
