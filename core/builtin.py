"""The core's own implementations of the operation hooks.

Registered last (``trylast``) by the plugin host: each calls the method of the
same meaning on the connector or provider. A plugin that implements the same
hook runs first and may replace the answer or wrap it.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from .ai import AIProvider, AIResult, Draft, DraftRequest, Sentiment
from .connector import (
    Account,
    AccountMetrics,
    AuthorizationRequest,
    Comment,
    CommentPage,
    Credentials,
    PlatformRules,
    PostContent,
    PostMetrics,
    PublishResult,
    SocialConnector,
)
from .hookspecs import hookimpl

NAME = "clientnest.builtin"


@hookimpl(trylast=True)
def clientnest_oauth_begin(connector: SocialConnector, redirect_uri: str, state: str) -> AuthorizationRequest:
    return connector.authorization_url(redirect_uri, state)


@hookimpl(trylast=True)
def clientnest_oauth_complete(
    connector: SocialConnector, code: str, redirect_uri: str, verifier: str | None
) -> list[Account]:
    return connector.complete_authorization(code, redirect_uri, verifier)


@hookimpl(trylast=True)
def clientnest_refresh_credentials(connector: SocialConnector, account: Account) -> Credentials:
    return connector.refresh(account)


@hookimpl(trylast=True)
def clientnest_platform_rules(connector: SocialConnector) -> PlatformRules:
    return connector.rules


@hookimpl(trylast=True)
def clientnest_publish(connector: SocialConnector, account: Account, content: PostContent) -> PublishResult:
    return connector.publish(account, content)


@hookimpl(trylast=True)
def clientnest_find_published(
    connector: SocialConnector, account: Account, content: PostContent, since: datetime
) -> PublishResult | None:
    return connector.find_published(account, content, since)


@hookimpl(trylast=True)
def clientnest_delete_post(connector: SocialConnector, account: Account, external_id: str) -> bool:
    connector.delete(account, external_id)
    return True


@hookimpl(trylast=True)
def clientnest_fetch_metrics(
    connector: SocialConnector, account: Account, external_ids: Sequence[str]
) -> list[PostMetrics]:
    return connector.fetch_metrics(account, external_ids)


@hookimpl(trylast=True)
def clientnest_fetch_account_metrics(connector: SocialConnector, account: Account) -> AccountMetrics:
    return connector.fetch_account_metrics(account)


@hookimpl(trylast=True)
def clientnest_fetch_comments(
    connector: SocialConnector, account: Account, external_id: str, cursor: str | None
) -> CommentPage:
    return connector.fetch_comments(account, external_id, cursor)


@hookimpl(trylast=True)
def clientnest_reply_to_comment(
    connector: SocialConnector, account: Account, comment_external_id: str, text: str
) -> Comment:
    return connector.reply(account, comment_external_id, text)


@hookimpl(trylast=True)
def clientnest_generate_content(provider: AIProvider, request: DraftRequest) -> AIResult[list[Draft]]:
    return provider.generate_posts(request)


@hookimpl(trylast=True)
def clientnest_score_sentiment(provider: AIProvider, texts: Sequence[str]) -> AIResult[list[Sentiment]]:
    return provider.score_sentiment(texts)
