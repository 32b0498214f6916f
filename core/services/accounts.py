"""Social accounts: connecting them (OAuth or an existing token), storing
their credentials encrypted, listing and removing them.

``to_connector_account`` and ``store_credentials`` are the only two places that
decrypt and encrypt an account's credentials; the engine and the API both use
them.

OAuth in three steps:

1. :func:`begin_connect` checks the ``redirect_uri`` (this install's public
   URL or ``settings.oauth_redirect_allowlist`` only: anywhere else would
   receive the code), stores a pending :class:`~clientnest.models.OAuthState`
   (only the SHA-256 of the random ``state`` and of a random *binding*; the
   PKCE verifier encrypted) and asks the connector for the authorize URL. The
   API puts the binding in a cookie of the starting browser.
2. :func:`complete_connect` runs when the browser comes back. The state binds
   the callback to the workspace and user that began it, and the binding to
   the browser (or API client) that did: a callback without it is refused, so
   an ``authorization_url`` sent to someone else connects nothing. The state is
   claimed with a
   conditional UPDATE (so a replay, even a concurrent one, fails) and that
   claim is committed *before* the platform is called, so no database lock is
   held across a network call. One account: stored at once. Several (Facebook
   Pages, LinkedIn member and organizations): kept encrypted on the state row
   as candidates.
3. :func:`select_candidates` stores the ones the user picks (single use).
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import posixpath
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import audit
from ..connector import Account, Capability, Credentials, SocialConnector
from ..crypto import Vault
from ..db import utcnow
from ..errors import AuthError, ClientNestError, ConfigError, PermanentError, PlatformError
from ..models import AccountStatus, Membership, OAuthState, PostTarget, Role, SocialAccount, TargetStatus
from .platforms import ensure_platform_enabled

__all__ = [
    "STATE_TTL",
    "AccountError",
    "ConnectStart",
    "CallbackResult",
    "to_connector_account",
    "store_credentials",
    "default_redirect_uri",
    "check_redirect_uri",
    "begin_connect",
    "complete_connect",
    "decline_connect",
    "select_candidates",
    "connect_with_token",
    "upsert_account",
    "list_accounts",
    "get_account",
    "delete_account",
    "reencrypt_all",
]

log = logging.getLogger(__name__)

#: how long a user has to approve access on the platform (and then to pick
#: among several accounts)
STATE_TTL = timedelta(minutes=10)
# targets a worker may be acting on right now: their account must stay
_IN_FLIGHT = (TargetStatus.QUEUED, TargetStatus.PUBLISHING, TargetStatus.UNKNOWN)


class AccountError(ClientNestError):
    """A refused account operation.

    :param status: the HTTP status the API answers with.
    :param field: the request field at fault, if one is.
    """

    def __init__(self, message: str, *, status: int = 400, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.field = field


# -- credentials -------------------------------------------------------------------


def to_connector_account(vault: Vault, row: SocialAccount) -> Account:
    """The connector's view of a stored account, credentials decrypted."""
    return Account(
        external_id=row.external_id,
        credentials=Credentials.from_json(vault.decrypt(row.credentials_encrypted)),
        display_name=row.display_name,
        username=row.username,
        kind=row.kind,
        extra=dict(row.extra or {}),
    )


def store_credentials(session: Session, vault: Vault, row: SocialAccount, creds: Credentials) -> None:
    """Encrypt and set new credentials (the caller commits). Rotated refresh
    tokens must be committed before the old one could be used again."""
    row.credentials_encrypted = vault.encrypt(creds.to_json())
    expires = creds.expires_at
    # UTC inside (invariant 7); a naive value is refused by the column type
    row.token_expires_at = expires.astimezone(UTC) if expires and expires.tzinfo else expires
    session.add(row)


def _account_json(acc: Account) -> dict[str, Any]:
    return {
        "external_id": acc.external_id,
        "display_name": acc.display_name,
        "username": acc.username,
        "kind": acc.kind,
        "extra": acc.extra,
        "credentials": acc.credentials.to_json(),
    }


def _account_from_json(data: Mapping[str, Any]) -> Account:
    return Account(
        external_id=str(data["external_id"]),
        credentials=Credentials.from_json(data["credentials"]),
        display_name=data.get("display_name") or "",
        username=data.get("username"),
        kind=data.get("kind") or "user",
        extra=dict(data.get("extra") or {}),
    )


# -- storing accounts ----------------------------------------------------------------


