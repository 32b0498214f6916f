"""Exact matching of sent text against X's stored text (t.co, escapes, media)."""
from __future__ import annotations

import json
from pathlib import Path

from clientnest_twitter.textmatch import canonical_url, compose_text, content_signature, match, tweet_signature


def tweet(text: str, urls: list[dict[str, object]] | None = None, media: int = 0) -> dict[str, object]:
    out: dict[str, object] = {"id": "1", "text": text}
    if urls:
        out["entities"] = {"urls": urls}
    if media:
        out["attachments"] = {"media_keys": [f"3_{i}" for i in range(media)]}
    return out


def link(text: str, tco: str, expanded: str, **extra: object) -> dict[str, object]:
    start = text.index(tco)
    return {"start": start, "end": start + len(tco), "url": tco, "expanded_url": expanded, **extra}


def test_recorded_tweet_with_links_matches_what_was_written(recorded: Path) -> None:
    """The recorded tweet with entities (X's own Postman example): its author
    wrote the blog URL; X stored a t.co link and kept the original in entities."""
    examples = json.loads((recorded / "postman_official" / "extracted_examples.json").read_text())
    data = examples["Single Tweet :: 200 Success - Request Tweet fields"]["body"]["data"]
    expanded = data["entities"]["urls"][0]["expanded_url"]
    written = data["text"].replace(data["entities"]["urls"][0]["url"], expanded)
    assert match(written, 0, data) == "exact"
    assert match(written.replace("sentiment", "Sentiment"), 0, data) is None
    assert match(written.replace(expanded, expanded + "?utm=1"), 0, data) is None


def test_recorded_media_link_is_not_text(recorded: Path) -> None:
    examples = json.loads((recorded / "postman_official" / "extracted_examples.json").read_text())
    data = examples["Single Tweet :: 200 Success - Request Media Fields"]["body"]["data"]
    assert data["entities"]["urls"][0]["display_url"].startswith("pic.twitter.com/")
    written = data["text"].rsplit(" https://t.co/", 1)[0]
    assert match(written, 1, data) == "exact"
    assert match(written, 0, data) is None  # the media count is part of the identity


def test_escapes_whitespace_and_unicode_forms() -> None:
    sent = "  Fish & chips <3 caf\u00e9\r\nbye  "
    stored = "Fish &amp; chips &lt;3 cafe\u0301\nbye"
    assert match(sent, 0, tweet(stored)) == "exact"
    assert match("Fish &amp; chips <3 café\nbye", 0, tweet(stored)) is None


def test_urls_compare_canonically_but_paths_exactly() -> None:
    text = "see example.com and HTTPS://Example.ORG:443/A?b=1"
    stored = "see https://t.co/aaaaaaaaaa and https://t.co/bbbbbbbbbb"
    urls = [link(stored, "https://t.co/aaaaaaaaaa", "http://example.com"),
            link(stored, "https://t.co/bbbbbbbbbb", "https://example.org/A?b=1")]
    assert match(text, 0, tweet(stored, urls)) == "exact"
    assert match(text.replace("/A?", "/a?"), 0, tweet(stored, urls)) is None
    assert match("see example.com and nothing", 0, tweet(stored, urls)) is None
    assert canonical_url("https://example.com/") == canonical_url("http://EXAMPLE.com")
    assert canonical_url("https://bücher.example/x") == "xn--bcher-kva.example/x"


def test_without_entities_only_a_weak_match_is_possible() -> None:
    stored = tweet("news https://t.co/zzzzzzzzzz")
    assert match("news https://example.com/a", 0, stored) == "weak"
    assert match("other https://example.com/a", 0, stored) is None
    signature, weak = tweet_signature(stored)
    assert weak and signature == content_signature("news http://x.io", weak=True)


def test_link_is_appended_once() -> None:
    assert compose_text("Read this", "https://example.com/a") == "Read this\n\nhttps://example.com/a"
    assert compose_text("Read https://EXAMPLE.com/a now", "https://example.com/a") == "Read https://EXAMPLE.com/a now"
    assert compose_text("", "https://example.com/a") == "https://example.com/a"
    assert compose_text("plain", None) == "plain"
