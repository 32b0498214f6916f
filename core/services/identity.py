"""Identity: users, API tokens, workspaces and memberships.

Every function takes the session explicitly, does one unit of work, records
its audit event and commits. Failures are raised as :class:`IdentityError`
subclasses named for what went wrong; the API maps each to one HTTP status.

Role rules (docs/roles.md):

- admins and owners manage members; only an owner grants, changes or takes
  away the owner role, or removes an owner;
- a workspace always keeps at least one owner: the last one can be neither
  demoted nor removed;
- any member may leave (remove themselves), unless they are the last owner.

Nothing here tells a caller whether an email has an account: registering an
address that exists and adding an unknown address as a member both return
without an error, and the API answers them exactly as it answers the other case.

Install-wide limits, until plans exist: a user owns at most
``settings.max_workspaces_per_user`` workspaces, and no workspace's AI budget
goes above ``settings.ai_budget_max_usd`` (:class:`LimitReached`).

Secrets: passwords are hashed with scrypt, tokens stored as SHA-256 only; the
plain token exists only in the :class:`IssuedToken` returned once to the caller.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import audit
from ..crypto import hash_password, hash_token, new_api_token, verify_password
from ..errors import ClientNestError
from ..models import ApiToken, Membership, Role, User, Workspace
from ..passwords import password_problem

__all__ = [
    "IdentityError",
    "InvalidCredentials",
    "NotFound",
    "AlreadyMember",
    "LastOwner",
    "Forbidden",
    "OwnerRequired",
    "LimitReached",
    "WeakPassword",
    "IssuedToken",
    "TOKEN_PREFIX_LENGTH",
    "normalize_email",
    "check_timezone",
    "register",
    "authenticate",
    "issue_token",
    "list_tokens",
    "revoke_token",
    "create_workspace",
    "workspaces_of",
    "update_workspace",
    "list_members",
    "add_member",
    "change_role",
    "remove_member",
]

log = logging.getLogger(__name__)

#: characters of a token kept in clear to tell tokens apart ("cn_" + 7)
TOKEN_PREFIX_LENGTH = 10
#: fields of a workspace that :func:`update_workspace` may change
WORKSPACE_FIELDS = ("name", "timezone", "brand_voice", "reply_rules", "ai_budget_usd")


class IdentityError(ClientNestError):
    """Base of the identity errors; ``str(exc)`` is safe to show the caller."""


class InvalidCredentials(IdentityError):
    """Unknown email or wrong password (deliberately not saying which)."""


class NotFound(IdentityError):
    """The user, token or membership does not exist (for this caller)."""


class AlreadyMember(IdentityError):
    """The user is already a member of the workspace."""


class LastOwner(IdentityError):
    """The change would leave the workspace without an owner."""


class Forbidden(IdentityError):
    """The caller's role does not allow this."""


class OwnerRequired(Forbidden):
    """Only an owner may do this (owner role, removing an owner)."""


