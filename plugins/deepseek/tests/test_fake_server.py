"""The fake must agree with what DeepSeek really sent (tests/recorded/)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from clientnest_deepseek.fake_server import ERROR_BODIES, FakeDeepSeek, Scripted

RECORDED = Path(__file__).parent / "recorded"
SHARED = Path(__file__).resolve().parents[4] / "shared" / "fixtures" / "real-api" / "deepseek"


def _recorded(name: str) -> dict[str, Any]:
    return json.loads((RECORDED / name).read_text())


def _post(url: str, fake: FakeDeepSeek, **body: Any) -> httpx.Response:
    payload = {"model": "deepseek-chat", "messages": [{"role": "user", "content": "Say hi in json"}], **body}
    return httpx.post(f"{url}/chat/completions", json=payload,
                      headers={"Authorization": f"Bearer {fake.api_key}"}, timeout=5)


def test_completion_has_the_recorded_shape(fake: FakeDeepSeek, fake_url: str) -> None:
    real = _recorded("chat_completion.json")["body"]
    mine = _post(fake_url, fake).json()
    assert set(mine) == set(real)
    assert set(mine["choices"][0]) == set(real["choices"][0])
    assert mine["object"] == real["object"] == "chat.completion"
    recorded_usage = {k for k in real["usage"] if k != "completion_tokens_details"}  # reasoner only
    assert set(mine["usage"]) == recorded_usage
    u = mine["usage"]
    assert u["prompt_cache_hit_tokens"] + u["prompt_cache_miss_tokens"] == u["prompt_tokens"]
    assert u["prompt_tokens_details"]["cached_tokens"] == u["prompt_cache_hit_tokens"]


def test_stream_has_the_recorded_chunks(fake: FakeDeepSeek, fake_url: str) -> None:
    real_lines = [ln for ln in _recorded("chat_completion_stream.json")["body_text"].split("\n") if ln.startswith("data: ")]
    real_first, real_last = json.loads(real_lines[0][6:]), json.loads(real_lines[-2][6:])
    resp = _post(fake_url, fake, stream=True, stream_options={"include_usage": True})
    assert resp.headers["content-type"].startswith("text/event-stream")
    lines = [ln for ln in resp.text.split("\n") if ln.startswith("data: ")]
    assert lines[-1] == real_lines[-1] == "data: [DONE]"
    first, last = json.loads(lines[0][6:]), json.loads(lines[-2][6:])
    assert set(first) == set(real_first) and first["object"] == "chat.completion.chunk"
    assert first["choices"][0]["delta"]["role"] == "assistant" and first["usage"] is None
    # as recorded, the finish reason and the usage arrive in the last chunk
    assert last["choices"][0]["finish_reason"] == real_last["choices"][0]["finish_reason"] == "stop"
    assert {"prompt_cache_hit_tokens", "prompt_cache_miss_tokens"} <= set(last["usage"]) & set(real_last["usage"])


def test_error_bodies_match_the_recorded_envelopes(fake: FakeDeepSeek, fake_url: str) -> None:
    captured = _recorded("errors_captured_in_issues.json")
    for status in (401, 402):
        fake.fail(status)
        got = _post(fake_url, fake).json()
        want = captured[str(status)]["body"]
        assert set(got["error"]) == set(want["error"]) == {"message", "type", "param", "code"}
        assert got["error"]["type"] == want["error"]["type"]
        assert got["error"]["code"] == want["error"]["code"]
    fake.fail(402)
    assert _post(fake_url, fake).json() == captured["402"]["body"]
    bad = httpx.post(f"{fake_url}/chat/completions", json={"model": "m", "messages": []},
                     headers={"Authorization": "Bearer sk-nope-cd15"}, timeout=5)
    assert bad.status_code == 401
    assert bad.json()["error"]["message"] == captured["401_bad_key"]["body"]["error"]["message"]


def test_the_400_comes_as_octet_stream_as_recorded(fake: FakeDeepSeek, fake_url: str) -> None:
    rec = _recorded("error_400.json")
    resp = _post(fake_url, fake, response_format={"type": "json_object"},
                 messages=[{"role": "user", "content": "no magic word here"}])
    assert resp.status_code == 400 == rec["status"]
    assert resp.headers["content-type"] == rec["content_type"]
    assert set(json.loads(resp.content)["error"]) == set(json.loads(rec["body_text"])["error"])
    assert "json" in json.loads(resp.content)["error"]["message"]


@pytest.mark.parametrize("status", sorted(ERROR_BODIES))
def test_every_scripted_error_uses_the_envelope(fake: FakeDeepSeek, fake_url: str, status: int) -> None:
    fake.fail(status, headers={"Retry-After": "2"} if status == 429 else {})
    resp = _post(fake_url, fake)
    assert resp.status_code == status
    assert set(json.loads(resp.content)["error"]) == {"message", "type", "param", "code"}
    if status == 429:
        assert resp.headers["retry-after"] == "2"


def test_the_fake_validates_requests_like_the_api(fake: FakeDeepSeek, fake_url: str) -> None:
    assert _post(fake_url, fake, max_tokens=9000).status_code == 400
    assert _post(fake_url, fake, messages=[{"role": "robot", "content": "x"}]).status_code == 422
    fake.push(Scripted(content="fixed"))
    assert _post(fake_url, fake).json()["choices"][0]["message"]["content"] == "fixed"


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared fixtures not present")
def test_the_copied_recordings_are_unchanged() -> None:
    # tests/recorded/ holds extracts of ../shared/fixtures/real-api/deepseek;
    # this keeps them honest where the originals are available.
    assert json.loads((SHARED / "captured_in_issues" / "errors.json").read_text()) == _recorded("errors_captured_in_issues.json")
    cassette = (SHARED / "pydantic_ai_cassettes" / "test_deepseek_model_thinking_part.yaml").read_text()
    body = _recorded("chat_completion.json")["body"]
    assert f"id: {body['id']}" in cassette and "prompt_cache_miss_tokens: 12" in cassette
    stream = (SHARED / "pydantic_ai_cassettes" / "test_deepseek_model_thinking_stream.yaml").read_text()
    assert '\\"prompt_cache_miss_tokens\\":6}}' in stream
