"""The provider's features against the fake DeepSeek: JSON mode, repair,
blank content, batching, cache-friendly prompts, prices."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from clientnest import DraftRequest, PlatformRules, ReplyContext, Usage, errors
from clientnest_deepseek.fake_server import FakeDeepSeek, Scripted
from clientnest_deepseek.prompts import INPUT_MARKER, system_prompt
from clientnest_deepseek.provider import DeepSeekProvider

RULES = {
    "twitter": PlatformRules(max_length=280),
    "instagram": PlatformRules(max_length=2200, requires_media=True, max_hashtags=30),
}


def _request(**kw: Any) -> DraftRequest:
    base: dict[str, Any] = dict(brief="Summer sale: 20% off all sandals until Sunday", platforms=["twitter", "instagram"],
                                rules=RULES, tone="playful", language="en", variants=2)
    base.update(kw)
    return DraftRequest(**base)


def _input(fake: FakeDeepSeek, n: int = -1) -> dict[str, Any]:
    user = [m for m in fake.requests[n].body["messages"] if m["role"] == "user"][0]["content"]
    return json.loads(user.split(INPUT_MARKER, 1)[1])


# -- drafts --------------------------------------------------------------------------

def test_drafts_fit_each_platform_and_name_the_provider(provider: DeepSeekProvider, fake: FakeDeepSeek) -> None:
    result = provider.generate_posts(_request())
    assert result.provider == "deepseek" and result.model == "deepseek-chat"
    assert [d.platform for d in result.value] == ["twitter", "twitter", "instagram", "instagram"]
    for d in result.value:
        assert 0 < len(d.text) <= RULES[d.platform].max_length
        assert all(t.startswith("#") for t in d.hashtags)
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
    # usage is the server's own figures, not a guess
    assert result.usage.completion_tokens == fake.requests[-1].usage["completion_tokens"]
    sent = _input(fake)
    assert sent["variants"] == 2 and sent["tone"] == "playful" and sent["language"] == "en"
    assert sent["platforms"][1] == {"name": "instagram", "max_length": 2200, "max_hashtags": 30,
                                    "requires_media": True, "notes": None}
    assert fake.requests[-1].body["response_format"] == {"type": "json_object"}
    assert fake.calls == 1


def test_invalid_json_gets_one_repair_attempt(provider: DeepSeekProvider, fake: FakeDeepSeek) -> None:
    fake.push(Scripted(content='{"drafts": [{"platform": "twitter", "text": "unterminated'))
    result = provider.generate_posts(_request(platforms=["twitter"], variants=1))
    assert len(result.value) == 1 and fake.calls == 2
    repair = fake.requests[1].body["messages"]
    assert repair[:2] == fake.requests[0].body["messages"]  # same prefix: cached
    assert repair[2] == {"role": "assistant", "content": '{"drafts": [{"platform": "twitter", "text": "unterminated'}
    assert repair[3]["role"] == "user" and "not valid JSON" in repair[3]["content"]
    # both calls are metered
    assert result.usage.completion_tokens == sum(r.usage["completion_tokens"] for r in fake.requests)


def test_a_draft_over_the_platform_limit_is_repaired(provider: DeepSeekProvider, fake: FakeDeepSeek) -> None:
    too_long = json.dumps({"drafts": [{"platform": "twitter", "text": "x" * 300, "hashtags": []}]})
    fake.push(Scripted(content=too_long))
    result = provider.generate_posts(_request(platforms=["twitter"], variants=1))
    assert len(result.value[0].text) <= 280
    assert "300 characters, twitter allows 280" in fake.requests[1].body["messages"][3]["content"]


def test_schema_violations_are_named_in_the_repair_request(provider: DeepSeekProvider, fake: FakeDeepSeek) -> None:
    fake.push(Scripted(content=json.dumps({"drafts": [{"platform": "twitter", "text": 5}]})))
    provider.generate_posts(_request(platforms=["twitter"], variants=1))
    repair = fake.requests[1].body["messages"][3]["content"]
    assert "$.drafts[0]: missing 'hashtags'" in repair
    assert "$.drafts[0].text: expected string, got number" in repair


def test_a_second_invalid_answer_is_a_clear_error_carrying_the_billed_usage(provider: DeepSeekProvider, fake: FakeDeepSeek) -> None:
    fake.push(Scripted(content="not json"), Scripted(content='{"drafts": "nope"}'))
    with pytest.raises(errors.AIOutputError) as info:
        provider.generate_posts(_request(platforms=["twitter"], variants=1))
    assert "after one repair attempt" in str(info.value) and "expected array" in str(info.value)
    assert fake.calls == 2  # exactly one repair, no more
    usage = info.value.usage
    assert isinstance(usage, Usage)
    assert usage.completion_tokens == sum(r.usage["completion_tokens"] for r in fake.requests)


def test_blank_content_is_asked_again_with_the_same_prompt(provider: DeepSeekProvider, fake: FakeDeepSeek) -> None:
    fake.push(Scripted(content=""))
    result = provider.generate_posts(_request(platforms=["twitter"], variants=1))
    assert len(result.value) == 1 and fake.calls == 2
    assert fake.requests[1].body["messages"] == fake.requests[0].body["messages"]


def test_blank_content_twice_is_a_clear_error(provider: DeepSeekProvider, fake: FakeDeepSeek) -> None:
    fake.push(Scripted(content=""), Scripted(content="   "))
    with pytest.raises(errors.AIOutputError, match="blank"):
        provider.suggest_hashtags("Vegan bakery opens in Lisbon", "instagram", 5)


def test_fenced_json_is_accepted_without_a_repair(provider: DeepSeekProvider, fake: FakeDeepSeek) -> None:
    fake.push(Scripted(content='```json\n{"hashtags": ["#Lisbon", "Vegan", "#two words"]}\n```'))
    result = provider.suggest_hashtags("Vegan bakery opens in Lisbon", "instagram", 5)
    assert result.value == ["#Lisbon", "#Vegan"] and fake.calls == 1


def test_a_cut_off_answer_says_so(provider: DeepSeekProvider, fake: FakeDeepSeek) -> None:
    fake.push(Scripted(content='{"text": "abc', finish_reason="length"))
    provider.rewrite("hello world", "twitter", RULES["twitter"])
    assert "cut off at max_tokens" in fake.requests[1].body["messages"][3]["content"]


def test_provider_errors_pass_through_distinctly(provider: DeepSeekProvider, fake: FakeDeepSeek) -> None:
    for status, cls in ((401, errors.AIAuthError), (402, errors.AIBalanceError), (422, errors.AIRequestError)):
        fake.fail(status)
        with pytest.raises(cls):
            provider.generate_posts(_request())


def test_transient_errors_are_retried_inside_a_feature(provider: DeepSeekProvider, fake: FakeDeepSeek) -> None:
    fake.fail(429).fail(503)
    result = provider.score_sentiment(["great"])
    assert result.value[0].label == "positive" and fake.calls == 3


# -- other features ------------------------------------------------------------------

def test_rewrite_respects_the_target_platform(provider: DeepSeekProvider, fake: FakeDeepSeek) -> None:
    long = "Our new collection is here. " * 30
    result = provider.rewrite(long, "twitter", RULES["twitter"])
    assert 0 < len(result.value) <= 280
    assert _input(fake)["max_length"] == 280 and _input(fake)["text"] == long


def test_hashtags_are_normalised_deduplicated_and_capped(provider: DeepSeekProvider, fake: FakeDeepSeek) -> None:
    fake.push(Scripted(content=json.dumps({"hashtags": ["#Lisbon", "lisbon", "Vegan", "#Bakery", "#Coffee", "#Extra"]})))
    result = provider.suggest_hashtags("Vegan bakery opens in Lisbon", "instagram", 3)
    assert result.value == ["#Lisbon", "#Vegan", "#Bakery"]


def test_sentiment_scores_many_texts_in_one_call(provider: DeepSeekProvider, fake: FakeDeepSeek) -> None:
    texts = ["I love this", "Worst service, I want a refund now", "Is it open on Sunday?"] * 10
    result = provider.score_sentiment(texts)
    assert fake.calls == 1  # 30 texts, one call
    assert len(result.value) == 30
    first, second, third = result.value[:3]
    assert first.label == "positive" and not first.needs_human
    assert second.label == "negative" and second.needs_human and "complaint" in second.reasons
    assert third.needs_human and "question" in third.reasons
    assert all(-1 <= s.score <= 1 for s in result.value)
    assert [i["id"] for i in _input(fake)["items"]] == list(range(30))


def test_sentiment_batches_split_by_the_configured_size(make_provider: Callable[..., DeepSeekProvider], fake: FakeDeepSeek) -> None:
    provider = make_provider(sentiment_batch_size="4")
    result = provider.score_sentiment([f"text {i} great" for i in range(10)])
    assert fake.calls == 3 and len(result.value) == 10
    assert result.usage.completion_tokens == sum(r.usage["completion_tokens"] for r in fake.requests)


def test_sentiment_answers_are_put_back_in_input_order(provider: DeepSeekProvider, fake: FakeDeepSeek) -> None:
    fake.push(Scripted(content=json.dumps({"results": [
        {"id": 1, "label": "negative", "score": -0.9, "needs_human": False, "reasons": ["complaint"]},
        {"id": 0, "label": "positive", "score": 0.9, "needs_human": False, "reasons": []},
    ]})))
    result = provider.score_sentiment(["good", "bad"])
    assert [s.label for s in result.value] == ["positive", "negative"]
    assert result.value[1].needs_human  # a complaint always needs a human


def test_a_missing_sentiment_item_is_repaired(provider: DeepSeekProvider, fake: FakeDeepSeek) -> None:
    fake.push(Scripted(content=json.dumps({"results": [
        {"id": 0, "label": "positive", "score": 0.9, "needs_human": False}]})))
    result = provider.score_sentiment(["good", "bad"])
    assert len(result.value) == 2 and fake.calls == 2
    assert "missing [1]" in fake.requests[1].body["messages"][3]["content"]


def test_reply_prompt_carries_brand_voice_and_rules(provider: DeepSeekProvider, fake: FakeDeepSeek) -> None:
    ctx = ReplyContext(brand_voice="Warm, concise, a little playful", rules=["Never promise refunds", "No emojis"],
                       post_text="Our summer sale is on", platform="instagram", max_length=200)
    result = provider.draft_reply("My sandals broke after a day, I want my money back", ctx)
    assert result.value and len(result.value) <= 200
    sent = _input(fake)
    assert sent["rules"] == ["Never promise refunds", "No emojis"]
    assert sent["brand_voice"] == "Warm, concise, a little playful"
    system = fake.requests[-1].body["messages"][0]["content"]
    assert "Follow every rule" in system and "never to promise refunds" in system


def test_a_reply_over_max_length_is_repaired(provider: DeepSeekProvider, fake: FakeDeepSeek) -> None:
    fake.push(Scripted(content=json.dumps({"reply": "y" * 150})))
    result = provider.draft_reply("hi", ReplyContext(max_length=100))
    assert len(result.value) <= 100 and fake.calls == 2


# -- the context cache -----------------------------------------------------------------

def test_prompts_keep_a_stable_prefix_with_variable_content_last(provider: DeepSeekProvider, fake: FakeDeepSeek) -> None:
    provider.generate_posts(_request(brief="First brief about sandals"))
    provider.generate_posts(_request(brief="A completely different brief about boots"))
    a, b = (r.body["messages"] for r in fake.requests)
    assert a[0] == b[0] and a[0]["role"] == "system"  # byte-identical system prompt
    assert a[0]["content"] == system_prompt("drafts")
    # the user message differs only at the end, where the brief is
    ua, ub = a[1]["content"], b[1]["content"]
    common = next(i for i, (x, y) in enumerate(zip(ua, ub)) if x != y)
    assert ua[common:].startswith("First brief") and ub[common:].startswith("A completely")
    assert ua.endswith('"brief":"First brief about sandals"}')
    # and the server bills the repeated prefix as cache hits
    first, second = (r.usage for r in fake.requests)
    assert first["prompt_cache_hit_tokens"] == 0
    assert second["prompt_cache_hit_tokens"] >= 256
    assert second["prompt_cache_hit_tokens"] + second["prompt_cache_miss_tokens"] == second["prompt_tokens"]


def test_nothing_variable_precedes_the_content(provider: DeepSeekProvider, fake: FakeDeepSeek) -> None:
    provider.score_sentiment(["a"])
    provider.score_sentiment(["b"])
    a, b = (r.body["messages"] for r in fake.requests)
    assert a[0] == b[0]
    assert a[1]["content"].replace('"a"', '"b"') == b[1]["content"]


# -- prices ----------------------------------------------------------------------------

def test_price_uses_the_configured_table(make_provider: Callable[..., DeepSeekProvider]) -> None:
    p = make_provider(price_cache_hit_per_mtok="0.1", price_cache_miss_per_mtok="1", price_output_per_mtok="2")
    usage = Usage(prompt_cache_hit_tokens=1_000_000, prompt_cache_miss_tokens=500_000, completion_tokens=250_000)
    assert p.price(usage) == pytest.approx(0.1 + 0.5 + 0.5)


def test_default_prices_are_deepseeks(make_provider: Callable[..., DeepSeekProvider]) -> None:
    p = make_provider()
    assert p.price(Usage(prompt_cache_miss_tokens=1_000_000)) == pytest.approx(0.28)
    assert p.price(Usage(prompt_cache_hit_tokens=1_000_000)) == pytest.approx(0.028)
    assert p.price(Usage(completion_tokens=1_000_000)) == pytest.approx(0.42)


def test_an_unconfigured_provider_refuses_clearly() -> None:
    p = DeepSeekProvider(DeepSeekProvider.config_schema.validate("deepseek", {}))
    assert not p.is_configured()
    with pytest.raises(errors.AIAuthError, match="no API key configured"):
        p.suggest_hashtags("x", "twitter", 1)


def test_the_json_word_is_in_every_prompt(provider: DeepSeekProvider, fake: FakeDeepSeek) -> None:
    # The real API refuses JSON mode without it; the fake does too, so every
    # feature passing proves it, and this checks it explicitly.
    for task in ("drafts", "rewrite", "hashtags", "sentiment", "reply"):
        assert "json" in system_prompt(task).lower()