class LimitReached(IdentityError):
    """An install-wide limit (a setting) would be passed; the message names it and its value.

    :param field: the request field at fault, when one is (a value too high);
        None when the caller has simply used up an allowance.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class WeakPassword(IdentityError):
    """The password fails :func:`clientnest.passwords.password_problem`."""


@dataclass(frozen=True)
class IssuedToken:
    """A stored token and its plain value, which is never stored or logged."""

    row: ApiToken
    secret: str

    def __repr__(self) -> str:  # keep the secret out of tracebacks and logs
        return f"IssuedToken(id={self.row.id}, prefix={self.row.prefix!r})"


def normalize_email(raw: str) -> str:
    """Emails are compared and stored trimmed and lower-cased."""
    return raw.strip().lower()


def check_timezone(name: str) -> str:
    """``name`` if it is an IANA time zone known here, else ``ValueError``."""
    if not name or len(name) > 64:
        raise ValueError(f"{name!r} is not an IANA time zone name")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone name (e.g. Europe/Paris)") from None
    return name


@functools.cache
def _dummy_hash() -> str:
    # A real scrypt hash of nothing anyone knows: checking a password against
    # it for an unknown email costs what a real check costs.
    return hash_password(new_api_token())


# --- users and tokens --------------------------------------------------------


def _new_token(user_id: int, label: str, expires_at: datetime | None) -> IssuedToken:
    secret = new_api_token()
    row = ApiToken(
        user_id=user_id,
        label=label,
        token_hash=hash_token(secret),
        prefix=secret[:TOKEN_PREFIX_LENGTH],
        expires_at=expires_at,
    )
    return IssuedToken(row, secret)


def register(
    session: Session,
    *,
    email: str,
    password: str,
    workspace_name: str,
    name: str = "",
    timezone: str = "UTC",
) -> tuple[User, Workspace] | None:
    """Create a user and their first workspace (they own it).

    :returns: the user and workspace, or None when the email already has an
        account: nothing is changed then, and the caller must answer exactly
        as it does for a new account (so registering does not tell who has
        one). The password is hashed either way, so the time taken does not
        tell it either. No token: the new user signs in for one.
    :raises WeakPassword: the password is too weak (checked first, for every email).
    """
    email = normalize_email(email)
    check_timezone(timezone)
    problem = password_problem(password)
    if problem:
        raise WeakPassword(f"password {problem}")
    password_hash = hash_password(password)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        log.info("registration for an existing account refused without saying so")
        return None
    user = User(email=email, password_hash=password_hash, name=name)
    ws = Workspace(name=workspace_name, timezone=timezone)
    session.add_all([user, ws])
    try:
        session.flush()
    except IntegrityError:
        # two registrations raced past the check above; the unique index
        # decided, and the loser is answered like any existing email
        session.rollback()
        return None
    membership = Membership(workspace_id=ws.id, user_id=user.id, role=Role.OWNER)
    session.add(membership)
    session.flush()
    audit.record(session, "user.registered", "user", user.id, user_id=user.id)
    audit.record(session, "workspace.created", "workspace", ws.id, workspace_id=ws.id, user_id=user.id,
                 data={"name": ws.name, "timezone": ws.timezone})
    audit.record(session, "member.added", "membership", membership.id, workspace_id=ws.id, user_id=user.id,
                 data={"member_user_id": user.id, "role": Role.OWNER.value})
    session.commit()
    log.info("user %s registered with workspace %s", user.id, ws.id)
    return user, ws


def authenticate(session: Session, email: str, password: str) -> User:
    """The user with these credentials, else :class:`InvalidCredentials`.

    An unknown email still costs one password check, so the response time
    does not tell which emails have accounts.
    """
    user = session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        verify_password(password, _dummy_hash())
        raise InvalidCredentials("invalid email or password")
    if not verify_password(password, user.password_hash):
        raise InvalidCredentials("invalid email or password")
    return user


def issue_token(session: Session, user: User, *, label: str, expires_at: datetime | None = None) -> IssuedToken:
    """A new API token for ``user``; its plain value is in the result only.

    ``expires_at`` must be aware; it is kept (and returned) in UTC.
    """
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise ValueError("expires_at must carry a UTC offset")
        expires_at = expires_at.astimezone(UTC)
    issued = _new_token(user.id, label, expires_at)
    session.add(issued.row)
    session.flush()
    audit.record(session, "token.created", "api_token", issued.row.id, user_id=user.id,
                 data={"label": label, "expires_at": expires_at.isoformat() if expires_at else None})
    session.commit()
    log.info("api token %s created for user %s", issued.row.id, user.id)
    return issued


def list_tokens(session: Session, user: User) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)))


def revoke_token(session: Session, user: User, token_id: int) -> None:
    """Delete one of ``user``'s tokens; someone else's is :class:`NotFound`.

    The row is deleted (not flagged), so the very next request with it fails.
    """
    row = session.scalar(select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id))
    if row is None:
        raise NotFound(f"token {token_id} not found")
    session.delete(row)
    audit.record(session, "token.revoked", "api_token", token_id, user_id=user.id, data={"label": row.label})
    session.commit()
    log.info("api token %s revoked by user %s", token_id, user.id)


# --- workspaces ---------------------------------------------------------------


def _owned_count(session: Session, user_id: int) -> int:
    return session.scalar(
        select(func.count()).select_from(Membership)
        .where(Membership.user_id == user_id, Membership.role == Role.OWNER)
    ) or 0


def create_workspace(
    session: Session, user: User, *, name: str, timezone: str = "UTC", max_workspaces: int = 0,
) -> tuple[Workspace, Membership]:
    """A new workspace owned by ``user``.

    :param max_workspaces: ``settings.max_workspaces_per_user``: the most
        workspaces one user may own (0: no limit). Each workspace carries its
        own AI budget, so without it the budget cap could be multiplied at will.
    :raises LimitReached: the user already owns that many.
    """
    check_timezone(timezone)
    if max_workspaces:
        # serialise one user's creations (a no-op UPDATE of their row locks it
        # until the commit) so two at once cannot both pass the count
        table = User.__table__
        session.execute(update(table).where(table.c.id == user.id).values(name=table.c.name))
        owned = _owned_count(session, user.id)
        if owned >= max_workspaces:
            session.rollback()
            raise LimitReached(
                f"you already own {owned} workspaces: this install allows at most "
                f"{max_workspaces} per user (max_workspaces_per_user = {max_workspaces}); "
                "delete or hand over one you own first, or ask the operator to raise the limit")
    ws = Workspace(name=name, timezone=timezone)
    session.add(ws)
    session.flush()
    membership = Membership(workspace_id=ws.id, user_id=user.id, role=Role.OWNER)
    session.add(membership)
    session.flush()
    audit.record(session, "workspace.created", "workspace", ws.id, workspace_id=ws.id, user_id=user.id,
                 data={"name": name, "timezone": timezone})
    audit.record(session, "member.added", "membership", membership.id, workspace_id=ws.id, user_id=user.id,
                 data={"member_user_id": user.id, "role": Role.OWNER.value})
    session.commit()
    return ws, membership


def workspaces_of(session: Session, user: User) -> list[tuple[Workspace, str]]:
    """The user's workspaces with their role in each, oldest first."""
    rows = session.execute(
        select(Workspace, Membership.role)
        .join(Membership, Membership.workspace_id == Workspace.id)
        .where(Membership.user_id == user.id)
        .order_by(Workspace.id)
    ).all()
    return [(ws, role) for ws, role in rows]


