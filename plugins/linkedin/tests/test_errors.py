"""Error classification from LinkedIn's real error bodies (recorded), over HTTP."""
from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from werkzeug.wrappers import Request, Response

from clientnest import PostContent
from clientnest.errors import AmbiguousError, AuthError, NotSentError, PermanentError
from clientnest.testing.server import serve
from clientnest_linkedin import LinkedInConnector
from clientnest_linkedin.errors import (
    DEFAULT_RETRY_SECONDS,
    DuplicateContentError,
    classify_oauth_response,
    classify_response,
    classify_transport_error,
)


def _response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def test_recorded_bodies(recording: Callable[[str], Any]) -> None:
    errors = recording("errors.json")
    e401 = classify_response(_response(401, errors["docs_sample_401"]["body"]))
    assert type(e401) is AuthError and e401.message == "Empty oauth2_access_token" and e401.code == 401

    before = datetime.now(UTC)
    e429 = classify_response(_response(429, errors["429_throttle"]["body"]))
    assert type(e429) is NotSentError and e429.code == 101
    assert e429.message == "Resource level throttle limit for calls to this resource is reached."
    # LinkedIn sends no Retry-After: the default delay applies
    assert before + timedelta(seconds=DEFAULT_RETRY_SECONDS - 5) <= e429.retry_at
    assert e429.retry_at <= datetime.now(UTC) + timedelta(seconds=DEFAULT_RETRY_SECONDS)

    e403 = classify_response(_response(403, errors["403_permissions_posts"]["body"]))
    assert type(e403) is PermanentError and e403.message == "Not enough permissions to access: POST /posts"
    assert e403.code == 100 and e403.status == 403

    rec = errors["422_invalid_urn"]
    e422 = classify_response(_response(422, rec["body"], rec["headers"]))
    assert type(e422) is PermanentError
    assert e422.message.startswith("ERROR :: /author :: Urn doesn't start with 'urn:'")

    e400 = classify_response(_response(400, errors["400_member_author"]["body"]))
    assert type(e400) is PermanentError
    assert e400.message == "Member permissions must be used when using member as author"


def test_duplicate_is_permanent_and_names_the_earlier_post() -> None:
    err = classify_response(_response(422, {"message": "Content is a duplicate of urn:li:share:7034659181546627072",
                                            "status": 422}))
    assert isinstance(err, PermanentError) and isinstance(err, DuplicateContentError)
    assert err.duplicate_of == "urn:li:share:7034659181546627072"


@pytest.mark.parametrize("status", [500, 502, 504])
def test_server_errors_are_ambiguous(status: int) -> None:
    err = classify_response(_response(status, {"message": "Internal Server Error", "status": status}))
    assert type(err) is AmbiguousError and err.status == status


def test_503_with_retry_after_was_not_sent_and_without_is_ambiguous() -> None:
    err = classify_response(_response(503, {"status": 503}, {"Retry-After": "120"}))
    assert type(err) is NotSentError
    assert timedelta(seconds=115) < err.retry_at - datetime.now(UTC) <= timedelta(seconds=120)
    assert type(classify_response(_response(503, {"status": 503}))) is AmbiguousError


def test_retry_after_as_http_date_and_non_json_bodies() -> None:
    when = (datetime.now(UTC) + timedelta(minutes=10)).replace(microsecond=0)
    err = classify_response(httpx.Response(429, text="<html>slow down</html>",
                                           headers={"Retry-After": when.strftime("%a, %d %b %Y %H:%M:%S GMT")}))
    assert type(err) is NotSentError and err.retry_at == when
    assert "429" in err.message and "slow down" in err.message


def test_oauth_endpoint_errors() -> None:
    refused = classify_oauth_response(_response(400, {
        "error": "invalid_request",
        "error_description": "Unable to retrieve access token: appid/redirect uri/code verifier does not match "
                             "authorization code. Or authorization code expired. Or external member binding exists",
    }))
    assert type(refused) is AuthError and refused.code == "invalid_request"
    assert refused.message.startswith("Unable to retrieve access token")
    assert type(classify_oauth_response(_response(503, {}))) is AmbiguousError


def test_transport_errors() -> None:
    assert type(classify_transport_error(httpx.ConnectError("refused"))) is NotSentError
    assert type(classify_transport_error(httpx.ConnectTimeout("t"))) is NotSentError
    assert type(classify_transport_error(httpx.ReadTimeout("t"))) is AmbiguousError
    assert type(classify_transport_error(httpx.RemoteProtocolError("reset"))) is AmbiguousError


# -- the same, end to end through the connector --------------------------------------------------

class _LinkedInSays:
    """A WSGI app answering every request like LinkedIn once did (settable)."""

    def __init__(self) -> None:
        self.status, self.body = 200, {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        import json

        Request(environ).get_data()
        return Response(json.dumps(self.body), self.status, content_type="application/json")(environ, start_response)


def _account(token: str = "tok") -> Any:
    from clientnest import Account, Credentials
    return Account(external_id="urn:li:organization:2414183", credentials=Credentials(access_token=token),
                   kind="organization")


def _connector(url: str, **kw: Any) -> LinkedInConnector:
    raw = {"api_base": url, "oauth_base": url, "client_id": "id", "client_secret": "secret", **kw}
    return LinkedInConnector(LinkedInConnector.config_schema.validate("linkedin", raw))


def test_publish_classifies_each_recorded_error(recording: Callable[[str], Any]) -> None:
    errors = recording("errors.json")
    cases = [
        (401, errors["docs_sample_401"]["body"], AuthError),
        (429, errors["429_throttle"]["body"], NotSentError),
        (403, errors["403_permissions_posts"]["body"], PermanentError),
        (422, errors["422_invalid_urn"]["body"], PermanentError),
        (500, {"message": "Internal Server Error", "status": 500}, AmbiguousError),
        (504, {"message": "Gateway Timeout", "status": 504}, AmbiguousError),
    ]
    app = _LinkedInSays()
    with serve(app) as url:
        connector = _connector(url)
        for status, body, cls in cases:
            app.status, app.body = status, body
            with pytest.raises(cls) as info:
                connector.publish(_account(), PostContent(text="hello"))
            assert type(info.value) is cls, status
            assert info.value.message == (body.get("message") or "").strip(), status
            assert info.value.platform == "linkedin" and info.value.status == status
        connector.close()


def test_connection_refused_is_not_sent_and_read_timeout_is_ambiguous() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    connector = _connector(f"http://127.0.0.1:{port}")
    with pytest.raises(NotSentError):
        connector.publish(_account(), PostContent(text="hello"))

    import time

    def slow(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        time.sleep(1.0)
        return Response("", 201, headers={"x-restli-id": "urn:li:share:1"})(environ, start_response)

    with serve(slow) as url:
        connector = _connector(url, timeout=0.3)
        with pytest.raises(AmbiguousError):
            connector.publish(_account(), PostContent(text="hello"))
        connector.close()
