"""The DeepSeek provider (and any OpenAI-compatible chat-completions server).

Each feature is one JSON-mode call (sentiment: one call per batch of up to
``sentiment_batch_size`` texts). The answer is parsed and validated against
the task's schema and the request's rules (lengths, hashtag limits, counts);
a blank or invalid answer gets exactly one repair attempt, then an
:class:`~clientnest.errors.AIOutputError` that still carries the tokens
billed. Usage comes from the server's own ``usage`` figures, and
:meth:`DeepSeekProvider.price` prices it from the configured table.
"""
from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from clientnest import (
    AIFeature,
    AIProvider,
    AIResult,
    ConfigField,
    ConfigSchema,
    Draft,
    DraftRequest,
    PlatformRules,
    ReplyContext,
    Sentiment,
    Usage,
    errors,
)

from . import prompts
from .client import ChatClient, ChatResponse
from .schemas import SCHEMAS, validate

__all__ = ["DeepSeekProvider", "add_usage"]

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)
_TAG = re.compile(r"^#?([^\s#]+)$", re.UNICODE)

# sampling per task, after DeepSeek's guidance (1.3 for creative writing,
# 1.0 for general use, 0 for classification)
_TEMPERATURE = {"drafts": 1.3, "rewrite": 1.0, "hashtags": 1.0, "sentiment": 0.0, "reply": 1.0}


def add_usage(a: Usage, b: Usage) -> Usage:
    return Usage(
        prompt_cache_hit_tokens=a.prompt_cache_hit_tokens + b.prompt_cache_hit_tokens,
        prompt_cache_miss_tokens=a.prompt_cache_miss_tokens + b.prompt_cache_miss_tokens,
        completion_tokens=a.completion_tokens + b.completion_tokens,
    )


def _hashtag(raw: Any) -> str | None:
    m = _TAG.match(str(raw).strip())
    return f"#{m.group(1)}" if m else None