def update_workspace(
    session: Session, ws: Workspace, actor: User, changes: dict[str, Any], *, ai_budget_max_usd: float | None = None,
) -> Workspace:
    """Apply ``changes`` (a subset of :data:`WORKSPACE_FIELDS`, already validated).

    :param ai_budget_max_usd: ``settings.ai_budget_max_usd``, the install's
        highest monthly AI budget for one workspace (None: no cap).
    :raises LimitReached: ``ai_budget_usd`` above that cap (nothing changes).
    """
    unknown = set(changes) - set(WORKSPACE_FIELDS)
    if unknown:
        raise ValueError(f"not workspace settings: {sorted(unknown)}")
    if "timezone" in changes:
        check_timezone(changes["timezone"])
    if "ai_budget_usd" in changes and ai_budget_max_usd is not None:
        cap = Decimal(str(ai_budget_max_usd))
        if Decimal(changes["ai_budget_usd"]) > cap:
            raise LimitReached(
                f"ai_budget_usd may be at most {cap:f} USD a month on this install "
                f"(ai_budget_max_usd = {cap:f})", field="ai_budget_usd")
    changed = []
    for key, value in changes.items():
        if key == "ai_budget_usd":
            value = Decimal(value)
        if getattr(ws, key) != value:
            setattr(ws, key, value)
            changed.append(key)
    if changed:
        # names of what changed, not the values: brand voice texts can be long
        audit.record(session, "workspace.updated", "workspace", ws.id, workspace_id=ws.id, user_id=actor.id,
                     data={"fields": sorted(changed)})
        session.commit()
    return ws


# --- members --------------------------------------------------------------------


def _lock_workspace(session: Session, workspace_id: int) -> None:
    """Serialise membership changes in one workspace until the commit.

    Without it two owners demoting each other at once could both count "two
    owners" and leave none. A no-op UPDATE of the workspace row, before the
    owner count is read, is a row lock on PostgreSQL and takes the database's
    write lock on SQLite (where reads outside a write transaction would not
    block anything, so SELECT ... FOR UPDATE is not enough there).
    """
    table = Workspace.__table__
    session.execute(update(table).where(table.c.id == workspace_id).values(name=table.c.name))


def _current_role(session: Session, actor: Membership) -> Role:
    """The actor's role as of now (under the workspace lock): it may have
    changed since the request loaded it."""
    role = session.scalar(select(Membership.role).where(Membership.id == actor.id))
    if role is None:
        raise NotFound(f"workspace {actor.workspace_id} not found")
    return Role(role)


def _owner_count(session: Session, workspace_id: int) -> int:
    return session.scalar(
        select(func.count()).select_from(Membership)
        .where(Membership.workspace_id == workspace_id, Membership.role == Role.OWNER)
    ) or 0


def _member(session: Session, workspace_id: int, user_id: int) -> tuple[Membership, User]:
    row = session.execute(
        select(Membership, User).join(User, User.id == Membership.user_id)
        .where(Membership.workspace_id == workspace_id, Membership.user_id == user_id)
        # read under the lock: refresh a row the request may have loaded before
        .execution_options(populate_existing=True)
    ).first()
    if row is None:
        raise NotFound(f"user {user_id} is not a member of workspace {workspace_id}")
    return row[0], row[1]


