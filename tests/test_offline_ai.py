"""The bundled offline provider: VADER sentiment, keyword hashtags, template
drafts within platform rules, and replies that never break simple rules."""
from __future__ import annotations

import itertools
import re

import pytest

from clientnest.ai import AIFeature, DraftRequest, ReplyContext, Usage
from clientnest.connector import PlatformRules
from clientnest.offline_ai import OfflineProvider, ReplyRules, extract_keywords, fit_length, to_hashtag
from clientnest.plugins import build_plugin_host
from clientnest.settings import Settings

RULES = {
    "twitter": PlatformRules(max_length=280),
    "instagram": PlatformRules(max_length=2200, requires_media=True, max_hashtags=30),
    "linkedin": PlatformRules(max_length=3000),
    "tiny": PlatformRules(max_length=60, max_hashtags=1),
}
BRIEFS = [
    "Summer sale: 20% off all leather sandals and handmade bags until Sunday at our Brooklyn store",
    "We are hiring a senior backend engineer (Python, PostgreSQL) for our Lisbon office. Remote friendly.",
    "New vegan croissants, sourdough bread and specialty coffee every morning from 7am",
    "x",
    "Big news " * 80,
]


@pytest.fixture(scope="module")
def offline() -> OfflineProvider:
    return OfflineProvider({})


# -- registration ------------------------------------------------------------------

@pytest.mark.parametrize("settings", [
    Settings(),
    Settings(plugins=("deepseek",)),           # an allowlist that does not name it
    Settings(plugins=()),                      # nothing allowed at all
    Settings(disabled_plugins=("deepseek", "twitter")),
])
def test_the_host_always_loads_and_lists_the_offline_provider(settings: Settings) -> None:
    host = build_plugin_host(settings)
    assert host.provider_classes["offline"] is OfflineProvider
    info = host.plugins["offline"]
    assert info.enabled and info.kind == "ai_provider" and info.platforms == ["offline"]
    assert info.hooks == ["clientnest_register_ai_providers"] and info.version == OfflineProvider.version
    assert host.owner_of("offline") == "offline"
    assert "offline" in [p["name"] for p in (i.to_json() for i in host.plugins.values())]


def test_it_is_a_complete_free_provider(offline: OfflineProvider) -> None:
    assert offline.offline and offline.is_configured()
    assert offline.capabilities == frozenset(AIFeature)
    assert offline.price(Usage(prompt_cache_miss_tokens=10**9, completion_tokens=10**9)) == 0
    result = offline.score_sentiment(["ok"])
    assert (result.provider, result.model) == ("offline", "vader-templates-1")
    assert result.usage == Usage()


# -- sentiment ----------------------------------------------------------------------

def test_vader_labels_and_scores(offline: OfflineProvider) -> None:
    texts = [
        "I absolutely love these sandals, best purchase this year!",
        "This is the worst customer service I have ever had.",
        "The store opens at 9.",
    ]
    pos, neg, neu = offline.score_sentiment(texts).value
    assert pos.label == "positive" and pos.score > 0.5 and not pos.needs_human
    assert neg.label == "negative" and neg.score < -0.3 and neg.needs_human and "complaint" in neg.reasons
    assert neu.label == "neutral" and neu.score == 0
    assert all(-1 <= s.score <= 1 for s in (pos, neg, neu))


@pytest.mark.parametrize("text, reason", [
    ("Do you ship to Canada", "question"),
    ("What time do you close?", "question"),
    ("I want a refund for my broken sandals", "complaint"),
    ("My package never arrived", "complaint"),
    ("URGENT: someone is using your logo on a scam page", "urgent"),
    ("help!!! my account was hacked", "urgent"),
])
def test_what_needs_a_human_is_flagged_with_its_reason(offline: OfflineProvider, text: str, reason: str) -> None:
    (s,) = offline.score_sentiment([text]).value
    assert s.needs_human and reason in s.reasons


def test_a_complaint_is_never_scored_positive(offline: OfflineProvider) -> None:
    # VADER alone scores this positive ("want", "!"): the complaint cue wins
    (s,) = offline.score_sentiment(["I want my money back! Refund me now!"]).value
    assert s.label == "negative" and s.score < 0


def test_sentiment_keeps_the_input_order(offline: OfflineProvider) -> None:
    texts = ["great", "terrible", "fine"] * 20
    labels = [s.label for s in offline.score_sentiment(texts).value]
    assert labels[:3] == ["positive", "negative", "positive"] and len(labels) == 60
    assert labels[3:6] == labels[:3]


# -- hashtags -----------------------------------------------------------------------

