"""Fixtures of the LinkedIn plugin's tests: the sandbox served over HTTP on
127.0.0.1, a connector pointed at it by ``sandbox_config`` (exactly as the
embedded mode does), accounts connected through the OAuth flow, and the
recorded real responses."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from clientnest import Account, MediaItem
from clientnest.testing.server import serve
from clientnest_linkedin import LinkedInConnector
from clientnest_linkedin.sandbox import LinkedInSandbox

RECORDINGS = Path(__file__).parent / "recordings"
REDIRECT_URI = "https://app.example.com/api/v1/oauth/linkedin/callback"
ORG = "urn:li:organization:2414183"


@pytest.fixture
def recording() -> Callable[[str], Any]:
    """Load one file of ``recordings/`` (JSON, or JSON lines as a list)."""
    def load(name: str) -> Any:
        text = (RECORDINGS / name).read_text()
        if name.endswith(".jsonl"):
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        return json.loads(text)
    return load


@pytest.fixture(scope="module")
def _served() -> Iterator[tuple[LinkedInSandbox, str]]:
    # one server per module (stopping one takes half a second); reset per test
    sandbox = LinkedInSandbox()
    with serve(sandbox) as url:
        yield sandbox, url


@pytest.fixture
def sandbox(_served: tuple[LinkedInSandbox, str]) -> LinkedInSandbox:
    sandbox = _served[0]
    sandbox.reset()
    # small video parts so a few KB exercise the multi-part upload
    sandbox.video_part_size = 1024
    sandbox.video_processing_polls = 1
    return sandbox


@pytest.fixture
def base_url(sandbox: LinkedInSandbox, _served: tuple[LinkedInSandbox, str]) -> str:
    return _served[1]


@pytest.fixture
def make_connector(base_url: str) -> Iterator[Callable[..., LinkedInConnector]]:
    """Build a connector configured for the sandbox, settings overridable."""
    made: list[LinkedInConnector] = []

    def make(**overrides: Any) -> LinkedInConnector:
        raw = {**LinkedInConnector.sandbox_config(base_url), "video_poll_seconds": 0.01, **overrides}
        connector = LinkedInConnector(LinkedInConnector.config_schema.validate("linkedin", raw))
        made.append(connector)
        return connector

    yield make
    for c in made:
        c.close()


@pytest.fixture
def connector(make_connector: Callable[..., LinkedInConnector]) -> LinkedInConnector:
    return make_connector()


def _approve(connector: LinkedInConnector, state: str) -> str:
    """Follow the authorization URL like a browser; the code from the redirect."""
    request = connector.authorization_url(REDIRECT_URI, state)
    answer = httpx.get(request.url, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == [state]
    return query["code"][0]


@pytest.fixture
def approve() -> Callable[..., str]:
    """``approve(connector, state)``: the authorization code a browser would bring back."""
    return _approve


@pytest.fixture
def oauth_connect() -> Callable[[LinkedInConnector], list[Account]]:
    def connect(connector: LinkedInConnector, state: str = "st-123") -> list[Account]:
        return connector.complete_authorization(_approve(connector, state), REDIRECT_URI, None)
    return connect


@pytest.fixture
def accounts(connector: LinkedInConnector, oauth_connect: Callable[..., list[Account]]) -> list[Account]:
    return oauth_connect(connector)


@pytest.fixture
def member(accounts: list[Account]) -> Account:
    return next(a for a in accounts if a.kind == "person")


@pytest.fixture
def org(accounts: list[Account]) -> Account:
    return next(a for a in accounts if a.external_id == ORG)


@pytest.fixture
def image() -> Callable[..., MediaItem]:
    def make(i: int = 1, data: bytes = b"\xff\xd8\xff\xe0 fake jpeg") -> MediaItem:
        return MediaItem(id=f"img{i}", kind="image", content_type="image/jpeg", size=len(data),
                         read=lambda: data)
    return make


@pytest.fixture
def video() -> Callable[..., MediaItem]:
    def make(size: int = 2500) -> MediaItem:
        data = bytes(range(256)) * (size // 256) + bytes(size % 256)
        return MediaItem(id="vid", kind="video", content_type="video/mp4", size=len(data), read=lambda: data)
    return make
