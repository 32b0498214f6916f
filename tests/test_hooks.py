"""One test per hook (named ``test_hook_<hook name>``), plus the guard that
fails when a hook has no such test or no entry in docs/hooks.md.

Each test checks both halves of the contract: the core's default
implementation reaches the connector/provider method, and a plugin that
answers first replaces it.
"""
from __future__ import annotations

import re
import types
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from clientnest import (
    Account,
    AccountMetrics,
    AIProvider,
    AIResult,
    AuthorizationRequest,
    Capability,
    Comment,
    CommentPage,
    Credentials,
    Draft,
    DraftRequest,
    PlatformRules,
    PostContent,
    PostMetrics,
    PublishResult,
    Sentiment,
    SocialConnector,
    hookimpl,
)
from clientnest.hookspecs import hook_names
from clientnest.plugins import PluginHost, build_plugin_host
from clientnest.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Recorder(SocialConnector):
    name = "recorder"
    version = "1.0"
    capabilities = frozenset(Capability)
    rules = PlatformRules(max_length=10)

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.calls: list[str] = []

    def authorization_url(self, redirect_uri: str, state: str) -> AuthorizationRequest:
        self.calls.append("authorization_url")
        return AuthorizationRequest(url=f"https://example.test/auth?state={state}&r={redirect_uri}")

    def complete_authorization(self, code: str, redirect_uri: str, verifier: str | None) -> list[Account]:
        self.calls.append("complete_authorization")
        return [Account("u1", Credentials(access_token=f"tok-{code}"))]

    def refresh(self, account: Account) -> Credentials:
        self.calls.append("refresh")
        return Credentials(access_token="new")

    def publish(self, account: Account, content: PostContent) -> PublishResult:
        self.calls.append("publish")
        return PublishResult(external_id="p1")

    def find_published(self, account: Account, content: PostContent, since: datetime) -> PublishResult | None:
        self.calls.append("find_published")
        return PublishResult(external_id="found") if content.text == "there" else None

    def delete(self, account: Account, external_id: str) -> None:
        self.calls.append(f"delete:{external_id}")

    def fetch_metrics(self, account: Account, external_ids: Sequence[str]) -> list[PostMetrics]:
        self.calls.append("fetch_metrics")
        return [PostMetrics(external_id=i, likes=3) for i in external_ids]

    def fetch_account_metrics(self, account: Account) -> AccountMetrics:
        self.calls.append("fetch_account_metrics")
        return AccountMetrics(external_id=account.external_id, followers=120)

    def fetch_comments(self, account: Account, external_id: str, cursor: str | None = None) -> CommentPage:
        self.calls.append(f"fetch_comments:{cursor}")
        return CommentPage([Comment("c1", external_id, "hi")], next_cursor=None if cursor else "n2")

    def reply(self, account: Account, comment_external_id: str, text: str) -> Comment:
        self.calls.append("reply")
        return Comment("r1", "p1", text, parent_external_id=comment_external_id)


class Brain(AIProvider):
    name = "brain"
    version = "1.0"

    def generate_posts(self, request: DraftRequest) -> AIResult[list[Draft]]:
        return AIResult([Draft(p, f"{request.brief} on {p}") for p in request.platforms], "brain", "m1")

    def score_sentiment(self, texts: Sequence[str]) -> AIResult[list[Sentiment]]:
        return AIResult([Sentiment("positive" if "good" in t else "neutral", 0.5) for t in texts], "brain", "m1")


def _plugin(**hooks: Any) -> types.SimpleNamespace:
    return types.SimpleNamespace(**hooks)


def _host(*extra: tuple[str, Any]) -> PluginHost:
    base = _plugin(
        clientnest_register_connectors=hookimpl(lambda: [Recorder]),
        clientnest_register_ai_providers=hookimpl(lambda: [Brain]),
    )
    return build_plugin_host(
        Settings(), entry_points=[], extra_plugins=[("base", base), *extra]
    )


@pytest.fixture
def acct() -> Account:
    return Account("u1", Credentials(access_token="t"))


def test_hook_clientnest_register_connectors() -> None:
    host = _host()
    assert host.connector_classes == {"recorder": Recorder}
    assert host.owner_of("recorder") == "base"
    assert host.plugins["base"].platforms[0] == "recorder"


def test_hook_clientnest_register_ai_providers() -> None:
    host = _host()
    assert host.provider_classes["brain"] is Brain
    assert host.owner_of("brain") == "base"


def test_hook_clientnest_oauth_begin() -> None:
    host = _host()
    c = host.connector("recorder")
    req = host.hook.clientnest_oauth_begin(connector=c, redirect_uri="https://cb", state="s1")
    assert "state=s1" in req.url and c.calls == ["authorization_url"]


def test_hook_clientnest_oauth_complete() -> None:
    host = _host()
    c = host.connector("recorder")
    accounts = host.hook.clientnest_oauth_complete(connector=c, code="abc", redirect_uri="https://cb", verifier=None)
    assert [a.credentials.access_token for a in accounts] == ["tok-abc"]