def upsert_account(
    session: Session,
    vault: Vault,
    *,
    workspace_id: int,
    platform: str,
    account: Account,
    user_id: int | None,
) -> tuple[SocialAccount, bool]:
    """Store ``account`` for the workspace; the caller commits.

    Unique on (workspace, platform, external_id): reconnecting an account that
    is already there replaces its credentials and makes it ``connected`` again.

    :returns: the row and whether it was created.
    """
    external_id = str(account.external_id)
    if not external_id:
        raise AccountError(f"{platform} returned an account without an id", status=502)

    def existing() -> SocialAccount | None:
        return session.scalars(select(SocialAccount).where(
            SocialAccount.workspace_id == workspace_id,
            SocialAccount.platform == platform,
            SocialAccount.external_id == external_id,
        )).first()

    def fill(row: SocialAccount) -> None:
        row.display_name = (account.display_name or "")[:255]
        row.username = account.username[:255] if account.username else None
        row.kind = (account.kind or "user")[:32]
        row.extra = dict(account.extra or {})
        row.status = AccountStatus.CONNECTED
        row.status_reason = None
        row.connected_by = user_id
        store_credentials(session, vault, row, account.credentials)

    row = existing()
    created = row is None
    if row is None:
        row = SocialAccount(workspace_id=workspace_id, platform=platform, external_id=external_id)
    fill(row)
    session.flush()
    audit.record(
        session, "account.connected" if created else "account.reconnected", "social_account", row.id,
        workspace_id=workspace_id, user_id=user_id, data={"platform": platform, "external_id": external_id},
    )
    if not created:
        # posts held while the account needed reconnecting go out again
        from ..engine import release_held_targets

        release_held_targets(session, row.id, user_id=user_id)
    return row, created


def _store_all(
    session: Session, vault: Vault, workspace_id: int, platform: str, accounts: Sequence[Account], user_id: int | None
) -> list[SocialAccount]:
    try:
        return [
            upsert_account(session, vault, workspace_id=workspace_id, platform=platform, account=a, user_id=user_id)[0]
            for a in accounts
        ]
    except IntegrityError:
        # the unique (workspace, platform, external_id) lost a race with a
        # concurrent connect of the same account: nothing of this one is kept
        session.rollback()
        raise AccountError(
            "this account was being connected by another request at the same moment; try again",
            status=409) from None


# -- OAuth -------------------------------------------------------------------------------


@dataclass
class ConnectStart:
    authorization_url: str
    state: str
    expires_at: datetime
    #: the value the callback must bring back (cookie or header); shown once,
    #: only its hash is stored
    binding: str = ""


@dataclass
class CallbackResult:
    """Either ``accounts`` (stored) or ``connection_id`` with ``candidates`` to pick from."""

    workspace_id: int
    platform: str
    accounts: list[SocialAccount] = field(default_factory=list)
    connection_id: int | None = None
    candidates: list[Account] = field(default_factory=list)
    #: until when the candidates may be chosen
    expires_at: datetime | None = None


