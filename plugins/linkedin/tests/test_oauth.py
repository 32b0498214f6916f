"""Connecting: OAuth URL with state, code exchange, authors, expiry, refresh,
direct tokens; against the sandbox over HTTP."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from clientnest import Account, Capability, Credentials, PostContent
from clientnest.errors import AuthError, ConfigError
from clientnest_linkedin import LinkedInConnector
from clientnest_linkedin.connector import DEFAULT_SCOPES
from clientnest_linkedin.sandbox import LinkedInSandbox

REDIRECT = "https://app.example.com/api/v1/oauth/linkedin/callback"


def test_declared_contract() -> None:
    c = LinkedInConnector
    assert c.name == "linkedin" and c.version
    assert {Capability.OAUTH, Capability.REFRESH, Capability.PUBLISH_VIDEO, Capability.LOOKUP,
            Capability.FIRST_COMMENT} <= c.capabilities
    assert Capability.PUBLISH_THREAD not in c.capabilities
    assert c.config_schema.secret_names == frozenset({"client_secret"})
    assert c.rules.max_length == 3000 and c.rules.first_comment and c.rules.max_images == 20


def test_config_rejects_a_bad_api_version() -> None:
    raw = LinkedInConnector.config_schema.validate("linkedin", {"api_version": "2024-05"})
    with pytest.raises(ConfigError, match="api_version"):
        LinkedInConnector(raw)


def test_authorization_url(connector: LinkedInConnector, base_url: str) -> None:
    req = connector.authorization_url("https://app.example.com/cb?x=1", "state with spaces&more")
    parts = urlsplit(req.url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{base_url}/oauth/v2/authorization"
    q = parse_qs(parts.query)
    assert q["response_type"] == ["code"]
    assert q["client_id"] == ["clientnest-sandbox"]
    assert q["redirect_uri"] == ["https://app.example.com/cb?x=1"]
    assert q["state"] == ["state with spaces&more"]
    assert q["scope"][0].split() == (DEFAULT_SCOPES + " r_member_social").split()
    assert req.verifier is None


def test_authorization_needs_client_credentials(make_connector: Callable[..., LinkedInConnector]) -> None:
    with pytest.raises(ConfigError, match="client_id"):
        make_connector(client_id="").authorization_url("https://x/cb", "s")


def test_oauth_round_trip_gives_one_account_per_author(
    connector: LinkedInConnector, oauth_connect: Callable[..., list[Account]]
) -> None:
    before = datetime.now(UTC)
    accounts = oauth_connect(connector)
    ids = [a.external_id for a in accounts]
    # the member, then the organizations it administers; not the one it only analyses
    assert ids == ["urn:li:person:Sbx4Kq7LmN", "urn:li:organization:2414183", "urn:li:organization:90362860"]
    member, dev, other = accounts
    assert (member.kind, member.display_name, member.username) == ("person", "Sandra Box", None)
    assert (dev.kind, dev.display_name, dev.username) == ("organization", "Devtestco", "devtestco")
    assert other.display_name == "Testing Company" and other.username == "oursource"
    assert dev.extra["member_urn"] == member.external_id
    for a in accounts:
        creds = a.credentials
        assert creds.access_token and creds.refresh_token
        # 60-day tokens, expiry tracked
        assert before + timedelta(days=60) - timedelta(minutes=1) <= creds.expires_at
        assert creds.expires_at <= datetime.now(UTC) + timedelta(days=60)
        assert "w_organization_social" in creds.extra["scope"].split()
    # each account carries its own credentials object (the core stores them apart)
    assert member.credentials is not dev.credentials
    assert "access_token" not in repr(member.credentials) and member.credentials.access_token not in repr(member)


def test_a_code_works_once_and_for_its_redirect_only(
    connector: LinkedInConnector, approve: Callable[..., str]
) -> None:
    code = approve(connector, "s1")
    with pytest.raises(AuthError, match="Unable to retrieve access token"):
        connector.complete_authorization(code, "https://elsewhere.example.com/cb", None)
    code = approve(connector, "s2")
    connector.complete_authorization(code, REDIRECT, None)
    with pytest.raises(AuthError) as info:
        connector.complete_authorization(code, REDIRECT, None)
    assert info.value.status == 400 and info.value.code == "invalid_request"


def test_member_only_without_organization_scopes(
    make_connector: Callable[..., LinkedInConnector], oauth_connect: Callable[..., list[Account]]
) -> None:
    connector = make_connector(scopes="openid profile w_member_social")
    accounts = oauth_connect(connector)
    assert [a.kind for a in accounts] == ["person"]


def test_falls_back_to_v2_me_without_openid(
    make_connector: Callable[..., LinkedInConnector], oauth_connect: Callable[..., list[Account]],
    sandbox: LinkedInSandbox,
) -> None:
    connector = make_connector(scopes="profile w_member_social")
    [member] = oauth_connect(connector)
    assert member.external_id == "urn:li:person:Sbx4Kq7LmN" and member.display_name == "Sandra Box"
    assert [r["path"] for r in sandbox.requests if r["path"].startswith("/v2/")] == [
        "/v2/userinfo", "/v2/me", "/v2/organizationAcls"]


def test_refresh_keeps_the_refresh_token_and_extends_expiry(
    connector: LinkedInConnector, member: Account, sandbox: LinkedInSandbox
) -> None:
    old = member.credentials
    sandbox.expire_tokens()
    with pytest.raises(AuthError, match="expired"):
        connector.publish(member, PostContent(text="before refresh"))
    new = connector.refresh(member)
    assert new.access_token != old.access_token
    assert new.refresh_token == old.refresh_token  # LinkedIn does not rotate refresh tokens
    assert new.expires_at > datetime.now(UTC) + timedelta(days=59)
    assert new.extra["member_urn"] == member.external_id
    member.credentials = new
    assert connector.publish(member, PostContent(text="after refresh")).external_id


def test_refresh_without_a_refresh_token_asks_to_reconnect(connector: LinkedInConnector, member: Account) -> None:
    member.credentials = Credentials(access_token=member.credentials.access_token)
    with pytest.raises(AuthError, match="connect again"):
        connector.refresh(member)


def test_refused_refresh_token_is_an_auth_error(connector: LinkedInConnector, member: Account) -> None:
    member.credentials.refresh_token = "AQXnot-a-real-one"
    with pytest.raises(AuthError, match="refresh token"):
        connector.refresh(member)


def test_connect_with_an_existing_token(
    connector: LinkedInConnector, sandbox: LinkedInSandbox, base_url: str
) -> None:
    # the standard control route hands out a token, as a system user would paste it
    given = httpx.post(f"{base_url}/_sandbox/tokens").json()
    accounts = connector.connect_with_token({"access_token": given["access_token"]})
    assert [a.external_id for a in accounts][:2] == ["urn:li:person:Sbx4Kq7LmN", "urn:li:organization:2414183"]
    creds = accounts[0].credentials
    assert creds.refresh_token is None
    # expiry learned from LinkedIn's token introspection
    assert creds.expires_at is not None and creds.expires_at > datetime.now(UTC) + timedelta(days=59)
    assert "r_member_social" in creds.extra["scope"].split()


def test_connect_with_a_bad_token(connector: LinkedInConnector, sandbox: LinkedInSandbox) -> None:
    with pytest.raises(AuthError, match="not active"):
        connector.connect_with_token({"access_token": "AQVbogus"})
    with pytest.raises(AuthError, match="access_token"):
        connector.connect_with_token({})
    # without app credentials there is no introspection: the profile call refuses it
    bare = LinkedInConnector(LinkedInConnector.config_schema.validate("linkedin", {
        "api_base": connector.api_base, "oauth_base": connector.oauth_base}))
    with pytest.raises(AuthError, match="Invalid access token") as info:
        bare.connect_with_token({"access_token": "AQVbogus"})
    assert info.value.code == 65600
    token = sandbox.issue_token(expires_in=-5)
    with pytest.raises(AuthError):
        bare.connect_with_token({"access_token": token, "expires_at": "2030-01-01T00:00:00+00:00"})
    bare.close()
