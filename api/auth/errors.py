"""Identity errors to HTTP statuses, in one place for auth, workspaces and members."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask_smorest import abort

from clientnest.services import identity

__all__ = ["identity_errors"]

_STATUS: tuple[tuple[type[identity.IdentityError], int], ...] = (
    (identity.InvalidCredentials, 401),
    (identity.Forbidden, 403),
    (identity.NotFound, 404),
    (identity.AlreadyMember, 409),
    (identity.LastOwner, 409),
    # an allowance used up (workspaces per user): not allowed, whatever the body
    (identity.LimitReached, 403),
    (identity.WeakPassword, 422),
)


def _field(exc: identity.IdentityError) -> str | None:
    """The request field an error is about: a value over a limit, a weak password."""
    if isinstance(exc, identity.WeakPassword):
        return "password"
    return getattr(exc, "field", None)


@contextmanager
def identity_errors() -> Iterator[None]:
    """Turn an :class:`~clientnest.services.identity.IdentityError` raised
    inside the block into the JSON error with its status."""
    try:
        yield
    except identity.IdentityError as exc:
        field = _field(exc)
        if field:
            # a value the body should not have had: 422 naming the field, like validation
            abort(422, message=str(exc), errors={"json": {field: [str(exc)]}})
        status = next((code for cls, code in _STATUS if isinstance(exc, cls)), 400)
        abort(status, message=str(exc))
