"""A fake DeepSeek: a WSGI app answering ``POST /chat/completions`` locally.

Built from the responses DeepSeek really sent (recorded by pydantic-ai and
quoted in public issues; see ``tests/recorded/``): the ``chat.completion``
object, the streamed ``chat.completion.chunk`` events ending with a usage
chunk and ``data: [DONE]``, ``usage`` with ``prompt_cache_hit_tokens`` /
``prompt_cache_miss_tokens``, and errors in the OpenAI envelope
``{"error": {"message", "type", "param", "code"}}`` (the 400 even as
``application/octet-stream``, as recorded).

It behaves like the real API where ClientNest depends on it:

* the key must match (else the recorded 401 body, naming the key's last four
  characters the way DeepSeek does);
* JSON mode needs the word "json" in the prompt (else 400), ``max_tokens``
  must be in [1, 8192] (else 400), the body must be well formed (else 422);
* the context cache: a prompt sharing a prefix with an earlier one is billed
  that prefix as cache hits, in 64-token units (tokens are counted as
  characters / 4, which is close enough for tests);
* by default it answers each ClientNest task with valid JSON made from the
  input, so every feature works end to end.

Faults and odd answers are scripted per request with :meth:`FakeDeepSeek.push`
(status, raw content, blank content, delays, missing usage ...).

Use: ``with serve(FakeDeepSeek()) as url: ...`` (``clientnest.testing.server``).
"""
from __future__ import annotations

import json
import math
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

from .prompts import INPUT_MARKER

__all__ = ["FakeDeepSeek", "Scripted", "ERROR_BODIES"]

#: error envelopes; 401/402/400 as recorded, the others in the same envelope
#: with the messages of DeepSeek's error-code table
ERROR_BODIES: dict[int, dict[str, Any]] = {
    400: {"message": "Invalid request", "type": "invalid_request_error", "param": None, "code": "invalid_request_error"},
    401: {"message": "Authentication Fails, Your api key: ****{last4} is invalid", "type": "authentication_error",
          "param": None, "code": "invalid_request_error"},
    402: {"message": "Insufficient Balance", "type": "unknown_error", "param": None, "code": "invalid_request_error"},
    422: {"message": "Invalid Parameters", "type": "invalid_request_error", "param": None, "code": "invalid_request_error"},
    429: {"message": "Rate Limit Reached", "type": "rate_limit_error", "param": None, "code": "rate_limit_exceeded"},
    500: {"message": "Server Error", "type": "server_error", "param": None, "code": "server_error"},
    503: {"message": "Server Overloaded", "type": "server_error", "param": None, "code": "server_overloaded"},
}

_CACHE_UNIT = 64  # DeepSeek's cache storage unit, in tokens


@dataclass
class Scripted:
    """How to answer one request, overriding the default behaviour.

    :param status: HTTP status; not 200 gives the error envelope for it.
    :param content: the assistant's content verbatim (``""`` = blank content).
    :param error_message: replaces the envelope's message.
    :param headers: extra response headers (e.g. ``Retry-After``).
    :param delay: seconds to wait before answering (timeouts).
    :param chunk_delay: seconds between streamed chunks and keep-alive lines
        (slow trickles).
    :param usage: replaces the computed usage; ``False`` omits it.
    :param finish_reason: e.g. ``"length"`` for a cut-off answer.
    :param raw_body: bytes sent as the whole body (malformed answers).
    :param content_type: the error's content type (the 400 was recorded as
        ``application/octet-stream``).
    """

    status: int = 200
    content: str | None = None
    error_message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    chunk_delay: float = 0.0
    usage: dict[str, Any] | bool | None = None
    finish_reason: str = "stop"
    raw_body: bytes | None = None
    content_type: str | None = None
    #: end the stream without a finish reason or [DONE]
    truncate_stream: bool = False
    #: answer only once this event is set (hold requests in flight)
    hold: threading.Event | None = None


@dataclass
class Seen:
    """One request as the fake received it."""

    body: dict[str, Any]
    headers: dict[str, str]
    status: int
    usage: dict[str, Any] | None