def test_hashtags_come_from_the_texts_keywords(offline: OfflineProvider) -> None:
    tags = offline.suggest_hashtags(
        "Our new vegan bakery opens in Lisbon: sourdough bread, vegan croissants and specialty coffee.",
        "instagram", 5).value
    assert len(tags) == 5 and len({t.lower() for t in tags}) == 5
    assert "#VeganBakery" in tags or "#Vegan" in tags
    assert any("Sourdough" in t for t in tags) and any("Coffee" in t for t in tags)
    for t in tags:
        assert re.fullmatch(r"#\w+", t) and t[1].isupper()
        assert t.lower() not in {"#our", "#new", "#in", "#and"}


def test_the_authors_own_hashtags_come_first(offline: OfflineProvider) -> None:
    tags = offline.suggest_hashtags("Fresh bread every morning #Lisbon #BakeryLife", "twitter", 3).value
    assert tags[:2] == ["#Lisbon", "#BakeryLife"] and len(tags) == 3


def test_keyword_extraction_prefers_repeated_content_phrases() -> None:
    text = "Leather sandals on sale. Our leather sandals are handmade. Sandals ship free."
    words = extract_keywords(text, 2)
    assert words[0] == "leather sandals"
    assert extract_keywords("the and of to", 3) == []
    assert to_hashtag("summer sale") == "#SummerSale" and to_hashtag("2025") == ""


# -- drafts -------------------------------------------------------------------------

@pytest.mark.parametrize("brief", BRIEFS)
@pytest.mark.parametrize("tone", ["friendly", "professional", "playful", "excited", "mysterious"])
def test_drafts_always_fit_each_platforms_rules(offline: OfflineProvider, brief: str, tone: str) -> None:
    request = DraftRequest(brief=brief, platforms=list(RULES), rules=RULES, tone=tone, variants=3)
    drafts = offline.generate_posts(request).value
    assert [d.platform for d in drafts] == [p for p in RULES for _ in range(3)]
    for d in drafts:
        rules = RULES[d.platform]
        assert 0 < len(d.text) <= rules.max_length, (d.platform, d.text)
        if rules.max_hashtags is not None:
            assert len(d.hashtags) <= rules.max_hashtags
            assert len(re.findall(r"#\w+", d.text)) <= rules.max_hashtags
        assert all(t in d.text for t in d.hashtags)
    for platform in RULES:
        texts = [d.text for d in drafts if d.platform == platform]
        if platform != "tiny":
            assert len(set(texts)) == 3, texts  # variants differ


def test_drafts_carry_the_brief_and_the_tone(offline: OfflineProvider) -> None:
    request = DraftRequest(brief=BRIEFS[0], platforms=["linkedin"], rules=RULES, tone="professional")
    (d,) = offline.generate_posts(request).value
    assert BRIEFS[0] in d.text
    assert d.text.startswith(("Announcement:", "Update:", "We are pleased to share:"))
    assert d.hashtags and d.text.endswith(" ".join(d.hashtags))


def test_drafts_use_the_requested_language_when_it_has_templates(offline: OfflineProvider) -> None:
    es = offline.generate_posts(DraftRequest(brief="Rebajas de verano en sandalias", platforms=["twitter"],
                                             rules=RULES, language="es")).value[0]
    assert es.text.startswith(("¡Buenas noticias!", "¡Hola a todos!", "Esto es para ti:"))
    xx = offline.generate_posts(DraftRequest(brief="Summer sale", platforms=["twitter"], rules=RULES,
                                             language="sw")).value[0]
    assert xx.text.startswith(("Good news!", "Hi friends!", "Here's something for you:"))


# -- rewrite ------------------------------------------------------------------------

def test_rewrite_fits_the_target_platform(offline: OfflineProvider) -> None:
    long = ("Big news! Our #summer #sale on #sandals is live with 20% off everything in store and online "
            "this weekend only, come visit us in Brooklyn and bring a friend #bags #leather #shoes")
    out = offline.rewrite(long, "twitter", PlatformRules(max_length=140)).value
    assert len(out) <= 140
    assert len(re.findall(r"#\w+", out)) <= 3  # X: three hashtags at most
    assert "summer sale on sandals" in out.lower().replace("#", "")  # inline tags keep their words
    assert offline.rewrite("Short and sweet.", "linkedin", RULES["linkedin"]).value == "Short and sweet."
    capped = offline.rewrite("Hi #a #b #c", "tiny", PlatformRules(max_length=100, max_hashtags=1)).value
    assert capped == "Hi #a"


def test_fit_length_cuts_at_a_word() -> None:
    assert fit_length("hello wonderful world again", 20) == "hello wonderful…"
    assert fit_length("supercalifragilistic expialidocious", 12) == "supercalifr…"  # no space to cut at
    assert fit_length("short", 10) == "short"
    assert len(fit_length("x" * 50, 10)) == 10


# -- replies and their rules --------------------------------------------------------------

