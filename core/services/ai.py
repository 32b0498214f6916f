"""AI for a workspace: which provider answers, the response cache, the
monthly budget, and metering.

Every request goes the same way (:func:`_run`):

1. **provider**: the one the request names, else ``Settings.ai_provider``,
   else the first provider with a key; the bundled ``offline`` provider when
   none has a key (the outcome then carries a ``notice`` saying so);
2. **cache**: the normalized request (per workspace, feature, provider and
   model) is looked up; a hit answers at no cost and is metered as a cache
   hit. Redis when ``Settings.redis_url`` is set (shared by every process),
   else an in-process TTL dict;
3. **budget**: the request's cost is estimated from the provider's price
   table; under a lock on the workspace row, the month's spend plus that
   estimate must stay within ``Workspace.ai_budget_usd``, else
   :class:`~clientnest.errors.AIBudgetExceeded`. The estimate is written as
   a ``reserved`` usage event in the same transaction, so concurrent requests
   see each other's reservations;
4. **call** the provider (the drafts and sentiment operations through their
   hooks, so a plugin can wrap or replace them);
5. **meter**: the reservation becomes the provider's own usage and its price
   (``ok``), or whatever the provider still billed (``failed``).

Months and days are UTC calendar months and days.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from ..ai import AIFeature, AIProvider, AIResult, Draft, DraftRequest, ReplyContext, Sentiment, Usage
from ..errors import AIBudgetExceeded, ClientNestError, ConfigError
from ..models import AIUsageEvent, Workspace
from ..offline_ai import NAME as OFFLINE, ReplyRules, normalize_space
from ..plugins import PluginHost
from ..runtime import Runtime
from ..settings import Settings
from .platforms import ensure_platform_enabled, platform_rules

__all__ = [
    "AIOutcome",
    "ProviderChoiceError",
    "BudgetStatus",
    "choose_provider",
    "generate_drafts",
    "rewrite",
    "suggest_hashtags",
    "score_sentiment",
    "draft_reply",
    "usage_report",
    "budget_status",
    "month_spend",
    "ResponseCache",
    "MemoryCache",
    "RedisCache",
    "response_cache",
    "cache_key",
]

log = logging.getLogger(__name__)

_CENTS = Decimal("0.00000001")  # the precision of ai_usage_events.cost_usd
_CACHE_VERSION = 1


class ProviderChoiceError(ClientNestError):
    """The request named a provider that is not enabled or has no key."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = "provider"


@dataclass
class AIOutcome:
    """What a feature returns to the API: the value and where it came from."""

    value: Any
    provider: str
    model: str
    offline: bool
    cached: bool
    usage: Usage
    cost_usd: Decimal
    #: why this provider answered, when it is not the one configured
    notice: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# -- provider choice --------------------------------------------------------------

def _try_provider(host: PluginHost, name: str) -> AIProvider | None:
    try:
        return host.provider(name)
    except ConfigError as exc:  # a broken configuration is loud in the log, not a 500
        log.error("AI provider %s cannot be configured: %s", name, exc)
        return None


def choose_provider(
    host: PluginHost, settings: Settings, requested: str | None = None, feature: AIFeature | None = None
) -> tuple[AIProvider, str | None]:
    """The provider for one request and, when it is a fallback, why.

    :param requested: a provider the request names; it must be enabled and
        configured (no silent fallback for an explicit choice).
    :raises ProviderChoiceError: ``requested`` cannot answer.
    """
    def capable(p: AIProvider) -> bool:
        return feature is None or not p.capabilities or feature in p.capabilities

    if requested:
        if requested not in host.provider_classes:
            enabled = ", ".join(sorted(host.provider_classes))
            raise ProviderChoiceError(f"AI provider {requested!r} is not enabled (enabled: {enabled})")
        p = _try_provider(host, requested)
        if p is None or not p.is_configured():
            raise ProviderChoiceError(f"AI provider {requested!r} is not configured (no API key)")
        if not capable(p):
            raise ProviderChoiceError(f"AI provider {requested!r} cannot do {feature}")
        return p, None

    offline = host.provider(OFFLINE)
    wanted = settings.ai_provider
    if wanted and wanted != OFFLINE:
        if wanted not in host.provider_classes:
            return offline, f"the configured AI provider {wanted!r} is not enabled; answered by the offline provider"
        p = _try_provider(host, wanted)
        if p is None or not p.is_configured():
            return offline, f"the configured AI provider {wanted!r} has no API key; answered by the offline provider"
        if not capable(p):
            return offline, f"AI provider {wanted!r} cannot do {feature}; answered by the offline provider"
        return p, None
    if wanted == OFFLINE:
        return offline, None
    for name in sorted(host.provider_classes):
        if name == OFFLINE:
            continue
        p = _try_provider(host, name)
        if p is not None and p.is_configured() and capable(p):
            return p, None
    return offline, "no AI provider has an API key; answered by the bundled offline provider"