class FakeDeepSeek:
    """The WSGI app. ``requests`` lists what it received."""

    def __init__(self, api_key: str = "sk-test-0000000000cd15", model: str = "deepseek-chat",
                 keepalive_lines: int = 0) -> None:
        self.api_key = api_key
        self.model = model
        #: keep-alive lines sent before an answer: ``: keep-alive`` comments
        #: when streaming, blank lines otherwise (as DeepSeek does)
        self.keepalive_lines = keepalive_lines
        self.requests: list[Seen] = []
        self._script: deque[Scripted] = deque()
        self._prompts: deque[str] = deque(maxlen=500)
        self._lock = threading.Lock()
        # bumped by reset(): a slow request still running from before a reset
        # is not recorded after it
        self._generation = 0

    # -- scripting ------------------------------------------------------------------
    def push(self, *answers: Scripted) -> FakeDeepSeek:
        """Answer the next requests with these, in order."""
        with self._lock:
            self._script.extend(answers)
        return self

    def fail(self, status: int, times: int = 1, **kw: Any) -> FakeDeepSeek:
        return self.push(*[Scripted(status=status, **kw) for _ in range(times)])

    def reset(self) -> None:
        """Forget requests, scripts and the cache; back to the defaults."""
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self._prompts.clear()
            self.keepalive_lines = 0
            self._generation += 1

    @property
    def calls(self) -> int:
        return len(self.requests)

    # -- WSGI -----------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        response = self._handle(request)
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        if request.path.rstrip("/") not in ("/chat/completions", "/v1/chat/completions"):
            return self._error(404, None, message="Not Found")
        if request.method != "POST":
            return self._error(405, None, message="Method Not Allowed")
        with self._lock:
            scripted = self._script.popleft() if self._script else Scripted()
            generation = self._generation
        try:
            body = json.loads(request.get_data() or b"null")
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in request.headers.items()}
        if scripted.hold is not None:
            scripted.hold.wait(timeout=30)
        if scripted.delay:
            time.sleep(scripted.delay)

        auth = headers.get("authorization", "")
        key = auth[7:] if auth.lower().startswith("bearer ") else ""
        if key != self.api_key:
            return self._record(generation, body, headers, self._error(401, scripted, last4=key[-4:] if key else ""))
        if scripted.status != 200:
            return self._record(generation, body, headers, self._error(scripted.status, scripted, last4=key[-4:]))
        problem = self._invalid(body)
        if problem:
            status, message = problem
            return self._record(generation, body, headers, self._error(status, scripted, message=message))

        messages = body["messages"]
        prompt = "".join(f"{m['role']}:{m['content']}\n" for m in messages)
        content = scripted.content if scripted.content is not None else self._answer(messages)
        usage = self._usage(prompt, content, scripted, generation)
        stream = bool(body.get("stream"))
        if stream:
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            resp = self._stream(content, usage if include_usage else None, scripted, body.get("model"))
        else:
            resp = self._completion(content, usage, scripted, body.get("model"))
        return self._record(generation, body, headers, resp, usage)

    def _record(self, generation: int, body: Any, headers: dict[str, str], resp: Response,
                usage: dict[str, Any] | None = None) -> Response:
        with self._lock:
            if generation == self._generation:
                self.requests.append(Seen(body=body if isinstance(body, dict) else {}, headers=headers,
                                          status=resp.status_code, usage=usage))
        return resp

    # -- validation like the real API -----------------------------------------------------
    @staticmethod
    def _invalid(body: Any) -> tuple[int, str] | None:
        if not isinstance(body, dict):
            return 400, "Failed to deserialize the JSON body into the target type"
        if not isinstance(body.get("model"), str) or not body["model"]:
            return 422, "Invalid Parameters: model is required"
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return 422, "Invalid Parameters: messages must be a non-empty list"
        for m in messages:
            if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant") \
                    or not isinstance(m.get("content"), str):
                return 422, "Invalid Parameters: each message needs a role and string content"
        max_tokens = body.get("max_tokens")
        if max_tokens is not None and (not isinstance(max_tokens, int) or not 1 <= max_tokens <= 8192):
            return 400, "Invalid max_tokens value, the valid range of max_tokens is [1, 8192]"
        fmt = (body.get("response_format") or {}).get("type")
        if fmt == "json_object" and not any("json" in m["content"].lower() for m in messages):
            return 400, "Prompt must contain the word 'json' in some form to use 'response_format' of type 'json_object'"
        return None

    # -- responses ------------------------------------------------------------------------
    def _error(self, status: int, scripted: Scripted | None, message: str | None = None,
               last4: str = "") -> Response:
        if scripted is not None and scripted.raw_body is not None:
            return Response(scripted.raw_body, status=status, headers=scripted.headers,
                            content_type=scripted.content_type or "application/json")
        err = dict(ERROR_BODIES.get(status) or {"message": f"HTTP {status}", "type": "error", "param": None,
                                                  "code": None})
        err["message"] = (scripted.error_message if scripted and scripted.error_message else
                          message or str(err["message"]).replace("{last4}", last4))
        # DeepSeek sent its 400 as application/octet-stream (recorded)
        ctype = (scripted.content_type if scripted and scripted.content_type else
                 "application/octet-stream" if status == 400 else "application/json")
        return Response(json.dumps({"error": err}), status=status, content_type=ctype,
                        headers=scripted.headers if scripted else {})

    def _usage(self, prompt: str, content: str, scripted: Scripted, generation: int) -> dict[str, Any] | None:
        if scripted.usage is False:
            return None
        if isinstance(scripted.usage, dict):
            return scripted.usage
        prompt_tokens = max(1, math.ceil(len(prompt) / 4))
        with self._lock:
            best = max((_common_prefix(prompt, p) for p in self._prompts), default=0)
            if generation == self._generation:
                self._prompts.append(prompt)
        hit = min((best // 4) // _CACHE_UNIT * _CACHE_UNIT, prompt_tokens)
        completion = math.ceil(len(content) / 4)
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": hit},
            "prompt_cache_hit_tokens": hit,
            "prompt_cache_miss_tokens": prompt_tokens - hit,
        }

    def _completion(self, content: str, usage: dict[str, Any] | None, scripted: Scripted,
                    model: str | None) -> Response:
        if scripted.raw_body is not None:
            return Response(scripted.raw_body, status=200, content_type="application/json")
        if self.keepalive_lines:
            # DeepSeek keeps a waiting non-streamed request alive with blank lines
            def body_with_keepalive() -> Iterator[bytes]:
                for _ in range(self.keepalive_lines):
                    if scripted.chunk_delay:
                        time.sleep(scripted.chunk_delay)
                    yield b"\n"
                yield self._completion_body(content, usage, scripted, model).get_data()

            return Response(body_with_keepalive(), status=200, content_type="application/json")
        return self._completion_body(content, usage, scripted, model)

    def _completion_body(self, content: str, usage: dict[str, Any] | None, scripted: Scripted,
                         model: str | None) -> Response:
        body: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model or self.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "logprobs": None,
                "finish_reason": scripted.finish_reason,
            }],
            "system_fingerprint": "fp_fake_prod0820_fp8_kvcache",
        }
        if usage is not None:
            body["usage"] = usage
        return Response(json.dumps(body), status=200, content_type="application/json", headers=scripted.headers)

    def _stream(self, content: str, usage: dict[str, Any] | None, scripted: Scripted,
                model: str | None) -> Response:
        cid = str(uuid.uuid4())
        created = int(time.time())
        model = model or self.model

        def chunk(delta: dict[str, Any], finish: str | None, chunk_usage: Any = None) -> bytes:
            obj = {
                "id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                "system_fingerprint": "fp_fake_prod0820_fp8_kvcache",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
                "usage": chunk_usage,
            }
            return f"data: {json.dumps(obj)}\n\n".encode()

        def events() -> Iterator[bytes]:
            for _ in range(self.keepalive_lines):
                if scripted.chunk_delay:
                    time.sleep(scripted.chunk_delay)
                yield b": keep-alive\n\n"
            if scripted.raw_body is not None:
                yield scripted.raw_body
                return
            yield chunk({"role": "assistant", "content": ""}, None)
            pieces = [content[i:i + 12] for i in range(0, len(content), 12)]
            for piece in pieces:
                if scripted.chunk_delay:
                    time.sleep(scripted.chunk_delay)
                yield chunk({"content": piece}, None)
            if scripted.truncate_stream:
                return
            # as recorded: the finish reason and the usage share the last chunk
            yield chunk({"content": ""}, scripted.finish_reason, usage)
            yield b"data: [DONE]\n\n"

        return Response(events(), status=200, content_type="text/event-stream; charset=utf-8",
                        headers={"Cache-Control": "no-cache", **scripted.headers})

    # -- the default answers ------------------------------------------------------------------
    @staticmethod
    def _task_input(messages: list[dict[str, str]]) -> tuple[str, dict[str, Any]]:
        system = next((m["content"] for m in messages if m["role"] == "system"), "")
        m = re.search(r"Task: (\w+)\.", system)
        task = m.group(1) if m else ""
        for msg in messages:
            if msg["role"] == "user" and INPUT_MARKER in msg["content"]:
                try:
                    return task, json.loads(msg["content"].split(INPUT_MARKER, 1)[1])
                except ValueError:
                    break
        return task, {}

    def _answer(self, messages: list[dict[str, str]]) -> str:
        task, data = self._task_input(messages)
        if task == "drafts":
            return json.dumps({"drafts": _drafts(data)}, ensure_ascii=False)
        if task == "rewrite":
            text = " ".join(str(data.get("text", "")).split())
            return json.dumps({"text": _fit(text, int(data.get("max_length") or 280))}, ensure_ascii=False)
        if task == "hashtags":
            return json.dumps({"hashtags": _tags(str(data.get("text", "")), int(data.get("count") or 3))})
        if task == "sentiment":
            return json.dumps({"results": [_score(i["id"], i["text"]) for i in data.get("items", [])]})
        if task == "reply":
            reply = "Thanks for your comment. Please send us a direct message so we can help."
            limit = data.get("max_length")
            return json.dumps({"reply": _fit(reply, int(limit)) if limit else reply})
        return "Hello! How can I help you today?"


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + "…"


