"""A bearer token is a secret: whatever is wrong with it, it never shows in a
log line or an error message (DESIGN invariant 5)."""
from __future__ import annotations

import dataclasses
import logging

import httpx
import pytest

from clientnest import PostContent
from clientnest.errors import AuthError, NotSentError
from clientnest_twitter import TwitterConnector
from clientnest_twitter.errors import classify_transport

SECRET = "S3cr3t-bearer-Token"

# characters an HTTP header cannot carry: httpx refuses them with the
# header, token included, in its error (or fails to encode them)
BAD_TOKENS = [f"{SECRET}\n", f"{SECRET}\x00x", f"{SECRET}\U0001F600", f"{SECRET} \r\n"]


@pytest.mark.parametrize("token", BAD_TOKENS)
def test_connect_with_a_bad_token_never_echoes_it(
    connector: TwitterConnector, token: str, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthError) as info:
        connector.connect_with_token({"access_token": token})
    assert "HTTP header" in str(info.value)
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    assert SECRET not in caplog.text


@pytest.mark.parametrize("token", BAD_TOKENS)
def test_publishing_with_a_bad_stored_token_never_echoes_it(
    connector: TwitterConnector, account: object, token: str, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    broken = dataclasses.replace(account, credentials=dataclasses.replace(account.credentials, access_token=token))
    with pytest.raises(AuthError) as info:
        connector.publish(broken, PostContent(text="hello"))
    assert SECRET not in str(info.value)
    assert SECRET not in caplog.text


def test_a_header_refused_by_the_http_client_is_not_quoted() -> None:
    exc = httpx.LocalProtocolError(f"Illegal header value b'Bearer {SECRET}\\n'")
    error = classify_transport(exc)
    assert isinstance(error, NotSentError)  # refused before anything was sent
    assert SECRET not in str(error)
