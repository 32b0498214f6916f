"""Token refresh: at most one per account at a time, rotated tokens stored
before they can be used again.

:func:`refresh_account` runs under :func:`account_lock` (a Redis lock in
production; a process-wide lock in the embedded mode) and, on PostgreSQL, a
``SELECT ... FOR UPDATE`` on the account row as well. Inside the lock it
re-reads the account: when the credentials changed since the caller read them
(``seen``), another worker has refreshed already and nothing is sent; this is
what keeps twenty jobs that hit one expired token to one refresh call. The new
credentials are committed before the lock is released, so a rotated refresh
token is never used twice.

A refused refresh (:class:`AuthError`) marks the account ``needs_reconnect``
and holds its pending targets (:func:`mark_needs_reconnect`); a transient
failure raises and changes nothing: it never disconnects an account.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from .. import audit
from ..connector import Capability, Credentials
from ..db import utcnow
from ..errors import AuthError, NotSentError
from ..models import AccountStatus, SocialAccount
from ..queue import redis_connection
from ..services.accounts import store_credentials, to_connector_account
from .state import hold_pending_targets

__all__ = ["RefreshOutcome", "refresh_account", "account_lock", "mark_needs_reconnect", "reconnect_message"]

log = logging.getLogger(__name__)

#: how long a refresh may hold the lock (the platform call must finish sooner)
LOCK_TTL_SECONDS = 60
#: how long a worker waits for another's refresh of the same account
LOCK_WAIT_SECONDS = 90


class RefreshOutcome(StrEnum):
    REFRESHED = "refreshed"  # this call refreshed and stored new credentials
    CURRENT = "current"      # nothing to do: already refreshed by another, or not expiring
    FAILED = "failed"        # the platform refused: the account needs reconnecting


_thread_locks: dict[int, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


def _thread_lock(account_id: int) -> threading.Lock:
    with _thread_locks_guard:
        return _thread_locks.setdefault(account_id, threading.Lock())


@contextmanager
def account_lock(runtime: Any, account_id: int) -> Iterator[None]:
    """Exclusive per-account section across threads (embedded) or across every
    worker process and machine (Redis)."""
    if runtime.settings.redis_url:
        lock = redis_connection(runtime).lock(
            f"clientnest:lock:refresh:{account_id}", timeout=LOCK_TTL_SECONDS, blocking_timeout=LOCK_WAIT_SECONDS
        )
        if not lock.acquire():
            raise NotSentError("another worker is still refreshing this account's token")
        try:
            yield
        finally:
            try:
                lock.release()
            except Exception:  # expired meanwhile: nothing left to release
                log.warning("refresh lock of account %s expired before release", account_id)
    else:
        lock = _thread_lock(account_id)
        if not lock.acquire(timeout=LOCK_WAIT_SECONDS):
            raise NotSentError("another job is still refreshing this account's token")
        try:
            yield
        finally:
            lock.release()


def reconnect_message(platform_name: str, account: SocialAccount, detail: str) -> str:
    who = account.display_name or account.username or account.external_id
    return (f"{platform_name} rejected the credentials of {who} ({detail}). "
            "Reconnect the account to resume publishing.")


def mark_needs_reconnect(session: Session, account: SocialAccount, message: str, *, actor: str = "worker") -> list[int]:
    """The account's credentials are refused for good: flag it, tell the user
    why, hold its pending targets. The caller commits. Returns the held ids."""
    if account.status != AccountStatus.NEEDS_RECONNECT:
        old = account.status
        account.status = AccountStatus.NEEDS_RECONNECT
        account.status_reason = message
        session.add(account)
        audit.record(session, "account.needs_reconnect", "social_account", account.id,
                     workspace_id=account.workspace_id, actor=actor,
                     data={"platform": account.platform, "from": str(old), "to": AccountStatus.NEEDS_RECONNECT})
        session.flush()
    return hold_pending_targets(session, account.id, message, actor=actor)


def _platform_label(runtime: Any, platform: str) -> str:
    cls = runtime.plugins.connector_classes.get(platform)
    return (cls.display_name or cls.name) if cls else platform


def refresh_account(
    runtime: Any,
    account_id: int,
    *,
    seen: str | None = None,
    ahead_seconds: float | None = None,
    actor: str = "worker",
) -> RefreshOutcome:
    """Refresh an account's credentials, once, under its lock.

    :param seen: the encrypted credentials the caller used when the platform
        refused them; if they have changed since, another worker refreshed and
        this returns :attr:`RefreshOutcome.CURRENT` without calling anything.
    :param ahead_seconds: refresh only if the token expires within this many
        seconds (the ahead-of-expiry job and the pre-publish check).
    :raises TransientError: the platform could not be asked; nothing changed.
    """
    db = runtime.db
    with account_lock(runtime, account_id):
        session = db.Session()
        try:
            q = select(SocialAccount).where(SocialAccount.id == account_id)
            if db.dialect == "postgresql":
                q = q.with_for_update()
            row = session.scalars(q).one_or_none()
            if row is None or row.status != AccountStatus.CONNECTED:
                return RefreshOutcome.FAILED if seen is not None else RefreshOutcome.CURRENT
            if seen is not None and row.credentials_encrypted != seen:
                return RefreshOutcome.CURRENT
            now = utcnow()
            if ahead_seconds is not None and (
                row.token_expires_at is None or row.token_expires_at > now + timedelta(seconds=ahead_seconds)
            ):
                return RefreshOutcome.CURRENT
            connector = runtime.plugins.connector(row.platform)
            account = to_connector_account(runtime.vault, row)
            label = _platform_label(runtime, row.platform)
            if Capability.REFRESH not in connector.capabilities or not account.credentials.refresh_token:
                if seen is None:
                    return RefreshOutcome.CURRENT  # nothing to refresh ahead with
                mark_needs_reconnect(session, row, reconnect_message(label, row, "the token expired and cannot be refreshed"), actor=actor)
                session.commit()
                return RefreshOutcome.FAILED
            try:
                creds = runtime.plugins.hook.clientnest_refresh_credentials(connector=connector, account=account)
                if creds is None:
                    raise AuthError("no plugin could refresh the credentials", platform=row.platform)
            except (AuthError, NotImplementedError) as exc:
                detail = getattr(exc, "message", None) or "refresh refused"
                mark_needs_reconnect(session, row, reconnect_message(label, row, detail), actor=actor)
                session.commit()
                log.warning("refresh of account %s refused: account needs reconnecting", account_id)
                return RefreshOutcome.FAILED
            if creds.refresh_token is None:
                creds.refresh_token = account.credentials.refresh_token
            _store(session, runtime, row, creds, actor)
            return RefreshOutcome.REFRESHED
        finally:
            session.close()


def _store(session: Session, runtime: Any, row: SocialAccount, creds: Credentials, actor: str) -> None:
    """Commit the new credentials; the platform has already rotated the old
    refresh token, so losing them would disconnect the account: retry on a
    broken database connection before giving up."""
    delays = (0.1, 0.3, 1.0, 3.0)
    for i in range(len(delays) + 1):
        try:
            if i:
                session.rollback()
                fresh = session.get(SocialAccount, row.id, populate_existing=True)
                if fresh is None:
                    return
                row = fresh
            store_credentials(session, runtime.vault, row, creds)
            audit.record(session, "account.token_refreshed", "social_account", row.id,
                         workspace_id=row.workspace_id, actor=actor,
                         data={"platform": row.platform,
                               "expires_at": creds.expires_at.isoformat() if creds.expires_at else None})
            session.commit()
            return
        except (OperationalError, InterfaceError):
            if i == len(delays):
                log.error("new credentials of account %s could not be stored", row.id)
                raise
            time.sleep(delays[i])