# -- response cache -------------------------------------------------------------------

class ResponseCache(Protocol):
    def get(self, key: str) -> dict[str, Any] | None: ...
    def set(self, key: str, value: dict[str, Any], ttl: int) -> None: ...
    def close(self) -> None: ...


class MemoryCache:
    """An in-process TTL cache (embedded mode), bounded in size."""

    def __init__(self, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._data: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            expires, raw = item
            if expires <= self._clock():
                del self._data[key]
                return None
            self._data.move_to_end(key)
        return json.loads(raw)

    def set(self, key: str, value: dict[str, Any], ttl: int) -> None:
        if ttl <= 0:
            return
        raw = json.dumps(value)  # stored as text: a caller cannot mutate a cached answer
        with self._lock:
            self._data[key] = (self._clock() + ttl, raw)
            self._data.move_to_end(key)
            while len(self._data) > self._max:
                self._data.popitem(last=False)

    def close(self) -> None:
        with self._lock:
            self._data.clear()


class RedisCache:
    """The cache in Redis, shared by every API process and worker.

    A Redis failure is logged and treated as a miss: the cache saves money,
    it must never fail a request.
    """

    PREFIX = "clientnest:ai:cache:"

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            raw = self._redis.get(self.PREFIX + key)
        except Exception as exc:
            log.warning("AI cache read failed: %s", exc)
            return None
        return json.loads(raw) if raw else None

    def set(self, key: str, value: dict[str, Any], ttl: int) -> None:
        if ttl <= 0:
            return
        try:
            self._redis.set(self.PREFIX + key, json.dumps(value), ex=ttl)
        except Exception as exc:
            log.warning("AI cache write failed: %s", exc)

    def close(self) -> None:
        self._redis.close()


_cache_lock = threading.Lock()


def response_cache(rt: Runtime) -> ResponseCache:
    """The runtime's cache, made on first use (closed with the runtime)."""
    cache = rt.extras.get("ai_cache")
    if cache is None:
        with _cache_lock:
            cache = rt.extras.get("ai_cache")
            if cache is None:
                cache = RedisCache(rt.settings.redis_url) if rt.settings.redis_url else MemoryCache()
                rt.extras["ai_cache"] = cache
    return cache


def cache_key(workspace_id: int, feature: str, provider: str, model: str, normalized: Any) -> str:
    """SHA-256 of the normalized request. Per workspace: one tenant's
    answers are never served to another."""
    blob = json.dumps(
        {"v": _CACHE_VERSION, "ws": workspace_id, "f": str(feature), "p": provider, "m": model, "in": normalized},
        sort_keys=True, ensure_ascii=False, separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode()).hexdigest()


# -- codecs: how each feature's value is cached ---------------------------------------

@dataclass(frozen=True)
class _Codec:
    dump: Callable[[Any], Any]
    load: Callable[[Any], Any]


_SAME = _Codec(lambda v: v, lambda v: v)
_CODECS: dict[AIFeature, _Codec] = {
    AIFeature.DRAFTS: _Codec(lambda v: [asdict(d) for d in v], lambda v: [Draft(**d) for d in v]),
    AIFeature.SENTIMENT: _Codec(lambda v: [asdict(s) for s in v], lambda v: [Sentiment(**s) for s in v]),
    AIFeature.REWRITE: _SAME,
    AIFeature.HASHTAGS: _SAME,
    AIFeature.REPLIES: _SAME,
}


# -- money ------------------------------------------------------------------------------

def _usd(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(_CENTS, rounding=ROUND_HALF_UP)


def _month_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next_month(start: datetime) -> datetime:
    return (start + timedelta(days=32)).replace(day=1)


def month_spend(session: Session, workspace_id: int, now: datetime | None = None) -> Decimal:
    """USD spent (and reserved) by the workspace this UTC month."""
    start = _month_start(now or datetime.now(UTC))
    total = session.scalar(
        select(func.coalesce(func.sum(AIUsageEvent.cost_usd), 0)).where(
            AIUsageEvent.workspace_id == workspace_id, AIUsageEvent.created_at >= start,
        )
    )
    return _usd(total or 0)


@dataclass
class BudgetStatus:
    budget_usd: Decimal
    spent_usd: Decimal
    period_start: datetime
    period_end: datetime

    @property
    def remaining_usd(self) -> Decimal:
        return max(self.budget_usd - self.spent_usd, Decimal(0))


def budget_status(session: Session, workspace: Workspace, now: datetime | None = None) -> BudgetStatus:
    start = _month_start(now or datetime.now(UTC))
    return BudgetStatus(
        budget_usd=_usd(workspace.ai_budget_usd or 0), spent_usd=month_spend(session, workspace.id, now),
        period_start=start, period_end=_next_month(start),
    )


def _reserve(
    session: Session, workspace_id: int, feature: AIFeature, provider: AIProvider, estimate: Decimal,
    items: int, now: datetime | None,
) -> AIUsageEvent:
    """Check the budget and hold ``estimate`` of it, atomically.

    First the workspace row is locked until the commit (``SELECT ... FOR
    UPDATE`` on PostgreSQL; on SQLite a no-op UPDATE takes the database write
    lock), so two requests cannot both read the same spend and both pass.
    Budget and spend are read by a *second* statement: under READ COMMITTED
    a statement that waited for the lock still sees the data of the moment
    it started, so reading the spend in the locking statement would miss the
    reservation committed by the request it waited for.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(Workspace).where(Workspace.id == workspace_id)
            .values(ai_budget_usd=Workspace.ai_budget_usd)
            .execution_options(synchronize_session=False)
        )
    else:
        session.execute(select(Workspace.id).where(Workspace.id == workspace_id).with_for_update())
    spent_q = (
        select(func.coalesce(func.sum(AIUsageEvent.cost_usd), 0))
        .where(AIUsageEvent.workspace_id == workspace_id,
               AIUsageEvent.created_at >= _month_start(now or datetime.now(UTC)))
        .scalar_subquery()
    )
    row = session.execute(select(Workspace.ai_budget_usd, spent_q).where(Workspace.id == workspace_id)).one()
    budget, spent = _usd(row[0] or 0), _usd(row[1] or 0)
    if spent + estimate > budget:
        session.rollback()
        exc = AIBudgetExceeded(float(budget), float(spent))
        exc.estimate_usd = float(estimate)  # type: ignore[attr-defined]
        raise exc
    event = AIUsageEvent(
        workspace_id=workspace_id, feature=str(feature), provider=provider.name, model=provider.model,
        cached=False, cost_usd=estimate, status="reserved", items=items,
    )
    if now is not None:
        event.created_at = now
    session.add(event)
    session.commit()
    return event


def _settle(session: Session, event: AIUsageEvent, provider: str, model: str, usage: Usage,
            cost: Decimal, status: str) -> None:
    event.provider, event.model, event.status = provider, model[:128], status
    event.prompt_cache_hit_tokens = usage.prompt_cache_hit_tokens
    event.prompt_cache_miss_tokens = usage.prompt_cache_miss_tokens
    event.completion_tokens = usage.completion_tokens
    event.cost_usd = cost
    session.add(event)
    session.commit()


# -- the one path every feature takes ----------------------------------------------------

def _run(
    session: Session,
    rt: Runtime,
    workspace: Workspace,
    feature: AIFeature,
    requested: str | None,
    normalized: dict[str, Any],
    call: Callable[[AIProvider], AIResult[Any]],
    estimate: Usage,
    *,
    items: int = 1,
    now: datetime | None = None,
) -> AIOutcome:
    provider, notice = choose_provider(rt.plugins, rt.settings, requested, feature)
    codec = _CODECS[feature]
    cache = response_cache(rt)
    key = cache_key(workspace.id, feature, provider.name, provider.model, normalized)
    workspace_id = workspace.id

    hit = cache.get(key)
    if hit is not None:
        event = AIUsageEvent(workspace_id=workspace_id, feature=str(feature), provider=hit["provider"],
                             model=hit["model"], cached=True, cost_usd=Decimal(0), status="ok", items=items)
        if now is not None:
            event.created_at = now
        session.add(event)
        session.commit()
        return AIOutcome(value=codec.load(hit["value"]), provider=hit["provider"], model=hit["model"],
                         offline=bool(hit.get("offline")), cached=True, usage=Usage(), cost_usd=Decimal(0),
                         notice=notice)

    estimated = _usd(provider.price(estimate))
    if estimated > 0:
        event = _reserve(session, workspace_id, feature, provider, estimated, items, now)
    else:  # free (offline): nothing to hold, but still metered
        event = AIUsageEvent(workspace_id=workspace_id, feature=str(feature), provider=provider.name,
                             model=provider.model, cached=False, status="reserved", items=items)
        if now is not None:
            event.created_at = now

    try:
        result = call(provider)
    except Exception as exc:
        billed = getattr(exc, "usage", None)
        billed = billed if isinstance(billed, Usage) else Usage()
        try:
            _settle(session, event, provider.name, provider.model, billed, _usd(provider.price(billed)), "failed")
        except Exception:  # never hide the provider's error behind a metering one
            session.rollback()
            log.exception("metering a failed AI request failed")
        raise
    cost = _usd(provider.price(result.usage))
    _settle(session, event, result.provider, result.model, result.usage, cost, "ok")
    cache.set(key, {"value": codec.dump(result.value), "provider": result.provider, "model": result.model,
                    "offline": provider.offline}, rt.settings.ai_cache_ttl_seconds)
    return AIOutcome(value=result.value, provider=result.provider, model=result.model, offline=provider.offline,
                     cached=False, usage=result.usage, cost_usd=cost, notice=notice)


def _text(value: str) -> str:
    """The normalized form of free text: same meaning, same cache key."""
    return normalize_space(value)


def _tokens(chars: int) -> int:
    # ~3 characters a token errs on the high side for English and most
    # European languages, which is the side a budget check should err on
    return chars // 3 + 1


# -- features ----------------------------------------------------------------------------

def _rules_for(session: Session, rt: Runtime, workspace_id: int, platform: str, field: str) -> Any:
    ensure_platform_enabled(session, rt.plugins, workspace_id, platform, field=field)
    return platform_rules(rt.plugins, platform)


def generate_drafts(
    session: Session, rt: Runtime, workspace: Workspace, *, brief: str, platforms: Sequence[str],
    tone: str = "friendly", language: str = "en", variants: int = 1, provider: str | None = None,
    now: datetime | None = None,
) -> AIOutcome:
    """Posts from a brief, ``variants`` per platform, each checked against
    its platform's rules (``extra["checks"]``, one per draft)."""
    names = list(dict.fromkeys(platforms))
    rules = {p: _rules_for(session, rt, workspace.id, p, "platforms") for p in names}
    request = DraftRequest(brief=_text(brief), platforms=names, rules=rules, tone=tone.strip().lower(),
                           language=language.strip().lower(), variants=variants)
    normalized = {"brief": request.brief, "platforms": names, "tone": request.tone, "language": request.language,
                  "variants": variants, "rules": {p: r.to_json() for p, r in rules.items()}}
    posts = len(names) * variants
    estimate = Usage(prompt_cache_miss_tokens=700 + _tokens(len(request.brief)) + 40 * len(names),
                     completion_tokens=sum(min(r.max_length, 3000) // 3 + 60 for r in rules.values()) * variants)

    def call(p: AIProvider) -> AIResult[list[Draft]]:
        return rt.plugins.hook.clientnest_generate_content(provider=p, request=request)

    outcome = _run(session, rt, workspace, AIFeature.DRAFTS, provider, normalized, call, estimate,
                   items=posts, now=now)
    outcome.extra["checks"] = [_check_draft(d, rules.get(d.platform)) for d in outcome.value]
    return outcome


def _check_draft(draft: Draft, rules: Any) -> dict[str, Any]:
    problems: list[str] = []
    if rules is not None:
        if len(draft.text) > rules.max_length:
            problems.append(f"{len(draft.text)} characters; {draft.platform} allows {rules.max_length}")
        if rules.max_hashtags is not None and len(draft.hashtags) > rules.max_hashtags:
            problems.append(f"{len(draft.hashtags)} hashtags; {draft.platform} allows {rules.max_hashtags}")
    return {
        "length": len(draft.text),
        "max_length": getattr(rules, "max_length", None),
        "media_required": bool(getattr(rules, "requires_media", False)),
        "fits_rules": not problems,
        "problems": problems,
    }


def rewrite(
    session: Session, rt: Runtime, workspace: Workspace, *, text: str, platform: str,
    provider: str | None = None, now: datetime | None = None,
) -> AIOutcome:
    """``text`` adapted to ``platform``'s style and rules."""
    rules = _rules_for(session, rt, workspace.id, platform, "platform")
    text = _text(text)
    normalized = {"text": text, "platform": platform, "rules": rules.to_json()}
    estimate = Usage(prompt_cache_miss_tokens=450 + _tokens(len(text)),
                     completion_tokens=min(rules.max_length, 6000) // 3 + 60)

    def call(p: AIProvider) -> AIResult[str]:
        return p.rewrite(text, platform, rules)

    outcome = _run(session, rt, workspace, AIFeature.REWRITE, provider, normalized, call, estimate, now=now)
    outcome.extra["checks"] = _check_draft(Draft(platform=platform, text=outcome.value, hashtags=[]), rules)
    return outcome


def suggest_hashtags(
    session: Session, rt: Runtime, workspace: Workspace, *, text: str, platform: str, count: int = 5,
    provider: str | None = None, now: datetime | None = None,
) -> AIOutcome:
    """At most ``count`` hashtags (and never more than the platform allows)."""
    rules = _rules_for(session, rt, workspace.id, platform, "platform")
    if rules.max_hashtags is not None:
        count = min(count, rules.max_hashtags)
    text = _text(text)
    normalized = {"text": text, "platform": platform, "count": count}
    estimate = Usage(prompt_cache_miss_tokens=350 + _tokens(len(text)), completion_tokens=30 + 12 * count)

    def call(p: AIProvider) -> AIResult[list[str]]:
        result = p.suggest_hashtags(text, platform, count)
        return replace(result, value=list(result.value)[:count])

    return _run(session, rt, workspace, AIFeature.HASHTAGS, provider, normalized, call, estimate, now=now)


def score_sentiment(
    session: Session, rt: Runtime, workspace: Workspace, *, texts: Sequence[str],
    provider: str | None = None, now: datetime | None = None,
) -> AIOutcome:
    """One :class:`Sentiment` per text, in order; the texts go to the provider
    as one batch (one call), and are metered as one request of N items."""
    texts = [_text(t) for t in texts]
    normalized = {"texts": texts}
    estimate = Usage(prompt_cache_miss_tokens=450 + sum(_tokens(len(t)) + 12 for t in texts),
                     completion_tokens=60 + 45 * len(texts))

    def call(p: AIProvider) -> AIResult[list[Sentiment]]:
        result = rt.plugins.hook.clientnest_score_sentiment(provider=p, texts=texts)
        if len(result.value) != len(texts):  # a plugin broke the contract: say so, do not misalign
            raise ClientNestError(f"{p.name} returned {len(result.value)} sentiments for {len(texts)} texts")
        return result

    return _run(session, rt, workspace, AIFeature.SENTIMENT, provider, normalized, call, estimate,
                items=len(texts), now=now)


def draft_reply(
    session: Session, rt: Runtime, workspace: Workspace, *, comment: str, post_text: str = "",
    platform: str | None = None, max_length: int | None = None, extra_rules: Sequence[str] = (),
    provider: str | None = None, now: datetime | None = None,
) -> AIOutcome:
    """A reply in the workspace's brand voice, within its reply rules.

    Every provider's reply is checked against the rules ClientNest can check
    (:class:`~clientnest.offline_ai.ReplyRules`); a model's reply that breaks
    one is asked for once more with the broken rules named, and if it still
    breaks one it is returned flagged (``value["violations"]``), never hidden.
    """
    if platform:
        rules_p = _rules_for(session, rt, workspace.id, platform, "context.platform")
        max_length = min(max_length or rules_p.max_length, rules_p.max_length)
    rules = [*(workspace.reply_rules or []), *extra_rules]
    context = ReplyContext(brand_voice=_text(workspace.brand_voice or ""), rules=[_text(r) for r in rules if r.strip()],
                           post_text=_text(post_text), platform=platform, max_length=max_length)
    checker = ReplyRules.parse(context.rules)
    comment = _text(comment)
    normalized = {"comment": comment, "context": asdict(context)}
    estimate = Usage(prompt_cache_miss_tokens=500 + _tokens(len(comment) + len(context.post_text)
                                                            + len(context.brand_voice) + sum(map(len, context.rules))),
                     completion_tokens=2 * 150)  # a second try may be needed

    def call(p: AIProvider) -> AIResult[dict[str, Any]]:
        result = p.draft_reply(comment, context)
        usage = result.usage
        broken = checker.violations(result.value)
        if broken and not p.offline:
            retry_ctx = replace(context, rules=[
                *context.rules, "Your previous draft broke these rules: " + "; ".join(broken) + ". Follow every rule."])
            again = p.draft_reply(comment, retry_ctx)
            usage = Usage(
                prompt_cache_hit_tokens=usage.prompt_cache_hit_tokens + again.usage.prompt_cache_hit_tokens,
                prompt_cache_miss_tokens=usage.prompt_cache_miss_tokens + again.usage.prompt_cache_miss_tokens,
                completion_tokens=usage.completion_tokens + again.usage.completion_tokens,
            )
            result = replace(again, usage=usage)
            broken = checker.violations(result.value)
        return replace(result, value={"text": result.value, "violations": broken})

    return _run(session, rt, workspace, AIFeature.REPLIES, provider, normalized, call, estimate, now=now)


# -- the usage report ------------------------------------------------------------------------

def _day(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", AIUsageEvent.created_at), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", AIUsageEvent.created_at)  # SQLite keeps UTC without offset


def usage_report(session: Session, workspace_id: int, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """One row per UTC day, feature, provider and model in ``[start, end)``."""
    day = _day(session).label("day")
    cached = func.sum(case((AIUsageEvent.cached.is_(True), 1), else_=0))
    failed = func.sum(case((AIUsageEvent.status == "failed", 1), else_=0))
    rows = session.execute(
        select(
            day, AIUsageEvent.feature, AIUsageEvent.provider, AIUsageEvent.model,
            func.count(AIUsageEvent.id), cached, failed,
            func.sum(AIUsageEvent.items),
            func.sum(AIUsageEvent.prompt_cache_hit_tokens), func.sum(AIUsageEvent.prompt_cache_miss_tokens),
            func.sum(AIUsageEvent.completion_tokens), func.sum(AIUsageEvent.cost_usd),
        )
        .where(AIUsageEvent.workspace_id == workspace_id, AIUsageEvent.created_at >= start,
               AIUsageEvent.created_at < end)
        .group_by(day, AIUsageEvent.feature, AIUsageEvent.provider, AIUsageEvent.model)
        .order_by(day, AIUsageEvent.feature, AIUsageEvent.provider, AIUsageEvent.model)
    ).all()
    out = []
    for d, feature, provider, model, n, hits, fails, items, hit, miss, completion, cost in rows:
        out.append({
            "day": d, "feature": feature, "provider": provider, "model": model,
            "requests": int(n), "cache_hits": int(hits or 0), "failed": int(fails or 0), "items": int(items or 0),
            "prompt_cache_hit_tokens": int(hit or 0), "prompt_cache_miss_tokens": int(miss or 0),
            "prompt_tokens": int(hit or 0) + int(miss or 0), "completion_tokens": int(completion or 0),
            "cost_usd": _usd(cost or 0),
        })
    return out
