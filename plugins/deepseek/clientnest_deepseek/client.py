"""A small client of the OpenAI-compatible ``POST /chat/completions``.

Every failure is classified here, once (the core's rule for platform errors):

====================  ================================  =====================
HTTP / network        error raised                      retried
====================  ================================  =====================
429                   ``NotSentError`` (Retry-After)    yes, with backoff
503                   ``NotSentError``                  yes, with backoff
500, 502, 504         ``AmbiguousError``                yes, with backoff
connect failure       ``NotSentError``                  yes, with backoff
read timeout          ``AmbiguousError`` code timeout   no (the deadline)
401, 403              ``AIAuthError``                   no
402                   ``AIBalanceError``                no
400, 404, 422, 4xx    ``AIRequestError``                no
====================  ================================  =====================

Retries are bounded twice: at most ``max_retries`` extra attempts, and never
past ``total_timeout`` seconds from the first attempt (a Retry-After that
would end after the deadline is not waited for). A streamed answer checks the
deadline between chunks, so a slow trickle cannot hold a request forever.
Error bodies are parsed whatever their content type (DeepSeek has sent a 400
as ``application/octet-stream``), and anything that looks like a key is
removed from messages before they are raised.
"""
from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from clientnest import Usage, errors

__all__ = ["ChatClient", "ChatResponse", "parse_usage", "redact"]

log = logging.getLogger(__name__)

_RETRY_STATUSES = {429, 500, 502, 503, 504}
_KEYLIKE = re.compile(r"(?i)(api[ _-]?key[:=]?\s*)\S+|\bsk-[A-Za-z0-9_-]{6,}")


def redact(message: str, secret: str | None = None) -> str:
    """``message`` with the key (and anything that looks like one) removed."""
    if secret:
        message = message.replace(secret, "<redacted>")
    return _KEYLIKE.sub(lambda m: (m.group(1) or "") + "<redacted>", message)


def parse_usage(raw: Any) -> Usage | None:
    """Token counts from a ``usage`` object, DeepSeek's or OpenAI's shape.

    DeepSeek reports ``prompt_cache_hit_tokens`` and ``prompt_cache_miss_tokens``;
    other OpenAI-compatible servers only ``prompt_tokens`` with
    ``prompt_tokens_details.cached_tokens``.
    """
    if not isinstance(raw, dict):
        return None
    completion = int(raw.get("completion_tokens") or 0)
    if "prompt_cache_hit_tokens" in raw or "prompt_cache_miss_tokens" in raw:
        hit = int(raw.get("prompt_cache_hit_tokens") or 0)
        miss = int(raw.get("prompt_cache_miss_tokens") or 0)
    else:
        prompt = int(raw.get("prompt_tokens") or 0)
        details = raw.get("prompt_tokens_details") or {}
        hit = int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
        miss = max(prompt - hit, 0)
    return Usage(prompt_cache_hit_tokens=hit, prompt_cache_miss_tokens=miss, completion_tokens=completion)


@dataclass
class ChatResponse:
    """One completed answer."""

    content: str
    finish_reason: str | None
    usage: Usage
    model: str
    #: True when the server sent no usage and the counts are estimated (chars / 4)
    usage_estimated: bool = False
    streamed: bool = False