def test_hook_clientnest_refresh_credentials(acct: Account) -> None:
    override = _plugin(clientnest_refresh_credentials=hookimpl(
        lambda connector, account: Credentials(access_token="from-plugin") if account.external_id == "other" else None))
    host = _host(("override", override))
    c = host.connector("recorder")
    assert host.hook.clientnest_refresh_credentials(connector=c, account=acct).access_token == "new"
    other = Account("other", Credentials(access_token="t"))
    assert host.hook.clientnest_refresh_credentials(connector=c, account=other).access_token == "from-plugin"


def test_hook_clientnest_platform_rules() -> None:
    tighter = PlatformRules(max_length=5)
    host = _host(("policy", _plugin(clientnest_platform_rules=hookimpl(lambda connector: tighter))))
    c = host.connector("recorder")
    rules = host.hook.clientnest_platform_rules(connector=c)
    assert rules is tighter
    assert [v.rule for v in c.validate(PostContent(text="toolong"), rules)] == ["max_length"]
    assert c.validate(PostContent(text="toolong")) == []  # own rules allow 10


def test_hook_clientnest_publish(acct: Account) -> None:
    seen: list[str] = []

    @hookimpl(hookwrapper=True)
    def clientnest_publish(connector: Any, account: Any, content: Any) -> Any:
        seen.append("before")
        outcome = yield
        seen.append(outcome.get_result().external_id)

    host = _host(("observer", _plugin(clientnest_publish=clientnest_publish)))
    c = host.connector("recorder")
    result = host.hook.clientnest_publish(connector=c, account=acct, content=PostContent(text="hi"))
    assert result.external_id == "p1" and seen == ["before", "p1"] and c.calls == ["publish"]


def test_hook_clientnest_find_published(acct: Account) -> None:
    host = _host()
    c = host.connector("recorder")
    assert host.hook.clientnest_find_published(connector=c, account=acct, content=PostContent(text="there"), since=T0).external_id == "found"
    assert host.hook.clientnest_find_published(connector=c, account=acct, content=PostContent(text="gone"), since=T0) is None


def test_hook_clientnest_delete_post(acct: Account) -> None:
    host = _host()
    c = host.connector("recorder")
    assert host.hook.clientnest_delete_post(connector=c, account=acct, external_id="p9") is True
    assert c.calls == ["delete:p9"]


def test_hook_clientnest_fetch_metrics(acct: Account) -> None:
    host = _host()
    c = host.connector("recorder")
    m = host.hook.clientnest_fetch_metrics(connector=c, account=acct, external_ids=["a", "b"])
    assert [(x.external_id, x.likes) for x in m] == [("a", 3), ("b", 3)]


def test_hook_clientnest_fetch_account_metrics(acct: Account) -> None:
    host = _host()
    c = host.connector("recorder")
    m = host.hook.clientnest_fetch_account_metrics(connector=c, account=acct)
    assert (m.external_id, m.followers, m.reach) == (acct.external_id, 120, None)
    assert c.calls == ["fetch_account_metrics"]

    other = AccountMetrics(external_id="other", followers=5)
    host = _host(("override", _plugin(clientnest_fetch_account_metrics=hookimpl(
        lambda connector, account: other))))
    c = host.connector("recorder")
    assert host.hook.clientnest_fetch_account_metrics(connector=c, account=acct) is other
    assert c.calls == []  # the plugin answered first: the connector was not asked


def test_hook_clientnest_fetch_comments(acct: Account) -> None:
    host = _host()
    c = host.connector("recorder")
    page = host.hook.clientnest_fetch_comments(connector=c, account=acct, external_id="p1", cursor=None)
    assert page.next_cursor == "n2"
    page2 = host.hook.clientnest_fetch_comments(connector=c, account=acct, external_id="p1", cursor=page.next_cursor)
    assert page2.next_cursor is None and c.calls == ["fetch_comments:None", "fetch_comments:n2"]


def test_hook_clientnest_reply_to_comment(acct: Account) -> None:
    host = _host()
    c = host.connector("recorder")
    r = host.hook.clientnest_reply_to_comment(connector=c, account=acct, comment_external_id="c1", text="thanks")
    assert (r.parent_external_id, r.text) == ("c1", "thanks")


def test_hook_clientnest_generate_content() -> None:
    host = _host()
    p = host.provider("brain")
    req = DraftRequest(brief="launch", platforms=["x", "y"], rules={})
    res = host.hook.clientnest_generate_content(provider=p, request=req)
    assert [d.text for d in res.value] == ["launch on x", "launch on y"] and res.provider == "brain"


def test_hook_clientnest_score_sentiment() -> None:
    host = _host()
    p = host.provider("brain")
    res = host.hook.clientnest_score_sentiment(provider=p, texts=["good stuff", "meh"])
    assert [s.label for s in res.value] == ["positive", "neutral"]


def test_every_hook_has_a_test_and_documentation() -> None:
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    docs = (ROOT / "docs" / "hooks.md").read_text()
    names = hook_names()
    assert len(names) >= 14
    untested = [n for n in names if not re.search(rf"def test_hook_{n}\b", tests)]
    undocumented = [n for n in names if f"### {n}\n" not in docs]
    assert untested == [], f"hooks without a test_hook_<name> test: {untested}"
    assert undocumented == [], f"hooks missing from docs/hooks.md: {undocumented}"
