"""Every hook of ClientNest. No hook is defined anywhere else.

Two kinds of hooks:

* registration hooks (broadcast: every plugin's answer is collected) return the
  connector and AI-provider classes a plugin brings;
* operation hooks (``firstresult``: the first non-``None`` answer wins) carry
  the design card's operations. The core implements each one with ``trylast``
  by calling the method of the same meaning on the connector or provider, so a
  plugin can replace an operation for some platforms (return a value), leave it
  alone (return ``None``), or observe it (``hookwrapper=True``).

Every hook is documented in ``docs/hooks.md`` and has a test; a test fails
when either is missing.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
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

PROJECT = "clientnest"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

__all__ = ["hookspec", "hookimpl", "PROJECT"]


# -- registration -----------------------------------------------------------

@hookspec
def clientnest_register_connectors() -> list[type[SocialConnector]]:
    """Register social-network connector classes.

    Broadcast: every plugin's list is collected. Two classes with the same
    ``name`` make start-up fail, naming both plugins.

    :returns: the :class:`~clientnest.SocialConnector` subclasses this plugin brings.
    """


@hookspec
def clientnest_register_ai_providers() -> list[type[AIProvider]]:
    """Register AI-provider classes.

    Broadcast: every plugin's list is collected; names must be unique.

    :returns: the :class:`~clientnest.AIProvider` subclasses this plugin brings.
    """


# -- connecting -------------------------------------------------------------

@hookspec(firstresult=True)
def clientnest_oauth_begin(
    connector: SocialConnector, redirect_uri: str, state: str
) -> AuthorizationRequest | None:
    """Begin connecting an account: build the platform's authorize URL.

    First result wins.

    :param connector: the connector of the platform being connected.
    :param redirect_uri: where the platform sends the user back.
    :param state: the single-use value the callback must echo.
    :returns: the URL (and PKCE verifier, if any), or ``None`` to pass.
    """


@hookspec(firstresult=True)
def clientnest_oauth_complete(
    connector: SocialConnector, code: str, redirect_uri: str, verifier: str | None
) -> list[Account] | None:
    """Finish connecting: exchange the authorization code for credentials.

    First result wins.

    :param connector: the connector of the platform being connected.
    :param code: the code the platform passed to the callback.
    :param redirect_uri: the same redirect URI as in the authorize request.
    :param verifier: the PKCE verifier kept from :func:`clientnest_oauth_begin`.
    :returns: every account the user may pick (Pages, organizations ...), or ``None``.
    """


@hookspec(firstresult=True)
def clientnest_refresh_credentials(
    connector: SocialConnector, account: Account
) -> Credentials | None:
    """Get new credentials for an account whose token expires or was rejected.

    First result wins. The core holds a per-account lock around this call and
    stores rotated refresh tokens before they are used again.

    :param connector: the account's connector.
    :param account: the account, with its current credentials.
    :returns: the new credentials, or ``None`` to pass.
    :raises AuthError: when the platform refuses to refresh.
    """


# -- publishing ---------------------------------------------------------------

@hookspec(firstresult=True)
def clientnest_platform_rules(connector: SocialConnector) -> PlatformRules | None:
    """The rules posts are validated against before they are scheduled.

    First result wins; a plugin may tighten a platform's rules for an install.

    :param connector: the platform's connector.
    :returns: the rules, or ``None`` to pass.
    """


@hookspec(firstresult=True)
def clientnest_publish(
    connector: SocialConnector, account: Account, content: PostContent
) -> PublishResult | None:
    """Publish one post on one account.

    First result wins. Raise only :mod:`clientnest.errors` classes: the engine
    decides retry, reconciliation or failure from the class.

    :param connector: the account's connector.
    :param account: the account to publish as.
    :param content: the text, media and options for this target.
    :returns: the platform's id and URL of the new post, or ``None`` to pass.
    """


@hookspec(firstresult=True)
def clientnest_find_published(
    connector: SocialConnector, account: Account, content: PostContent, since: datetime
) -> PublishResult | None:
    """Reconcile an ambiguous publish: did this account post this content?

    First result wins. Must be exact: a wrong "no" makes a duplicate, a wrong
    "yes" loses a post.

    :param connector: the account's connector.
    :param account: the account that may have published.
    :param content: what was sent.
    :param since: the time of the first attempt; older posts do not count.
    :returns: the earlier publish if found, else ``None``.
    """


@hookspec(firstresult=True)
def clientnest_delete_post(
    connector: SocialConnector, account: Account, external_id: str
) -> bool | None:
    """Delete a published post.

    First result wins.

    :param connector: the account's connector.
    :param account: the account that published it.
    :param external_id: the platform's id of the post.
    :returns: ``True`` once deleted, or ``None`` to pass.
    """


# -- after publishing ---------------------------------------------------------

@hookspec(firstresult=True)
def clientnest_fetch_metrics(
    connector: SocialConnector, account: Account, external_ids: Sequence[str]
) -> list[PostMetrics] | None:
    """Fetch the metrics of published posts, normalised.

    First result wins.

    :param connector: the account's connector.
    :param account: the account that published the posts.
    :param external_ids: the platform's ids of the posts.
    :returns: one :class:`~clientnest.PostMetrics` per post found, or ``None``.
    """


@hookspec(firstresult=True)
def clientnest_fetch_account_metrics(
    connector: SocialConnector, account: Account
) -> AccountMetrics | None:
    """Fetch an account's own figures (followers, impressions, reach, profile
    views, engagements), normalised; collected once a day per account.

    First result wins.

    :param connector: the account's connector.
    :param account: the account whose figures to read.
    :returns: one :class:`~clientnest.AccountMetrics` (``None`` for each figure
        the platform does not give), or ``None`` to pass.
    """


@hookspec(firstresult=True)
def clientnest_fetch_comments(
    connector: SocialConnector, account: Account, external_id: str, cursor: str | None
) -> CommentPage | None:
    """Fetch one page of comments on a published post.

    First result wins.

    :param connector: the account's connector.
    :param account: the account that published the post.
    :param external_id: the platform's id of the post.
    :param cursor: the ``next_cursor`` of the previous page, or ``None``.
    :returns: the page, or ``None`` to pass.
    """


@hookspec(firstresult=True)
def clientnest_reply_to_comment(
    connector: SocialConnector, account: Account, comment_external_id: str, text: str
) -> Comment | None:
    """Reply to a comment as the account.

    First result wins.

    :param connector: the account's connector.
    :param account: the account replying.
    :param comment_external_id: the platform's id of the comment.
    :param text: the reply.
    :returns: the reply as stored by the platform, or ``None`` to pass.
    """


# -- AI -----------------------------------------------------------------------

@hookspec(firstresult=True)
def clientnest_generate_content(
    provider: AIProvider, request: DraftRequest
) -> AIResult[list[Draft]] | None:
    """Draft posts from a brief for the requested platforms.

    First result wins.

    :param provider: the AI provider chosen for the workspace.
    :param request: brief, platforms with their rules, tone, language, variants.
    :returns: the drafts with the provider's usage, or ``None`` to pass.
    """


@hookspec(firstresult=True)
def clientnest_score_sentiment(
    provider: AIProvider, texts: Sequence[str]
) -> AIResult[list[Sentiment]] | None:
    """Score the sentiment of many texts in one call.

    First result wins.

    :param provider: the AI provider chosen for the workspace.
    :param texts: the texts, e.g. comments; answered in the same order.
    :returns: one :class:`~clientnest.ai.Sentiment` per text, or ``None``.
    """


def hook_names() -> list[str]:
    """Names of every hook defined here (used by the docs/tests guard)."""
    return sorted(n for n, v in globals().items() if n.startswith("clientnest_") and callable(v))


