"""Fixtures: a fake DeepSeek on 127.0.0.1 and providers pointed at it."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from clientnest.testing.server import serve
from clientnest_deepseek.fake_server import FakeDeepSeek
from clientnest_deepseek.provider import DeepSeekProvider


@pytest.fixture(scope="session")
def _fake_server() -> Iterator[tuple[FakeDeepSeek, str]]:
    # one server for the run (stopping one takes ~0.5 s); each test resets it
    fake = FakeDeepSeek()
    with serve(fake) as url:
        yield fake, url


@pytest.fixture
def fake(_fake_server: tuple[FakeDeepSeek, str]) -> FakeDeepSeek:
    fake = _fake_server[0]
    fake.reset()
    return fake


@pytest.fixture
def fake_url(fake: FakeDeepSeek, _fake_server: tuple[FakeDeepSeek, str]) -> str:
    return _fake_server[1]


@pytest.fixture
def make_provider(fake: FakeDeepSeek, fake_url: str) -> Iterator[Callable[..., DeepSeekProvider]]:
    """``make_provider(**settings)``: a provider configured like an install would be."""
    made: list[DeepSeekProvider] = []

    def _make(**settings: Any) -> DeepSeekProvider:
        raw = {"api_key": fake.api_key, "base_url": fake_url, "backoff_base": "0.01", **settings}
        provider = DeepSeekProvider(DeepSeekProvider.config_schema.validate("deepseek", raw))
        made.append(provider)
        return provider

    yield _make
    for p in made:
        p.close()


@pytest.fixture(params=[True, False], ids=["streamed", "plain"])
def provider(request: pytest.FixtureRequest, make_provider: Callable[..., DeepSeekProvider]) -> DeepSeekProvider:
    """The provider, once streaming (the default) and once not."""
    return make_provider(stream=request.param)
