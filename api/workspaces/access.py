"""A route decorator that checks workspace access before the body is read.

``@workspace_role(Role.ADMIN)`` under ``@blp.route`` (above ``@blp.arguments``)
answers 401 / 404 (non-member) / 403 (role too low) before validating the
body, so a caller without access learns nothing from validation errors. The
view then finds the workspace and membership in ``g.workspace`` /
``g.membership`` (set by :func:`clientnest.api.security.workspace_access`).
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from clientnest.models import Role

from ..security import workspace_access

__all__ = ["workspace_role"]

F = TypeVar("F", bound=Callable[..., Any])


def workspace_role(minimum: Role) -> Callable[[F], F]:
    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            workspace_access(minimum)
            return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
