"""The HTTP client: recorded DeepSeek shapes, errors, retries, timeouts."""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.wrappers import Request

from clientnest import errors
from clientnest.testing.server import serve
from clientnest_deepseek.client import ChatClient, parse_usage, redact
from clientnest_deepseek.fake_server import FakeDeepSeek, Scripted

RECORDED = Path(__file__).parent / "recorded"
MESSAGES = [{"role": "system", "content": "Answer in json."}, {"role": "user", "content": "Hi"}]


def _recorded(name: str) -> dict[str, Any]:
    return json.loads((RECORDED / name).read_text())


def _replay(status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> Callable[..., Iterable[bytes]]:
    """A WSGI app answering every request with one recorded response."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        Request(environ).get_data()  # drain the body (bounded by Content-Length)
        start_response(f"{status} X", [("Content-Type", content_type), ("Content-Length", str(len(body))),
                                        *(headers or {}).items()])
        return [body]

    return app


@pytest.fixture
def client_for() -> Iterator[Callable[..., ChatClient]]:
    clients: list[ChatClient] = []

    def _make(url: str, **kw: Any) -> ChatClient:
        c = ChatClient(base_url=url, api_key=kw.pop("api_key", "sk-test-0000000000cd15"),
                       backoff_base=kw.pop("backoff_base", 0.01), **kw)
        clients.append(c)
        return c

    yield _make
    for c in clients:
        c.close()


# -- recorded responses -------------------------------------------------------------

def test_a_recorded_completion_is_read_with_its_cache_usage(client_for: Callable[..., ChatClient]) -> None:
    rec = _recorded("chat_completion.json")
    with serve(_replay(rec["status"], json.dumps(rec["body"]).encode(), rec["content_type"])) as url:
        resp = client_for(url, stream=False).complete(MESSAGES, model="deepseek-reasoner", json_mode=False)
    assert resp.content.startswith("Crossing the street safely")
    assert "reasoning" not in resp.content.lower()[:40]  # reasoning_content is not the answer
    assert resp.finish_reason == "stop"
    assert resp.model == "deepseek-reasoner"
    assert (resp.usage.prompt_cache_hit_tokens, resp.usage.prompt_cache_miss_tokens, resp.usage.completion_tokens) == (0, 12, 789)
    assert not resp.usage_estimated


def test_recorded_cache_hits_are_metered_as_hits(client_for: Callable[..., ChatClient]) -> None:
    rec = _recorded("chat_completion_cache_hit.json")
    with serve(_replay(200, json.dumps(rec["body"]).encode(), rec["content_type"])) as url:
        resp = client_for(url, stream=False).complete(MESSAGES, model="deepseek-v4-flash", json_mode=False)
    assert resp.usage.prompt_cache_hit_tokens == 512
    assert resp.usage.prompt_cache_miss_tokens == 51
    assert resp.usage.prompt_tokens == rec["body"]["usage"]["prompt_tokens"] == 563
    assert resp.content == "Let me load the dice rolling capability!"


def test_a_recorded_stream_is_assembled_and_its_final_usage_chunk_read(client_for: Callable[..., ChatClient]) -> None:
    rec = _recorded("chat_completion_stream.json")
    body = rec["body_text"].encode()
    with serve(_replay(200, body, rec["content_type"])) as url:
        resp = client_for(url, stream=True).complete(MESSAGES, model="deepseek-reasoner", json_mode=False)
    # the content deltas, without the reasoning_content deltas
    expected = "".join(
        (json.loads(line[6:])["choices"][0]["delta"].get("content") or "")
        for line in rec["body_text"].split("\n") if line.startswith("data: {")
    )
    assert resp.content == expected and resp.content.startswith("Hello")
    assert resp.streamed and resp.finish_reason == "stop"
    assert (resp.usage.prompt_cache_hit_tokens, resp.usage.prompt_cache_miss_tokens, resp.usage.completion_tokens) == (0, 6, 212)


def test_the_recorded_400_sent_as_octet_stream_is_still_understood(client_for: Callable[..., ChatClient]) -> None:
    rec = _recorded("error_400.json")
    assert rec["content_type"] == "application/octet-stream"
    with serve(_replay(400, rec["body_text"].encode(), rec["content_type"])) as url:
        with pytest.raises(errors.AIRequestError) as info:
            client_for(url, stream=False).complete(MESSAGES, model="m")
    assert info.value.status == 400
    assert "No tool output found for tool call call-a." in str(info.value)
    assert info.value.code == "invalid_request_error"


def test_usage_in_openai_shape_is_understood_too() -> None:
    u = parse_usage({"prompt_tokens": 100, "completion_tokens": 7, "prompt_tokens_details": {"cached_tokens": 64}})
    assert u is not None and (u.prompt_cache_hit_tokens, u.prompt_cache_miss_tokens, u.completion_tokens) == (64, 36, 7)
    assert parse_usage(None) is None


# -- errors -------------------------------------------------------------------------

@pytest.mark.parametrize("status, cls, words", [
    (401, errors.AIAuthError, "rejected the API key"),
    (402, errors.AIBalanceError, "insufficient balance"),
    (422, errors.AIRequestError, "Invalid Parameters"),
    (400, errors.AIRequestError, "refused the request"),
])
@pytest.mark.parametrize("stream", [True, False])
def test_each_client_error_is_distinct_and_not_retried(
    client_for: Callable[..., ChatClient], fake: FakeDeepSeek, fake_url: str,
    status: int, cls: type[Exception], words: str, stream: bool,
) -> None:
    fake.fail(status)
    with pytest.raises(cls) as info:
        client_for(fake_url, stream=stream).complete(MESSAGES, model="deepseek-chat")
    assert words in str(info.value)
    assert info.value.status == status  # type: ignore[attr-defined]
    assert fake.calls == 1  # never retried
    # distinct classes: none of them is a subclass of another
    others = {errors.AIAuthError, errors.AIBalanceError, errors.AIRequestError} - {cls}
    assert not any(isinstance(info.value, o) for o in others)


def test_a_wrong_key_gives_the_recorded_401_without_the_key(client_for: Callable[..., ChatClient], fake: FakeDeepSeek, fake_url: str) -> None:
    with pytest.raises(errors.AIAuthError) as info:
        client_for(fake_url, api_key="sk-wrong-key-abcd").complete(MESSAGES, model="deepseek-chat")
    text = str(info.value)
    assert "Authentication Fails" in text
    assert "sk-wrong-key-abcd" not in text and "abcd" not in text
    assert "CLIENTNEST_DEEPSEEK_API_KEY" in text


@pytest.mark.parametrize("statuses", [[429], [500], [503], [429, 500], [503, 500]])
def test_429_500_503_are_retried_with_backoff(
    client_for: Callable[..., ChatClient], fake: FakeDeepSeek, fake_url: str, statuses: list[int],
) -> None:
    sleeps: list[float] = []
    for s in statuses:
        fake.fail(s)
    client = client_for(fake_url, max_retries=2, backoff_base=0.2, sleep=sleeps.append)
    resp = client.complete(MESSAGES, model="deepseek-chat", json_mode=False)
    assert resp.content  # the default answer after the faults
    assert fake.calls == len(statuses) + 1
    assert len(sleeps) == len(statuses)
    # exponential with up to 25% jitter: 0.2 s, then 0.4 s ...
    for i, s in enumerate(sleeps):
        assert 0.2 * 2 ** i <= s <= 0.2 * 2 ** i * 1.25


def test_retries_are_bounded_and_the_last_error_is_clear(client_for: Callable[..., ChatClient], fake: FakeDeepSeek, fake_url: str) -> None:
    fake.fail(503, times=5)
    with pytest.raises(errors.NotSentError) as info:
        client_for(fake_url, max_retries=2).complete(MESSAGES, model="deepseek-chat")
    assert fake.calls == 3
    assert "server overloaded" in str(info.value) and "gave up after 3 attempts" in str(info.value)
    assert isinstance(info.value, errors.TransientError)


def test_500_exhausted_is_ambiguous(client_for: Callable[..., ChatClient], fake: FakeDeepSeek, fake_url: str) -> None:
    fake.fail(500, times=3)
    with pytest.raises(errors.AmbiguousError):
        client_for(fake_url, max_retries=1).complete(MESSAGES, model="deepseek-chat")
    assert fake.calls == 2


def test_retry_after_is_honoured(client_for: Callable[..., ChatClient], fake: FakeDeepSeek, fake_url: str) -> None:
    sleeps: list[float] = []
    fake.fail(429, headers={"Retry-After": "1.5"})
    client_for(fake_url, sleep=sleeps.append).complete(MESSAGES, model="deepseek-chat")
    assert sleeps == [1.5]


def test_a_retry_after_beyond_the_deadline_is_not_waited_for(client_for: Callable[..., ChatClient], fake: FakeDeepSeek, fake_url: str) -> None:
    sleeps: list[float] = []
    fake.fail(429, headers={"Retry-After": "120"})
    with pytest.raises(errors.NotSentError) as info:
        client_for(fake_url, total_timeout=5, sleep=sleeps.append).complete(MESSAGES, model="deepseek-chat")
    assert sleeps == [] and fake.calls == 1
    assert "deadline" in str(info.value)
    assert info.value.retry_at is not None  # the caller can still tell when to come back


@pytest.mark.parametrize("stream", [True, False])
def test_a_slow_answer_times_out_within_bounds(client_for: Callable[..., ChatClient], fake: FakeDeepSeek, fake_url: str, stream: bool) -> None:
    fake.push(Scripted(delay=3))
    started = time.monotonic()
    with pytest.raises(errors.AmbiguousError) as info:
        client_for(fake_url, read_timeout=0.3, stream=stream).complete(MESSAGES, model="deepseek-chat")
    assert time.monotonic() - started < 2
    assert info.value.code == "timeout"
    assert fake.calls <= 1  # a read timeout is not retried (it would blow the deadline)


def test_a_trickling_stream_cannot_outlive_the_total_timeout(client_for: Callable[..., ChatClient], fake: FakeDeepSeek, fake_url: str) -> None:
    fake.push(Scripted(content="x" * 400, chunk_delay=0.1))  # ~34 chunks, 3.4 s
    started = time.monotonic()
    with pytest.raises(errors.AmbiguousError) as info:
        client_for(fake_url, read_timeout=1, total_timeout=0.8, stream=True).complete(MESSAGES, model="deepseek-chat", json_mode=False)
    assert time.monotonic() - started < 2
    assert info.value.code == "timeout"


def test_an_unreachable_server_fails_fast_after_bounded_retries(client_for: Callable[..., ChatClient]) -> None:
    from werkzeug.serving import make_server

    srv = make_server("127.0.0.1", 0, lambda e, s: [])
    port = srv.server_port
    srv.server_close()  # nothing listens there now
    sleeps: list[float] = []
    with pytest.raises(errors.NotSentError):
        client_for(f"http://127.0.0.1:{port}", max_retries=2, sleep=sleeps.append).complete(MESSAGES, model="m")
    assert len(sleeps) == 2


def test_keep_alive_comments_in_a_stream_are_skipped(client_for: Callable[..., ChatClient], fake: FakeDeepSeek, fake_url: str) -> None:
    fake.keepalive_lines = 3
    fake.push(Scripted(content='{"ok": true}'))
    resp = client_for(fake_url, stream=True).complete(MESSAGES, model="deepseek-chat")
    assert resp.content == '{"ok": true}'
    assert resp.usage.completion_tokens == 3


@pytest.mark.parametrize("stream", [True, False])
def test_keep_alive_lines_cannot_hold_a_request_past_the_deadline(
    client_for: Callable[..., ChatClient], fake: FakeDeepSeek, fake_url: str, stream: bool,
) -> None:
    # DeepSeek keeps a waiting request open with keep-alive lines, which reset
    # any per-read timeout: only the total deadline stops it
    fake.keepalive_lines = 40
    fake.push(Scripted(chunk_delay=0.1))  # 4 s of keep-alives
    started = time.monotonic()
    with pytest.raises(errors.AmbiguousError) as info:
        client_for(fake_url, read_timeout=1, total_timeout=0.8, stream=stream).complete(MESSAGES, model="m")
    assert time.monotonic() - started < 2
    assert info.value.code == "timeout"


def test_blank_keep_alive_lines_before_a_plain_answer_are_ignored(
    client_for: Callable[..., ChatClient], fake: FakeDeepSeek, fake_url: str,
) -> None:
    fake.keepalive_lines = 3
    fake.push(Scripted(content='{"ok": true}'))
    resp = client_for(fake_url, stream=False).complete(MESSAGES, model="deepseek-chat")
    assert resp.content == '{"ok": true}' and not resp.streamed


def test_a_stream_cut_short_is_retried(client_for: Callable[..., ChatClient], fake: FakeDeepSeek, fake_url: str) -> None:
    fake.push(Scripted(content='{"partial": ', truncate_stream=True), Scripted(content='{"ok": 1}'))
    resp = client_for(fake_url, stream=True).complete(MESSAGES, model="deepseek-chat")
    assert resp.content == '{"ok": 1}' and fake.calls == 2


def test_missing_usage_is_estimated_not_zero(client_for: Callable[..., ChatClient], fake: FakeDeepSeek, fake_url: str) -> None:
    fake.push(Scripted(content="x" * 80, usage=False))
    resp = client_for(fake_url, stream=False).complete(MESSAGES, model="m", json_mode=False)
    assert resp.usage_estimated
    assert resp.usage.completion_tokens == 20 and resp.usage.prompt_cache_miss_tokens > 0


def test_json_mode_and_streaming_options_are_sent(client_for: Callable[..., ChatClient], fake: FakeDeepSeek, fake_url: str) -> None:
    client_for(fake_url, stream=True).complete(MESSAGES, model="deepseek-chat", max_tokens=123, temperature=0.0)
    body = fake.requests[-1].body
    headers = fake.requests[-1].headers
    assert body["response_format"] == {"type": "json_object"}
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 123 and body["temperature"] == 0.0
    assert headers["authorization"] == "Bearer sk-test-0000000000cd15"


def test_redact_removes_keys() -> None:
    assert "sk-abcdef123456" not in redact("bad key sk-abcdef123456 given")
    assert redact("Your api key: ****cd15 is invalid") == "Your api key: <redacted> is invalid"
    assert "s3cr3t" not in redact("token s3cr3t echoed", "s3cr3t")