@pytest.mark.parametrize("rule, check", [
    ("Never promise refunds", lambda r: r.forbidden_terms == ["refund"]),
    ("Don't offer discounts or refunds.", lambda r: r.forbidden_terms == ["discount", "refund"]),
    ("Never mention competitors like Foodly or Eatz", lambda r: r.forbidden_terms == ["competitor", "foodly", "eatz"]),
    ("No emojis", lambda r: r.no_emoji),
    ("Do not use exclamation marks", lambda r: r.no_exclamation),
    ("Avoid hashtags", lambda r: r.no_hashtags),
    ("Never include links", lambda r: r.no_links),
    ("Never say \"guaranteed\"", lambda r: r.forbidden_phrases == ["guaranteed"]),
    ("Always sign off as Sam from Acme", lambda r: r.sign_off == "Sam from Acme"),
    ("Keep replies under 120 characters", lambda r: r.max_length == 120),
    ("Never apologize", lambda r: r.forbidden_terms == ["apologize"]),
    ("Be kind and human", lambda r: r.unparsed == ["Be kind and human"]),
])
def test_reply_rules_are_understood(rule: str, check: object) -> None:
    assert check(ReplyRules.parse([rule]))  # type: ignore[operator]


def test_rule_violations_are_found() -> None:
    rules = ReplyRules.parse(["never promise refunds", "no emojis", "no exclamation marks", "max 50 characters",
                              "never say 'free shipping'"])
    assert rules.violations("We will look into it.") == []
    assert rules.violations("You'll be refunded today") == ["mentions 'refund'"]
    assert "uses emojis" in rules.violations("Thanks 😍")
    assert "uses exclamation marks" in rules.violations("Thanks!")
    assert "says 'free shipping'" in rules.violations("Enjoy free shipping")
    assert "longer than 50 characters" in rules.violations("x" * 51)
    # plurals and abbreviations meet their singular
    assert ReplyRules.parse(["never mention DMs"]).violations("Send us a DM") == ["mentions 'dm'"]
    # a short forbidden stem does not match longer words by prefix
    assert ReplyRules.parse(["never mention cars"]).violations("We care about you") == []


COMMENTS = [
    "I want a refund NOW! These sandals broke after one day!!",
    "Absolutely love them 😍😍 thank you!!!",
    "Do you ship to Canada? Can I get a discount?",
    "meh.",
    "Your competitor Foodly is cheaper, why should I stay?",
    "Is this guaranteed to last? Free shipping?",
]
RULE_SETS = [
    ["Never promise refunds"],
    ["Never promise refunds", "No emojis", "No exclamation marks"],
    ["Don't offer discounts or refunds", "Sign off as Sam", "Keep replies under 100 characters"],
    ["Never mention competitors", "never say 'guaranteed'", "no links", "no hashtags"],
    ["Never thank", "Never apologize", "never say sorry"],
    ["never mention direct messages or DMs", "never ask", "no exclamation marks", "max 60 characters"],
]
VOICES = ["", "Formal and courteous", "Warm, casual and a little playful"]


@pytest.mark.parametrize("rules", RULE_SETS, ids=lambda r: "|".join(r)[:40])
def test_offline_replies_never_break_a_simple_rule(offline: OfflineProvider, rules: list[str]) -> None:
    checker = ReplyRules.parse(rules)
    for comment, voice, limit in itertools.product(COMMENTS, VOICES, (None, 280, 80)):
        ctx = ReplyContext(brand_voice=voice, rules=rules, max_length=limit, platform="twitter")
        reply = offline.draft_reply(comment, ctx).value
        assert reply, (comment, voice)
        assert checker.violations(reply) == [], (comment, voice, reply)
        if limit:
            assert len(reply) <= limit
        if checker.sign_off:
            assert reply.endswith(checker.sign_off)


def test_replies_follow_the_situation_and_the_voice(offline: OfflineProvider) -> None:
    formal = offline.draft_reply("This arrived broken, very disappointed", ReplyContext(brand_voice="formal")).value
    casual = offline.draft_reply("This arrived broken, very disappointed", ReplyContext(brand_voice="casual")).value
    assert formal != casual
    assert re.search(r"sorry|apologise", formal, re.I) and re.search(r"sorry|not the experience", casual, re.I)
    praise = offline.draft_reply("Love these, thank you!", ReplyContext()).value
    assert re.search(r"thank", praise, re.I)
    question = offline.draft_reply("Do you have size 42?", ReplyContext()).value
    assert re.search(r"question|message", question, re.I)


def test_replies_are_deterministic(offline: OfflineProvider) -> None:
    ctx = ReplyContext(brand_voice="casual", rules=["no emojis"])
    assert offline.draft_reply("Where is my order?", ctx).value == offline.draft_reply("Where is my order?", ctx).value
