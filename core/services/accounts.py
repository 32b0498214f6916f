"""Social accounts: credentials in and out of the vault, connection state.

``to_connector_account`` and ``store_credentials`` are the only two places that
decrypt and encrypt an account's credentials; the engine and the API both use
them.
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from ..connector import Account, Credentials
from ..crypto import Vault
from ..models import SocialAccount

__all__ = ["to_connector_account", "store_credentials"]


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
    row.token_expires_at = creds.expires_at
    session.add(row)