def _tags(text: str, count: int) -> list[str]:
    words: list[str] = []
    for w in re.findall(r"[A-Za-z]{5,}", text):
        if w.lower() not in (x.lower() for x in words):
            words.append(w)
    return ["#" + w[:1].upper() + w[1:].lower() for w in words][:count]


def _drafts(data: dict[str, Any]) -> list[dict[str, Any]]:
    brief = " ".join(str(data.get("brief", "")).split())
    out = []
    for p in data.get("platforms", []):
        limit = int(p.get("max_length") or 280)
        cap = p.get("max_hashtags")
        tags = _tags(brief, 2 if cap is None else min(2, int(cap)))
        for v in range(int(data.get("variants") or 1)):
            tail = " " + " ".join(tags) if tags else ""
            lead = ("New: ", "Just in: ", "Heads up: ", "Today: ")[v % 4]
            text = _fit(lead + brief, limit - len(tail)) + tail
            out.append({"platform": p["name"], "text": text, "hashtags": tags})
    return out


_POS = re.compile(r"\b(love|great|thanks|thank|amazing|awesome|good|excellent|perfect|best)\b", re.I)
_NEG = re.compile(r"\b(hate|worst|broken|refund|late|bad|terrible|awful|never|angry|scam)\b", re.I)


def _score(i: int, text: str) -> dict[str, Any]:
    pos, neg = len(_POS.findall(text)), len(_NEG.findall(text))
    reasons = []
    if neg > pos:
        label, score = "negative", -min(1.0, 0.4 + 0.2 * neg)
        reasons.append("complaint")
    elif pos > neg:
        label, score = "positive", min(1.0, 0.4 + 0.2 * pos)
    else:
        label, score = "neutral", 0.0
    if "?" in text:
        reasons.append("question")
    if re.search(r"\b(urgent|asap|now)\b", text, re.I):
        reasons.append("urgent")
    return {"id": i, "label": label, "score": round(score, 2), "needs_human": bool(reasons), "reasons": reasons}
