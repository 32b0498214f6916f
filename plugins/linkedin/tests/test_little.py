"""Little text: what the connector sends as ``commentary`` shows as written."""
from __future__ import annotations

import pytest

from clientnest_linkedin import little
from clientnest_linkedin.sandbox import store_little


@pytest.mark.parametrize(("plain", "sent"), [
    ("Hello world", "Hello world"),
    ("Price (incl. VAT) [draft]", r"Price \(incl. VAT\) \[draft\]"),
    ("a_b *c* ~d~ <e> {f} g|h @i", r"a\_b \*c\* \~d\~ \<e\> \{f\} g\|h \@i"),
    (r"back\slash", r"back\\slash"),
    ("#launch day", "#launch day"),
    ("we ship #v2 and C# and issue#4", r"we ship #v2 and C\# and issue\#4"),
    ("# alone", r"\# alone"),
    ("see https://ex.com/a_b~c?x=1#frag.", "see https://ex.com/a_b~c?x=1#frag."),
    ("(https://ex.com/path)", r"\(https://ex.com/path\)"),
    ("mail me @[Bob](urn:li:person:1)", r"mail me \@\[Bob\]\(urn:li:person:1\)"),
])
def test_escape(plain: str, sent: str) -> None:
    assert little.escape(plain) == sent
    assert little.to_plain(sent) == plain


def test_every_reserved_character_is_escaped_outside_urls_and_hashtags() -> None:
    text = "".join(sorted(little.RESERVED)) + " end"
    escaped = little.escape(text)
    assert little.to_plain(escaped) == text
    # nothing is cut when LinkedIn parses it
    assert store_little(escaped) == escaped


def test_unescaped_text_would_be_cut_by_linkedin() -> None:
    # the sandbox cuts like LinkedIn; the escaped form survives whole
    raw = "Launch (today) at 5"
    assert store_little(raw) == "Launch "
    assert little.to_plain(store_little(little.escape(raw))) == raw


def test_plain_reading_of_hashtag_templates_and_mentions() -> None:
    assert little.to_plain(r"Go {hashtag|\#|launch} now") == "Go #launch now"
    assert little.to_plain(r"thanks @[Devtestco](urn:li:organization:2414183)\!") == "thanks Devtestco!"
    # the recorded commentary keeps its escape (posts.json: "... \@ 1677196226720")
    assert little.to_plain(r"amet \@ 1677196226720") == "amet @ 1677196226720"
