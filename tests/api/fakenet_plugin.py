"""A test plugin with in-process OAuth connectors (no network).

Registered by tests with ``build_plugin_host(settings, extra_plugins=[("fakenet",
module)])``. Three platforms:

- ``fakenet``: OAuth returning one account (code ``code-<user>[.<n>]``), token
  connection; code ``rejected`` raises AuthError, ``down`` a transient error;
- ``fakemulti``: OAuth returning a member and two organizations, token
  connection returning two pages (like LinkedIn / Facebook);
- ``fakeplain``: no OAuth, no token connection.

Every token it hands out contains :data:`SECRET`, so leak tests can search
responses, logs and database columns for that one string.
"""
from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from clientnest import (
    Account,
    AuthorizationRequest,
    Capability,
    ConfigField,
    ConfigSchema,
    Credentials,
    PlatformRules,
    SocialConnector,
    hookimpl,
)
from clientnest.errors import AuthError, NotSentError, PermanentError

__version__ = "9.9.9"

#: part of every token this plugin issues or accepts
SECRET = "fn-SECRET-"
EXPIRES = datetime(2031, 1, 1, tzinfo=UTC)

#: (method, args...) of every call, across the connectors (reset by tests)
CALLS: list[tuple[Any, ...]] = []


def reset() -> None:
    CALLS.clear()


class FakeNet(SocialConnector):
    name = "fakenet"
    display_name = "FakeNet"
    version = "9.9.9"
    capabilities = frozenset({Capability.OAUTH, Capability.PUBLISH_TEXT})
    config_schema = ConfigSchema((
        ConfigField("client_id", default="fn-client", help="app id"),
        ConfigField("client_secret", secret=True, default="fn-app-secret-value", help="app secret"),
    ))
    rules = PlatformRules(max_length=120, max_media=1, max_images=1)

    def authorization_url(self, redirect_uri: str, state: str) -> AuthorizationRequest:
        verifier = f"pkce-{state[:12]}"
        CALLS.append(("authorization_url", self.name, redirect_uri, state))
        query = urlencode({"client_id": self.config["client_id"], "redirect_uri": redirect_uri, "state": state})
        return AuthorizationRequest(url=f"https://{self.name}.test/authorize?{query}", verifier=verifier)

    def complete_authorization(self, code: str, redirect_uri: str, verifier: str | None) -> list[Account]:
        CALLS.append(("complete_authorization", self.name, code, redirect_uri, verifier))
        if code == "rejected":
            raise AuthError("invalid_grant: the authorization code has expired", platform=self.name, status=400)
        if code == "bad-app":
            raise PermanentError("invalid_client: unknown application", platform=self.name, status=401)
        if code == "down":
            raise NotSentError("service unavailable", platform=self.name, status=503)
        # code-<user>[.<generation>]: a new generation is a new token, same account
        user, _, generation = code.removeprefix("code-").partition(".")
        return [Account(
            external_id=f"fn-{user}",
            credentials=Credentials(
                access_token=f"{SECRET}access-{user}" + (f"-{generation}" if generation else ""),
                refresh_token=f"{SECRET}refresh-{user}",
                expires_at=EXPIRES,
                extra={"scope": "write", "token_secret": f"{SECRET}extra-{user}"},
            ),
            display_name=f"User {user}",
            username=user,
            kind="user",
        )]

    def connect_with_token(self, credentials: Mapping[str, Any]) -> list[Account]:
        CALLS.append(("connect_with_token", self.name, dict(credentials)))
        token = str(credentials["access_token"])
        if not token.startswith(SECRET):
            raise AuthError("Invalid OAuth access token.", platform=self.name, code=190, status=401)
        return [Account(
            external_id=f"fn-tok-{token[-4:]}",
            credentials=Credentials.from_json(credentials),
            display_name="Token user",
            username=f"tok{token[-4:]}",
        )]


class FakeMulti(FakeNet):
    name = "fakemulti"
    display_name = "FakeMulti"

    def complete_authorization(self, code: str, redirect_uri: str, verifier: str | None) -> list[Account]:
        CALLS.append(("complete_authorization", self.name, code, redirect_uri, verifier))
        return [
            Account("urn:fm:person:1", Credentials(f"{SECRET}member"), "Member One", "member1", "person"),
            Account("urn:fm:org:10", Credentials(f"{SECRET}org10"), "Org Ten", None, "organization"),
            Account("urn:fm:org:11", Credentials(f"{SECRET}org11"), "Org Eleven", None, "organization"),
        ]

    def connect_with_token(self, credentials: Mapping[str, Any]) -> list[Account]:
        CALLS.append(("connect_with_token", self.name, dict(credentials)))
        token = str(credentials["access_token"])
        return [
            Account("page-1", Credentials(f"{token}-page-1", expires_at=EXPIRES + timedelta(days=1)), "Page 1", kind="page"),
            Account("page-2", Credentials(f"{token}-page-2"), "Page 2", kind="page"),
        ]


class FakePlain(SocialConnector):
    name = "fakeplain"
    display_name = "FakePlain"
    version = "9.9.9"
    capabilities = frozenset({Capability.PUBLISH_TEXT})
    rules = PlatformRules(max_length=50)


@hookimpl
def clientnest_register_connectors() -> list[type[SocialConnector]]:
    return [FakeNet, FakeMulti, FakePlain]


# -- test support (not part of the plugin) --------------------------------------


def install(runtime: Any) -> Any:
    """Rebuild ``runtime``'s plugin host with this module registered as the
    plugin ``fakenet`` (the installed plugins still load as usual)."""
    from clientnest.plugins import build_plugin_host

    runtime.plugins.close()
    runtime.plugins = build_plugin_host(runtime.settings, extra_plugins=[("fakenet", sys.modules[__name__])])
    reset()
    return runtime


def join(runtime: Any, user_id: int, workspace_id: int, role: str) -> None:
    """Make ``user_id`` a member of ``workspace_id`` with ``role`` (straight in
    the database, so these tests do not depend on the members API)."""
    from clientnest.models import Membership

    with runtime.db.transaction() as s:
        s.add(Membership(workspace_id=workspace_id, user_id=user_id, role=role))
