"""/api/v1/plugins: the installed plugins and their state."""
from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TypeVar


from ..db_session import runtime
from ..extensions import Blueprint
from ..security import auth_required
from .schemas import PluginSchema

blp = Blueprint("plugins", __name__, url_prefix="/api/v1", description="Installed plugins")

F = TypeVar("F", bound=Callable[..., Any])


def _errors(*codes: int) -> Callable[[F], F]:
    """Document error responses a route may give (JSON ``{code, status, message, errors?}``)."""
    def deco(fn: F) -> F:
        for code in codes:
            fn = blp.alt_response(code, response=HTTPStatus(code).name)(fn)
        return fn
    return deco


@blp.route("/plugins")
@auth_required
@blp.response(200, PluginSchema(many=True))
@_errors(401)
def list_plugins() -> Any:
    """Every plugin found: name, version, kind, enabled, hooks, platforms, load error.

    Disabled plugins (allowlist, blocklist) are listed too, without hooks: their
    code was never imported. Any authenticated user may read this.
    """
    host = runtime().plugins
    return [info.to_json() for _, info in sorted(host.plugins.items())]