class _Retry(Exception):
    """Internal: an attempt failed in a way worth another attempt."""

    def __init__(self, error: errors.PlatformError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


class ChatClient:
    """``complete(messages, ...)`` with retries, bounded time and clear errors."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        provider: str = "deepseek",
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        total_timeout: float = 60.0,
        max_retries: int = 2,
        backoff_base: float = 0.5,
        stream: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.provider = provider
        self.total_timeout = total_timeout
        self.read_timeout = read_timeout
        self.connect_timeout = connect_timeout
        self.max_retries = max(0, max_retries)
        self.backoff_base = backoff_base
        self.stream = stream
        self._sleep = sleep
        self._secret = api_key
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {api_key}",
                "Accept": "application/json",
                "User-Agent": "clientnest-deepseek",
            },
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            transport=transport,
        )
        self._local = threading.local()

    @property
    def last_network_seconds(self) -> float:
        """Seconds this thread's last ``complete`` spent on the network
        (every attempt and backoff included); the benchmark subtracts it."""
        return float(getattr(self._local, "network", 0.0))

    @property
    def last_attempts(self) -> int:
        """Attempts this thread's last ``complete`` made."""
        return int(getattr(self._local, "attempts", 0))

    def close(self) -> None:
        self._http.close()

    # -- public ---------------------------------------------------------------------
    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        model: str,
        json_mode: bool = True,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> ChatResponse:
        body: dict[str, Any] = {"model": model, "messages": messages, "stream": self.stream}
        if json_mode:
            body["response_format"] = {"type": "json_object"}
        if max_tokens:
            body["max_tokens"] = max_tokens
        if temperature is not None:
            body["temperature"] = temperature
        if self.stream:
            body["stream_options"] = {"include_usage": True}

        prompt_chars = sum(len(m.get("content") or "") for m in messages)
        start = time.monotonic()
        deadline = start + self.total_timeout
        attempt = 0
        try:
            while True:
                attempt += 1
                self._local.attempts = attempt
                try:
                    return self._attempt(body, deadline, prompt_chars)
                except _Retry as retry:
                    if attempt > self.max_retries:
                        _annotate(retry.error, f"gave up after {attempt} attempts")
                        raise retry.error from None
                    delay = retry.retry_after
                    if delay is None:
                        delay = self.backoff_base * (2 ** (attempt - 1)) * (1 + random.random() * 0.25)
                    if time.monotonic() + delay >= deadline:
                        _annotate(retry.error, f"no retry: the {self.total_timeout:g}s deadline would pass")
                        raise retry.error from None
                    log.info("%s: attempt %d failed (%s); retrying in %.2fs",
                             self.provider, attempt, retry.error.message, delay)
                    self._sleep(delay)
        finally:
            self._local.network = time.monotonic() - start

    # -- one attempt ------------------------------------------------------------------
    def _timeout(self, deadline: float) -> httpx.Timeout:
        left = max(deadline - time.monotonic(), 0.05)
        return httpx.Timeout(min(self.read_timeout, left), connect=min(self.connect_timeout, left))

    def _attempt(self, body: dict[str, Any], deadline: float, prompt_chars: int) -> ChatResponse:
        # Always read the body as a stream, so the deadline is checked as bytes
        # arrive: DeepSeek keeps a waiting request alive with blank lines (or
        # ": keep-alive" comments when streaming), which would reset a plain
        # read timeout forever.
        try:
            with self._http.stream("POST", "/chat/completions", json=body, timeout=self._timeout(deadline)) as resp:
                if resp.status_code != 200:
                    resp.read()
                    self._raise_for_status(resp)
                if body.get("stream"):
                    return self._read_stream(resp, deadline, prompt_chars)
                parts: list[bytes] = []
                for chunk in resp.iter_bytes():
                    self._check_deadline(deadline)
                    parts.append(chunk)
                return self._read_json(b"".join(parts), resp.status_code, prompt_chars)
        except httpx.ConnectTimeout as exc:
            raise _Retry(errors.NotSentError(
                f"{self.provider}: connection timed out", platform=self.provider, code="timeout")) from exc
        except httpx.ConnectError as exc:
            raise _Retry(errors.NotSentError(
                f"{self.provider}: cannot connect ({type(exc).__name__})", platform=self.provider)) from exc
        except httpx.TimeoutException as exc:
            # The model may still be writing: waiting again would blow the
            # deadline, and the caller is better told now.
            raise errors.AmbiguousError(
                f"{self.provider}: no answer within {self.read_timeout:g}s", platform=self.provider, code="timeout"
            ) from exc
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise _Retry(errors.AmbiguousError(
                f"{self.provider}: connection lost ({type(exc).__name__})", platform=self.provider)) from exc

    def _check_deadline(self, deadline: float) -> None:
        if time.monotonic() > deadline:
            raise errors.AmbiguousError(
                f"{self.provider}: answer not finished within {self.total_timeout:g}s",
                platform=self.provider, code="timeout",
            )

    def _read_json(self, raw: bytes, status: int, prompt_chars: int) -> ChatResponse:
        try:
            data = json.loads(raw)  # leading keep-alive blank lines are whitespace to JSON
            choice = data["choices"][0]
            message = choice.get("message") or {}
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise errors.AIOutputError(
                f"{self.provider}: unreadable completion ({type(exc).__name__})", platform=self.provider,
                status=status,
            ) from exc
        content = message.get("content") or ""
        usage = parse_usage(data.get("usage"))
        return self._response(content, choice.get("finish_reason"), usage, data.get("model"), prompt_chars)

    def _read_stream(self, resp: httpx.Response, deadline: float, prompt_chars: int) -> ChatResponse:
        parts: list[str] = []
        finish: str | None = None
        usage: Usage | None = None
        model: str | None = None
        done = False
        for data in _sse_data(resp.iter_lines()):
            self._check_deadline(deadline)
            if data is None:  # a keep-alive comment: only the deadline to check
                continue
            if data == "[DONE]":
                done = True
                break
            try:
                chunk = json.loads(data)
            except ValueError:
                raise _Retry(errors.AmbiguousError(
                    f"{self.provider}: malformed stream chunk", platform=self.provider)) from None
            if "error" in chunk:  # a failure reported mid-stream
                err = chunk["error"] if isinstance(chunk["error"], dict) else {"message": str(chunk["error"])}
                raise _Retry(errors.AmbiguousError(
                    f"{self.provider}: {redact(str(err.get('message', 'stream error')), self._secret)}",
                    platform=self.provider, raw=err))
            model = chunk.get("model") or model
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                if delta.get("content"):
                    parts.append(delta["content"])
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
            if chunk.get("usage"):
                usage = parse_usage(chunk["usage"])
        if not done and finish is None:
            raise _Retry(errors.AmbiguousError(
                f"{self.provider}: the stream ended before the answer did", platform=self.provider))
        return self._response("".join(parts), finish, usage, model, prompt_chars, streamed=True)

    def _response(
        self, content: str, finish: str | None, usage: Usage | None, model: str | None,
        prompt_chars: int, *, streamed: bool = False,
    ) -> ChatResponse:
        estimated = usage is None
        if usage is None:
            # No usage sent (some OpenAI-compatible servers): estimate rather
            # than meter zero, so the budget still holds.
            usage = Usage(prompt_cache_miss_tokens=max(1, prompt_chars // 4),
                          completion_tokens=max(1, len(content) // 4))
        return ChatResponse(content=content, finish_reason=finish, usage=usage, model=model or "",
                            usage_estimated=estimated, streamed=streamed)

    def _raise_for_status(self, resp: httpx.Response) -> None:
        status = resp.status_code
        raw = _error_body(resp)
        err = raw.get("error") if isinstance(raw.get("error"), dict) else raw
        message = redact(str(err.get("message") or resp.reason_phrase or f"HTTP {status}"), self._secret)
        code = err.get("code") or err.get("type")
        safe_raw = {k: (redact(str(v), self._secret) if isinstance(v, str) else v) for k, v in err.items()}
        kw: dict[str, Any] = {"platform": self.provider, "status": status, "code": code, "raw": safe_raw}
        name = self.provider
        if status in _RETRY_STATUSES:
            retry_after = _retry_after(resp.headers.get("retry-after"))
            retry_at = datetime.now(UTC) + timedelta(seconds=retry_after) if retry_after is not None else None
            cls = errors.NotSentError if status in (429, 503) else errors.AmbiguousError
            what = {429: "rate limit reached", 503: "server overloaded"}.get(status, "server error")
            raise _Retry(cls(f"{name}: {what} (HTTP {status}): {message}", retry_at=retry_at, **kw), retry_after)
        if status in (401, 403):
            raise errors.AIAuthError(
                f"{name} rejected the API key (HTTP {status}): {message}. "
                f"Set a valid key in CLIENTNEST_{name.upper()}_API_KEY.", **kw)
        if status == 402:
            raise errors.AIBalanceError(
                f"{name} account has insufficient balance (HTTP 402): top up the account to use AI again", **kw)
        if status == 404:
            raise errors.AIRequestError(
                f"{name}: not found (HTTP 404): {message}; check base_url and model", **kw)
        raise errors.AIRequestError(f"{name} refused the request (HTTP {status}): {message}", **kw)


def _annotate(error: errors.PlatformError, note: str) -> None:
    error.message = f"{error.message} ({note})"
    error.args = (error.message,)


def _error_body(resp: httpx.Response) -> dict[str, Any]:
    """The decoded error envelope, whatever the content type says."""
    try:
        data = json.loads(resp.content or b"{}")
    except ValueError:
        text = resp.text.strip()[:300]
        return {"message": text} if text else {}
    return data if isinstance(data, dict) else {"message": str(data)[:300]}


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        from email.utils import parsedate_to_datetime

        when = parsedate_to_datetime(value)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def _sse_data(lines: Iterator[str]) -> Iterator[str | None]:
    """The ``data:`` payloads of a server-sent-event stream.

    A comment line (``: keep-alive``, which DeepSeek sends while a request
    waits) yields ``None``, so the reader can check its deadline; other
    fields are skipped; multi-line data is joined.
    """
    buf: list[str] = []
    for line in lines:
        if line == "":
            if buf:
                yield "\n".join(buf)
                buf = []
            continue
        if line.startswith(":"):
            yield None
            continue
        field, _, value = line.partition(":")
        if field == "data":
            buf.append(value[1:] if value.startswith(" ") else value)
    if buf:
        yield "\n".join(buf)
