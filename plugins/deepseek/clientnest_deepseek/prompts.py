"""Prompts, built so that DeepSeek's context cache applies.

DeepSeek caches prompt prefixes (in 64-token units) across requests: a
repeated prefix is billed at the cache-hit price, about a tenth of a miss. So
every prompt is laid out from the most stable part to the least:

1. the system message: fixed per task (instructions, the JSON schema, an
   example), byte-for-byte identical on every call;
2. the user message: first what is stable per workspace or platform (brand
   voice and rules, platform rules, tone), then the request's own content
   (the brief, the comment, the texts) last.

Nothing variable (dates, ids, counters) ever goes before the content. JSON
mode needs the word "json" in the prompt and works best with an example,
which the system messages give.
"""
from __future__ import annotations

import json
from typing import Any

from .schemas import schema_text

__all__ = ["system_prompt", "user_message", "repair_message", "INPUT_MARKER"]

#: the line before the request's JSON input in every user message
INPUT_MARKER = "Input (JSON):"

_COMMON = (
    "You work inside ClientNest, a social media management tool used by brands.\n"
    "Answer with one JSON object only, no prose and no code fences, valid against this JSON schema:\n"
)

_TASKS: dict[str, tuple[str, str]] = {
    "drafts": (
        "You write social media posts from a brief. For every platform in the input, write exactly "
        "`variants` distinct posts in the requested tone and language. Each post's `text` is the complete "
        "post as it will be published, hashtags included, and must not exceed that platform's "
        "`max_length` characters; use no more hashtags than `max_hashtags` (none if 0). `hashtags` lists "
        "the hashtags used in the text. When `requires_media` is true the post accompanies a photo or "
        "video: write text that introduces it. Never invent prices, dates or facts that are not in the brief.",
        '{"drafts":[{"platform":"twitter","text":"Our summer sale starts today: 20% off all sandals. #SummerSale",'
        '"hashtags":["#SummerSale"]}]}',
    ),
    "rewrite": (
        "You adapt an existing post for another platform: keep its meaning, facts, links and language; "
        "fit the platform's style and rules (at most `max_length` characters, at most `max_hashtags` "
        "hashtags when given). Return the adapted post in `text`.",
        '{"text":"New: our spring collection is here. Discover it in store this weekend. #SpringStyle"}',
    ),
    "hashtags": (
        "You suggest hashtags for a post on the given platform: relevant to the text, mixing broad and "
        "specific ones, no spaces, each starting with #, at most `count` of them, best first.",
        '{"hashtags":["#SummerSale","#Sandals","#ShopLocal"]}',
    ),
    "sentiment": (
        "You score the sentiment of each text for a customer support team. For every input item return "
        "its `id`, a `label` (positive, neutral or negative), a `score` from -1 (very negative) to 1 "
        "(very positive), and `needs_human`: true when the text is a complaint, asks a question, or is "
        "urgent, with those `reasons`. Return one result per input item, in the same order.",
        '{"results":[{"id":0,"label":"negative","score":-0.8,"needs_human":true,"reasons":["complaint"]},'
        '{"id":1,"label":"positive","score":0.7,"needs_human":false,"reasons":[]}]}',
    ),
    "reply": (
        "You draft a public reply, on behalf of the brand, to a comment left on one of its posts. Write "
        "in the brand voice given. Follow every rule in `rules` without exception: a rule always wins over "
        "being helpful (for example, if a rule says never to promise refunds, do not mention refunds at "
        "all). Never invent facts, prices or policies. Keep it short, at most `max_length` characters "
        "when given, in the language of the comment.",
        '{"reply":"Thanks for letting us know. Please send us a direct message with your order number so we can look into it."}',
    ),
}


def system_prompt(task: str) -> str:
    """The fixed system message of ``task`` (the cached prefix)."""
    instructions, example = _TASKS[task]
    return f"{_COMMON}{schema_text(task)}\nTask: {task}.\n{instructions}\nExample output:\n{example}"


def user_message(payload: dict[str, Any]) -> str:
    """The input as JSON, keys in the order given (stable parts first)."""
    return f"{INPUT_MARKER}\n{json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}"


def repair_message(problems: list[str]) -> str:
    """The follow-up asking the model to fix its previous answer."""
    listed = "\n".join(f"- {p}" for p in problems[:20])
    return (
        "Your previous answer was not valid:\n"
        f"{listed}\n"
        "Reply again with the complete, corrected JSON object only, following the schema and the rules."
    )
