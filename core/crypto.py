"""Passwords, API tokens and encrypted platform credentials (invariant 5).

- passwords: scrypt (stdlib), salted, parameters stored with the hash;
- API tokens: random, shown once, stored as SHA-256 only;
- credentials: Fernet with a rotatable key list (newest first encrypts; every
  key decrypts), see :meth:`Vault.rotate`.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets as _secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from .errors import ConfigError

__all__ = [
    "hash_password",
    "verify_password",
    "new_api_token",
    "hash_token",
    "Vault",
    "load_or_create_key",
    "TOKEN_PREFIX",
]

TOKEN_PREFIX = "cn_"
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = _secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    return "scrypt${}${}${}${}${}".format(
        _SCRYPT_N, _SCRYPT_R, _SCRYPT_P,
        base64.b64encode(salt).decode(), base64.b64encode(digest).decode(),
    )


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
        got = hashlib.scrypt(password.encode(), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def new_api_token() -> str:
    """A new bearer token: ``cn_`` + 40 url-safe random characters."""
    return TOKEN_PREFIX + _secrets.token_urlsafe(30)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Vault:
    """Encrypts JSON values with Fernet; the first key encrypts, all decrypt."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ConfigError("no encryption key: set CLIENTNEST_FERNET_KEYS")
        try:
            self._fernets = [Fernet(k.encode() if isinstance(k, str) else k) for k in keys]
        except (ValueError, TypeError):
            raise ConfigError("CLIENTNEST_FERNET_KEYS holds a malformed Fernet key") from None
        self._multi = MultiFernet(self._fernets)

    def encrypt(self, value: Any) -> str:
        return self._multi.encrypt(json.dumps(value, separators=(",", ":")).encode()).decode()

    def decrypt(self, token: str) -> Any:
        try:
            return json.loads(self._multi.decrypt(token.encode()))
        except InvalidToken:
            raise ConfigError("stored credentials cannot be decrypted with the configured keys") from None

    def rotate(self, token: str) -> str:
        """Re-encrypt ``token`` under the newest key."""
        return self._multi.rotate(token.encode()).decode()


def load_or_create_key(data_dir: str) -> str:
    """Embedded mode only: a key kept in ``<data_dir>/fernet.key`` (mode 600)."""
    path = Path(data_dir) / "fernet.key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    path.write_text(key)
    path.chmod(0o600)
    return key