class DeepSeekProvider(AIProvider):
    name = "deepseek"
    display_name = "DeepSeek"
    version = "0.1.0"
    capabilities = frozenset(AIFeature)
    config_schema = ConfigSchema((
        ConfigField("api_key", secret=True, needed_for="answers from this provider (without it the offline provider answers)", help="API key (DeepSeek, or the OpenAI-compatible server's)"),
        ConfigField("base_url", default="https://api.deepseek.com", help="OpenAI-compatible base URL"),
        ConfigField("model", default="deepseek-chat", help="model name sent with every request"),
        ConfigField("connect_timeout", float, default=5.0, help="seconds to open a connection"),
        ConfigField("read_timeout", float, default=30.0, help="seconds to wait for the next bytes of an answer"),
        ConfigField("total_timeout", float, default=60.0,
                    help="seconds one request may take, retries and backoff included"),
        ConfigField("max_retries", int, default=2, help="extra attempts after a 429, 500 or 503"),
        ConfigField("backoff_base", float, default=0.5, help="first backoff in seconds, doubled each retry"),
        ConfigField("stream", bool, default=True,
                    help="stream answers (keeps the read timeout per chunk; usage arrives in the last chunk)"),
        ConfigField("sentiment_batch_size", int, default=100, help="texts scored per call"),
        ConfigField("price_cache_hit_per_mtok", float, default=0.028,
                    help="USD per million input tokens served from the context cache"),
        ConfigField("price_cache_miss_per_mtok", float, default=0.28,
                    help="USD per million input tokens not in the cache"),
        ConfigField("price_output_per_mtok", float, default=0.42, help="USD per million output tokens"),
    ))

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self._client: ChatClient | None = None
        self._lock = threading.Lock()

    # -- configuration -------------------------------------------------------------
    def is_configured(self) -> bool:
        return bool(self.config.get("api_key"))

    def price(self, usage: Usage) -> float:
        c = self.config
        return (
            usage.prompt_cache_hit_tokens * float(c.get("price_cache_hit_per_mtok") or 0)
            + usage.prompt_cache_miss_tokens * float(c.get("price_cache_miss_per_mtok") or 0)
            + usage.completion_tokens * float(c.get("price_output_per_mtok") or 0)
        ) / 1_000_000

    @property
    def client(self) -> ChatClient:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    if not self.is_configured():
                        raise errors.AIAuthError(
                            f"{self.name}: no API key configured (CLIENTNEST_{self.name.upper()}_API_KEY)",
                            platform=self.name,
                        )
                    c = self.config
                    self._client = ChatClient(
                        base_url=c["base_url"], api_key=c["api_key"], provider=self.name,
                        connect_timeout=c["connect_timeout"], read_timeout=c["read_timeout"],
                        total_timeout=c["total_timeout"], max_retries=c["max_retries"],
                        backoff_base=c["backoff_base"], stream=c["stream"],
                    )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- the JSON round trip ----------------------------------------------------------
    def _json_task(
        self,
        task: str,
        payload: dict[str, Any],
        check: Callable[[dict[str, Any]], list[str]],
        max_tokens: int,
    ) -> tuple[dict[str, Any], Usage, str]:
        """Ask, validate, repair once; return (data, usage of every call, model)."""
        messages = [
            {"role": "system", "content": prompts.system_prompt(task)},
            {"role": "user", "content": prompts.user_message(payload)},
        ]
        usage = Usage()
        resp: ChatResponse | None = None
        problems: list[str] = []
        for attempt in (1, 2):
            if attempt == 1 or resp is None or not resp.content.strip():
                # First try, or a blank answer (JSON mode can return one):
                # ask the same thing again; the prefix is cached.
                ask = messages
            else:
                ask = messages + [
                    {"role": "assistant", "content": resp.content},
                    {"role": "user", "content": prompts.repair_message(problems)},
                ]
            try:
                resp = self.client.complete(
                    ask, model=self.model, json_mode=True, max_tokens=max_tokens,
                    temperature=_TEMPERATURE.get(task),
                )
            except errors.PlatformError as exc:
                exc.usage = usage  # type: ignore[attr-defined]  # tokens of an earlier call were billed
                raise
            usage = add_usage(usage, resp.usage)
            data, problems = self._parse(task, resp, check)
            if not problems:
                return data, usage, resp.model or self.model
        raise errors.AIOutputError(
            f"{self.name} returned invalid {task} output after one repair attempt: " + "; ".join(problems[:5]),
            platform=self.name, usage=usage, raw={"problems": problems[:20]},
        )

    @staticmethod
    def _parse(
        task: str, resp: ChatResponse, check: Callable[[dict[str, Any]], list[str]]
    ) -> tuple[dict[str, Any], list[str]]:
        text = resp.content.strip()
        if not text:
            return {}, ["the answer was blank"]
        fenced = _FENCE.match(text)  # some compatible servers fence JSON despite JSON mode
        if fenced:
            text = fenced.group(1)
        try:
            data = json.loads(text)
        except ValueError as exc:
            cut = " (the answer was cut off at max_tokens)" if resp.finish_reason == "length" else ""
            return {}, [f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}{cut}"]
        problems = validate(SCHEMAS[task], data)
        if not problems:
            problems = check(data)
        return data, problems

    # -- features -------------------------------------------------------------------
    def generate_posts(self, request: DraftRequest) -> AIResult[list[Draft]]:
        platforms = []
        for p in request.platforms:
            rules = request.rules.get(p) or PlatformRules(max_length=280)
            platforms.append({
                "name": p, "max_length": rules.max_length,
                "max_hashtags": rules.max_hashtags, "requires_media": rules.requires_media,
                "notes": rules.notes or None,
            })
        payload = {
            "platforms": platforms, "tone": request.tone, "language": request.language,
            "variants": request.variants, "brief": request.brief,
        }

        def check(data: dict[str, Any]) -> list[str]:
            problems: list[str] = []
            counts: dict[str, int] = {}
            for i, d in enumerate(data["drafts"]):
                p = d["platform"]
                if p not in request.platforms:
                    problems.append(f"$.drafts[{i}].platform: {p!r} was not requested")
                    continue
                counts[p] = counts.get(p, 0) + 1
                rules = request.rules.get(p) or PlatformRules(max_length=280)
                if len(d["text"]) > rules.max_length:
                    problems.append(
                        f"$.drafts[{i}].text: {len(d['text'])} characters, {p} allows {rules.max_length}")
                tags = [t for t in d["hashtags"] if str(t).strip()]
                if rules.max_hashtags is not None and len(tags) > rules.max_hashtags:
                    problems.append(f"$.drafts[{i}].hashtags: {len(tags)}, {p} allows {rules.max_hashtags}")
            for p in request.platforms:
                if counts.get(p, 0) < request.variants:
                    problems.append(f"$.drafts: {counts.get(p, 0)} draft(s) for {p}, {request.variants} requested")
            return problems

        per_post = sum(min((request.rules.get(p) or PlatformRules(280)).max_length, 3000) // 3 + 60
                       for p in request.platforms)
        data, usage, model = self._json_task(
            "drafts", payload, check, max_tokens=min(8000, 200 + per_post * request.variants))
        drafts: list[Draft] = []
        for p in request.platforms:  # the request's order, at most `variants` each
            mine = [d for d in data["drafts"] if d["platform"] == p][: request.variants]
            for d in mine:
                tags = [t for t in (_hashtag(h) for h in d["hashtags"]) if t]
                drafts.append(Draft(platform=p, text=d["text"].strip(), hashtags=tags))
        return AIResult(value=drafts, provider=self.name, model=model, usage=usage)

    def rewrite(self, text: str, platform: str, rules: PlatformRules) -> AIResult[str]:
        payload = {
            "platform": platform, "max_length": rules.max_length, "max_hashtags": rules.max_hashtags,
            "notes": rules.notes or None, "text": text,
        }

        def check(data: dict[str, Any]) -> list[str]:
            out = data["text"].strip()
            problems = []
            if len(out) > rules.max_length:
                problems.append(f"$.text: {len(out)} characters, {platform} allows {rules.max_length}")
            n = len(re.findall(r"(?<![\w#])#\w+", out))
            if rules.max_hashtags is not None and n > rules.max_hashtags:
                problems.append(f"$.text: {n} hashtags, {platform} allows {rules.max_hashtags}")
            return problems

        data, usage, model = self._json_task(
            "rewrite", payload, check, max_tokens=min(4000, min(rules.max_length, 6000) // 2 + 100))
        return AIResult(value=data["text"].strip(), provider=self.name, model=model, usage=usage)

    def suggest_hashtags(self, text: str, platform: str, count: int) -> AIResult[list[str]]:
        payload = {"platform": platform, "count": count, "text": text}

        def check(data: dict[str, Any]) -> list[str]:
            good = [t for t in (_hashtag(h) for h in data["hashtags"]) if t]
            return [] if good or count == 0 else ["$.hashtags: no usable hashtag (one word each, no spaces)"]

        data, usage, model = self._json_task("hashtags", payload, check, max_tokens=40 + 15 * count)
        seen: set[str] = set()
        tags: list[str] = []
        for t in (_hashtag(h) for h in data["hashtags"]):
            if t and t.lower() not in seen:
                seen.add(t.lower())
                tags.append(t)
        return AIResult(value=tags[:count], provider=self.name, model=model, usage=usage)

    def score_sentiment(self, texts: Sequence[str]) -> AIResult[list[Sentiment]]:
        size = max(1, int(self.config.get("sentiment_batch_size") or 100))
        results: list[Sentiment] = []
        usage = Usage()
        model = self.model
        for start in range(0, len(texts), size):
            batch = list(texts[start:start + size])
            try:
                scored, used, model = self._sentiment_batch(batch)
            except errors.PlatformError as exc:
                exc.usage = add_usage(usage, getattr(exc, "usage", None) or Usage())  # type: ignore[attr-defined]
                raise
            results.extend(scored)
            usage = add_usage(usage, used)
        return AIResult(value=results, provider=self.name, model=model, usage=usage)

    def _sentiment_batch(self, batch: list[str]) -> tuple[list[Sentiment], Usage, str]:
        payload = {"items": [{"id": i, "text": t} for i, t in enumerate(batch)]}

        def check(data: dict[str, Any]) -> list[str]:
            ids = [r["id"] for r in data["results"]]
            want = list(range(len(batch)))
            if sorted(ids) != want:
                missing = sorted(set(want) - set(ids))
                extra = sorted(set(ids) - set(want))
                return [f"$.results: ids must be exactly 0..{len(batch) - 1} once each"
                        + (f"; missing {missing[:10]}" if missing else "")
                        + (f"; unexpected {extra[:10]}" if extra else "")]
            return []

        data, usage, model = self._json_task("sentiment", payload, check, max_tokens=60 + 45 * len(batch))
        by_id = {r["id"]: r for r in data["results"]}
        out = []
        for i in range(len(batch)):
            r = by_id[i]
            reasons = list(dict.fromkeys(r.get("reasons") or []))
            out.append(Sentiment(
                label=r["label"], score=round(max(-1.0, min(1.0, float(r["score"]))), 4),
                needs_human=bool(r["needs_human"]) or bool(reasons), reasons=reasons,
            ))
        return out, usage, model

    def draft_reply(self, comment: str, context: ReplyContext) -> AIResult[str]:
        payload = {
            "brand_voice": context.brand_voice or None, "rules": list(context.rules),
            "platform": context.platform, "max_length": context.max_length,
            "post_text": context.post_text or None, "comment": comment,
        }

        def check(data: dict[str, Any]) -> list[str]:
            reply = data["reply"].strip()
            if context.max_length and len(reply) > context.max_length:
                return [f"$.reply: {len(reply)} characters, at most {context.max_length} allowed"]
            return []

        data, usage, model = self._json_task("reply", payload, check, max_tokens=400)
        return AIResult(value=data["reply"].strip(), provider=self.name, model=model, usage=usage)