def _hash_state(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def default_redirect_uri(public_url: str, platform: str) -> str:
    return f"{public_url.rstrip('/')}/api/v1/oauth/{platform}/callback"


def _origin(parts: Any) -> tuple[str, str, int | None]:
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:  # a port that is not a number
        port = -1
    return scheme, (parts.hostname or "").lower(), port


def _under(path: str, base: str) -> bool:
    base = base.rstrip("/")
    return not base or path == base or path.startswith(base + "/")


def check_redirect_uri(uri: str, public_url: str, allowlist: Sequence[str] = ()) -> str:
    """``uri`` if the platform may send the authorization code there, else 422.

    Allowed: under this install's ``public_url`` or under an entry of
    ``settings.oauth_redirect_allowlist``: same scheme, host and port, and a
    path at or below the base's path. The code lands wherever this points, so
    a URI elsewhere (``https://evil.example/steal``) is refused outright.
    """
    parts = urlsplit(uri)
    path = parts.path or "/"
    bad = (
        parts.scheme.lower() not in ("http", "https") or not parts.hostname
        or parts.username is not None or parts.password is not None  # user@host tricks
        or parts.fragment
        # "/base/../elsewhere" passes a prefix test but is not under the base
        or posixpath.normpath(path) != (path.rstrip("/") or "/") or "%2e" in path.lower() or "\\" in path
    )
    if not bad:
        for base in (public_url, *allowlist):
            b = urlsplit(base)
            if _origin(parts) == _origin(b) and _under(path, b.path):
                return uri
    allowed = ", ".join([public_url, *allowlist])
    raise AccountError(
        f"redirect_uri must be on this install's public URL or its oauth_redirect_allowlist ({allowed}); "
        "leave it out to use this API's own callback", status=422, field="redirect_uri")


def _connector(runtime: Any, platform: str) -> SocialConnector:
    try:
        return runtime.plugins.connector(platform)
    except ConfigError as exc:
        # the message names the missing or wrong setting, never a secret value
        raise AccountError(f"platform {platform!r} is not configured on this install: {exc}", status=503) from None


def _display(connector: SocialConnector) -> str:
    return connector.display_name or connector.name


def _platform_failure(connector: SocialConnector, exc: PlatformError, *, auth_status: int, auth_field: str | None) -> AccountError:
    """One translation of a platform error raised while connecting.

    Auth and permanent refusals are the caller's to fix (a rejected code or
    token): ``auth_status``. Anything transient is the platform's: 502.
    """
    name = _display(connector)
    log.warning("%s refused a connection: %s: %s", connector.name, exc.kind, exc.message)
    if isinstance(exc, (AuthError, PermanentError)):
        return AccountError(f"{name} refused: {exc.message}", status=auth_status, field=auth_field)
    return AccountError(f"{name} could not be reached or failed: {exc.message}; try again", status=502)


def begin_connect(
    session: Session,
    runtime: Any,
    *,
    workspace_id: int,
    user_id: int,
    platform: str,
    redirect_uri: str | None = None,
) -> ConnectStart:
    """Start an OAuth connection; commits the pending state.

    :raises PlatformUnavailable: not installed or off in this workspace (422).
    :raises AccountError: the connector has no OAuth (422) or is not configured (503).
    """
    host = runtime.plugins
    ensure_platform_enabled(session, host, workspace_id, platform)
    connector = _connector(runtime, platform)
    if Capability.OAUTH not in connector.capabilities:
        raise AccountError(
            f"{_display(connector)} does not support connecting through OAuth; "
            f"connect with an existing token: POST /api/v1/workspaces/{workspace_id}/accounts",
            status=422, field="platform")
    settings = runtime.settings
    if redirect_uri:
        check_redirect_uri(redirect_uri, settings.public_url, settings.oauth_redirect_allowlist)
    redirect = redirect_uri or default_redirect_uri(settings.public_url, platform)
    state = secrets.token_urlsafe(32)
    binding = secrets.token_urlsafe(32)
    try:
        request = runtime.plugins.hook.clientnest_oauth_begin(
            connector=connector, redirect_uri=redirect, state=state)
    except PlatformError as exc:
        raise _platform_failure(connector, exc, auth_status=502, auth_field=None) from None
    if request is None:
        raise AccountError(f"no plugin could begin an OAuth connection to {platform}", status=502)
    now = utcnow()
    # expired states are of no use to anyone: clear them while we are here
    session.execute(delete(OAuthState).where(OAuthState.expires_at < now - timedelta(days=1)))
    row = OAuthState(
        state_hash=_hash_state(state),
        binding_hash=_hash_state(binding),
        workspace_id=workspace_id,
        user_id=user_id,
        platform=platform,
        redirect_uri=redirect,
        verifier_encrypted=runtime.vault.encrypt(request.verifier) if request.verifier else None,
        created_at=now,
        expires_at=now + STATE_TTL,
    )
    session.add(row)
    session.flush()
    audit.record(session, "account.connect_started", "oauth_state", row.id, workspace_id=workspace_id,
                 user_id=user_id, data={"platform": platform})
    session.commit()
    return ConnectStart(authorization_url=request.url, state=state, expires_at=row.expires_at, binding=binding)


def _claim_state(session: Session, platform: str, state: str, binding: str | None) -> OAuthState:
    """Check ``state`` and mark it used, atomically; commits the claim; then
    check ``binding``.

    A callback without the starting browser's binding is refused *after* the
    claim: the state is spent, so a code obtained by sending the authorize URL
    to someone else cannot be replayed with it later.
    """
    row = session.scalars(select(OAuthState).where(OAuthState.state_hash == _hash_state(state))).first()
    if row is None:
        raise AccountError("unknown OAuth state: it was never issued here; start connecting again", field="state")
    if row.platform != platform:
        raise AccountError(
            f"this OAuth state was issued for {row.platform}, not {platform}; start connecting again", field="state")
    if row.used_at is not None:
        raise AccountError("this OAuth state was already used; start connecting again", field="state")
    now = utcnow()
    if row.expires_at <= now:
        raise AccountError(
            f"this OAuth state expired (connections must complete within {int(STATE_TTL.total_seconds() // 60)} "
            "minutes); start connecting again", field="state")
    # the conditional UPDATE is the single-use guarantee: of two concurrent
    # callbacks with the same state, exactly one changes the row
    claimed = session.execute(
        update(OAuthState).where(OAuthState.id == row.id, OAuthState.used_at.is_(None)).values(used_at=now)
    ).rowcount
    if claimed != 1:
        session.rollback()
        raise AccountError("this OAuth state was already used; start connecting again", field="state")
    session.commit()
    session.refresh(row)
    if (row.binding_hash is None or not binding
            or not hmac.compare_digest(row.binding_hash, _hash_state(binding))):
        audit.record(session, "account.connect_refused", "oauth_state", row.id, workspace_id=row.workspace_id,
                     user_id=row.user_id, data={"platform": platform, "reason": "binding missing or wrong"})
        session.commit()
        raise AccountError(
            "this connection was not started from this browser: nothing was connected. OAuth connections "
            "complete only in the browser (or API client) that began them with POST .../accounts/connect; "
            "start connecting again from there", status=403)
    return row


def _still_admin(session: Session, workspace_id: int, user_id: int) -> bool:
    role = session.scalars(select(Membership.role).where(
        Membership.workspace_id == workspace_id, Membership.user_id == user_id)).first()
    return role in (Role.OWNER, Role.ADMIN)


def decline_connect(
    session: Session, *, platform: str, state: str, error: str, description: str | None, binding: str | None = None,
) -> AccountError:
    """The platform sent the user back with an error (they declined, ...):
    use up the state and say what the platform said."""
    _claim_state(session, platform, state, binding)
    said = f"{error}: {description}" if description else error
    return AccountError(f"{platform} did not authorize the connection ({said})")


def complete_connect(
    session: Session, runtime: Any, *, platform: str, code: str, state: str, binding: str | None = None,
) -> CallbackResult:
    """Finish an OAuth connection from the platform's callback.

    :param binding: the value :func:`begin_connect` returned, as the starting
        browser's cookie or an API client's header brought it back.
    :raises AccountError: bad state (400), binding missing or wrong (403, the
        state is spent), the user no longer an admin (403),
        the platform refused the code (400) or failed (502).
    :raises PlatformUnavailable: the platform was switched off meanwhile (422).
    """
    row = _claim_state(session, platform, state, binding)
    workspace_id, user_id = row.workspace_id, row.user_id
    if not _still_admin(session, workspace_id, user_id):
        raise AccountError("the user who started this connection is no longer an admin of the workspace", status=403)
    host = runtime.plugins
    ensure_platform_enabled(session, host, workspace_id, platform, field=None)
    connector = _connector(runtime, platform)
    verifier = runtime.vault.decrypt(row.verifier_encrypted) if row.verifier_encrypted else None
    try:
        accounts = host.hook.clientnest_oauth_complete(
            connector=connector, code=code, redirect_uri=row.redirect_uri, verifier=verifier)
    except PlatformError as exc:
        raise _platform_failure(connector, exc, auth_status=400, auth_field="code") from None
    accounts = list(accounts or [])
    if not accounts:
        raise AccountError(f"{_display(connector)} granted access to no account that can be connected")
    result = CallbackResult(workspace_id=workspace_id, platform=platform)
    if len(accounts) == 1:
        result.accounts = _store_all(session, runtime.vault, workspace_id, platform, accounts, user_id)
        session.commit()
        return result
    # several: let the user choose; the credentials wait encrypted, briefly
    row.candidates_encrypted = runtime.vault.encrypt([_account_json(a) for a in accounts])
    row.expires_at = utcnow() + STATE_TTL
    audit.record(session, "account.candidates_received", "oauth_state", row.id, workspace_id=workspace_id,
                 user_id=user_id, data={"platform": platform, "count": len(accounts)})
    session.commit()
    result.connection_id = row.id
    result.candidates = accounts
    result.expires_at = row.expires_at
    return result


def select_candidates(
    session: Session,
    runtime: Any,
    *,
    workspace_id: int,
    user_id: int,
    connection_id: int,
    external_ids: Sequence[str],
) -> list[SocialAccount]:
    """Store the chosen accounts of a callback that returned several; commits.

    Single use, and only for the user and workspace that began the connection
    (anyone else gets 404, as if it did not exist).
    """
    row = session.get(OAuthState, connection_id)
    if (row is None or row.workspace_id != workspace_id or row.user_id != user_id
            or row.candidates_encrypted is None):
        raise AccountError(f"connection {connection_id} not found, or its accounts were already chosen", status=404)
    if row.expires_at <= utcnow():
        raise AccountError(f"connection {connection_id} expired; start connecting again", status=400)
    ensure_platform_enabled(session, runtime.plugins, workspace_id, row.platform, field=None)
    candidates = {a.external_id: a for a in map(_account_from_json, runtime.vault.decrypt(row.candidates_encrypted))}
    wanted = list(dict.fromkeys(str(e) for e in external_ids))
    unknown = [e for e in wanted if e not in candidates]
    if unknown:
        raise AccountError(
            f"not among this connection's accounts: {', '.join(unknown)} (choose from: {', '.join(candidates)})",
            status=422, field="external_ids")
    taken = session.execute(
        update(OAuthState)
        .where(OAuthState.id == row.id, OAuthState.candidates_encrypted.is_not(None))
        .values(candidates_encrypted=None)
    ).rowcount
    if taken != 1:
        session.rollback()
        raise AccountError(f"connection {connection_id} not found, or its accounts were already chosen", status=404)
    stored = _store_all(session, runtime.vault, workspace_id, row.platform, [candidates[e] for e in wanted], user_id)
    session.commit()
    return stored


# -- token ---------------------------------------------------------------------------------


def connect_with_token(
    session: Session,
    runtime: Any,
    *,
    workspace_id: int,
    user_id: int,
    platform: str,
    credentials: Mapping[str, Any],
) -> list[SocialAccount]:
    """Connect with a token the user already has; commits.

    :raises AccountError: no token connection for this platform (422), the
        platform rejected the token (422 naming ``credentials``) or failed (502).
    """
    ensure_platform_enabled(session, runtime.plugins, workspace_id, platform)
    connector = _connector(runtime, platform)
    try:
        accounts = connector.connect_with_token(credentials)
    except NotImplementedError:
        raise AccountError(
            f"{_display(connector)} does not support connecting with an existing token; use "
            f"POST /api/v1/workspaces/{workspace_id}/accounts/connect", status=422, field="platform") from None
    except PlatformError as exc:
        raise _platform_failure(connector, exc, auth_status=422, auth_field="credentials") from None
    if not accounts:
        raise AccountError(f"{_display(connector)} found no account for this token", status=422, field="credentials")
    stored = _store_all(session, runtime.vault, workspace_id, platform, accounts, user_id)
    session.commit()
    return stored


# -- reading and removing ----------------------------------------------------------------


def list_accounts(session: Session, workspace_id: int) -> Sequence[SocialAccount]:
    return session.scalars(
        select(SocialAccount).where(SocialAccount.workspace_id == workspace_id).order_by(SocialAccount.id)
    ).all()


def get_account(session: Session, workspace_id: int, account_id: int) -> SocialAccount:
    row = session.get(SocialAccount, account_id)
    if row is None or row.workspace_id != workspace_id:
        raise AccountError(f"account {account_id} not found", status=404)
    return row


def delete_account(session: Session, workspace_id: int, account_id: int, user_id: int | None) -> None:
    """Remove an account and its credentials; commits.

    Its post targets go with it (the foreign key cascades): scheduled ones
    will not be published. Refused (409) while a target of it is queued,
    publishing or being reconciled, since a worker is acting for it.
    """
    row = get_account(session, workspace_id, account_id)
    busy = session.scalars(
        select(PostTarget.id).where(PostTarget.account_id == row.id, PostTarget.status.in_(_IN_FLIGHT))
    ).all()
    if busy:
        raise AccountError(
            f"account {account_id} is publishing right now (target(s) {', '.join(map(str, busy))}); "
            "try again when they finish", status=409)
    data = {"platform": row.platform, "external_id": row.external_id}
    session.delete(row)
    audit.record(session, "account.deleted", "social_account", account_id, workspace_id=workspace_id,
                 user_id=user_id, data=data)
    session.commit()


def reencrypt_all(session: Session, vault: Vault) -> int:
    """Re-encrypt every stored secret under the vault's newest key; commits.

    Run after putting a new key first in ``CLIENTNEST_FERNET_KEYS`` (keeping
    the old one after it); once it returns, the old key can be removed.

    :returns: how many values were re-encrypted.
    """
    count = 0
    for acc in session.scalars(select(SocialAccount)):
        acc.credentials_encrypted = vault.rotate(acc.credentials_encrypted)
        count += 1
    for st in session.scalars(select(OAuthState)):
        if st.verifier_encrypted:
            st.verifier_encrypted = vault.rotate(st.verifier_encrypted)
            count += 1
        if st.candidates_encrypted:
            st.candidates_encrypted = vault.rotate(st.candidates_encrypted)
            count += 1
    session.commit()
    return count
