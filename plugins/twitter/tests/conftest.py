"""Fixtures of the X connector's tests: the sandbox with a clock the tests
move, the connector pointed at it, a connected account, and the recordings."""
from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from clientnest import Account
from clientnest.testing.server import serve
from clientnest_twitter import TwitterConnector
from clientnest_twitter.sandbox import TwitterSandbox

REDIRECT = "http://127.0.0.1:9/api/v1/oauth/twitter/callback"


def recordings_dir() -> Path:
    """``fixtures/real-api/twitter`` (the shared folder next to the checkout)."""
    env = os.environ.get("CLIENTNEST_REAL_API_FIXTURES")
    base = Path(env) if env else Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "real-api"
    return base / "twitter"


@pytest.fixture(scope="session")
def recorded() -> Path:
    path = recordings_dir()
    if not path.is_dir():
        pytest.skip(f"the recorded X responses are not at {path} (set CLIENTNEST_REAL_API_FIXTURES)")
    return path


class Clock:
    """Real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **kw: float) -> None:
        self.offset += timedelta(**kw)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sandbox(clock: Clock) -> TwitterSandbox:
    return TwitterSandbox(clock=clock, check_after_secs=0)


@pytest.fixture
def base_url(sandbox: TwitterSandbox) -> Iterator[str]:
    with serve(sandbox) as url:
        yield url


def make_connector(base_url: str, **overrides: Any) -> TwitterConnector:
    raw = {**TwitterConnector.sandbox_config(base_url), **overrides}
    return TwitterConnector(TwitterConnector.config_schema.validate("twitter", raw))


@pytest.fixture(name="make_connector")
def make_connector_fixture() -> Any:
    return make_connector


@pytest.fixture(name="oauth_connect")
def oauth_connect_fixture() -> Any:
    return oauth_connect


@pytest.fixture
def connector(base_url: str) -> Iterator[TwitterConnector]:
    c = make_connector(base_url)
    yield c
    c.close()


def oauth_connect(connector: TwitterConnector) -> Account:
    request = connector.authorization_url(REDIRECT, "state-1")
    answer = httpx.get(request.url, follow_redirects=False)
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    return connector.complete_authorization(code, REDIRECT, request.verifier)[0]


@pytest.fixture
def account(connector: TwitterConnector) -> Account:
    return oauth_connect(connector)


@pytest.fixture
def control(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        yield client