def list_members(session: Session, workspace_id: int) -> list[tuple[Membership, User]]:
    rows = session.execute(
        select(Membership, User).join(User, User.id == Membership.user_id)
        .where(Membership.workspace_id == workspace_id)
        .order_by(Membership.id)
    ).all()
    return [(m, u) for m, u in rows]


def add_member(
    session: Session, ws: Workspace, actor: Membership, *, email: str, role: Role,
) -> tuple[Membership, User] | None:
    """Add an existing user to ``ws`` with ``role`` (``actor`` admin+; owner
    to grant owner).

    :returns: the membership and user, or None when no user has this email:
        nothing is stored or sent then (there are no invitations yet), and the
        API answers exactly as for a user added, so an admin cannot use this
        to learn who has an account.
    """
    role = Role(role)
    email = normalize_email(email)
    _lock_workspace(session, ws.id)
    actor_role = _current_role(session, actor)
    if actor_role not in (Role.ADMIN, Role.OWNER):
        raise Forbidden(f"adding members needs the admin role or higher; you are {actor_role.value}")
    if role is Role.OWNER and actor_role is not Role.OWNER:
        raise OwnerRequired("only an owner can grant the owner role")
    user = session.scalar(select(User).where(User.email == email))
    if user is None:
        session.commit()  # nothing to add; end the transaction (and the lock)
        log.info("workspace %s: member add for an address with no account (nothing stored)", ws.id)
        return None
    existing = session.scalar(
        select(Membership.id).where(Membership.workspace_id == ws.id, Membership.user_id == user.id)
    )
    if existing is not None:
        raise AlreadyMember(f"{email} is already a member of this workspace")
    membership = Membership(workspace_id=ws.id, user_id=user.id, role=role)
    session.add(membership)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise AlreadyMember(f"{email} is already a member of this workspace") from None
    audit.record(session, "member.added", "membership", membership.id, workspace_id=ws.id, user_id=actor.user_id,
                 data={"member_user_id": user.id, "role": role.value})
    session.commit()
    return membership, user


def change_role(session: Session, ws: Workspace, actor: Membership, user_id: int, role: Role) -> tuple[Membership, User]:
    """Give member ``user_id`` a new role (``actor`` admin+; owner for
    anything touching the owner role; never demotes the last owner)."""
    role = Role(role)
    _lock_workspace(session, ws.id)
    actor_role = _current_role(session, actor)
    if actor_role not in (Role.ADMIN, Role.OWNER):
        raise Forbidden(f"changing roles needs the admin role or higher; you are {actor_role.value}")
    membership, user = _member(session, ws.id, user_id)
    old = Role(membership.role)
    if old is role:
        session.commit()  # nothing changed; end the transaction (and the lock)
        return membership, user
    if (role is Role.OWNER or old is Role.OWNER) and actor_role is not Role.OWNER:
        raise OwnerRequired("only an owner can grant or change the owner role")
    if old is Role.OWNER and _owner_count(session, ws.id) <= 1:
        raise LastOwner("this is the workspace's last owner: make another member owner first")
    membership.role = role
    audit.record(session, "member.role_changed", "membership", membership.id, workspace_id=ws.id,
                 user_id=actor.user_id, data={"member_user_id": user_id, "from": old.value, "to": role.value})
    session.commit()
    return membership, user


def remove_member(session: Session, ws: Workspace, actor: Membership, user_id: int) -> None:
    """Remove member ``user_id``: an admin+ removing someone, or anyone leaving.

    ``actor`` is the caller's membership (the API found it, so they are a
    member); this checks the rest under the workspace lock: admin+ unless it
    is the actor themselves, owner to remove an owner, never the last owner.
    """
    leaving = actor.user_id == user_id
    _lock_workspace(session, ws.id)
    actor_role = _current_role(session, actor)
    if not leaving and actor_role not in (Role.ADMIN, Role.OWNER):
        raise Forbidden(f"removing another member needs the admin role or higher; you are {actor_role.value}")
    membership, _user = _member(session, ws.id, user_id)
    if membership.role == Role.OWNER:
        if actor_role is not Role.OWNER:
            raise OwnerRequired("only an owner can remove an owner")
        if _owner_count(session, ws.id) <= 1:
            raise LastOwner("this is the workspace's last owner: make another member owner first")
    session.delete(membership)
    audit.record(session, "member.left" if leaving else "member.removed", "membership", membership.id,
                 workspace_id=ws.id, user_id=actor.user_id,
                 data={"member_user_id": user_id, "role": membership.role})
    session.commit()
