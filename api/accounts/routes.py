"""/api/v1 accounts: connect (OAuth or an existing token), list, remove.

Status codes of the OAuth callback (documented in OpenAPI too):

- 201 one account came back and is stored (or reconnected);
- 200 several came back: pick with ``POST .../accounts/connect/{connection_id}/select``;
- 400 the state is unknown, expired, used, or for another platform; the user
  declined on the platform; or the platform rejected the code;
- 403 the callback did not bring back the binding of the browser or API client
  that began the connection (nothing is connected and the state is spent), or
  the user who began it is no longer an admin there;
- 422 the platform is switched off in the workspace;
- 502 the platform failed or could not be reached (its message included);
- 503 the connector is not configured on this install.

The binding: ``POST .../accounts/connect`` sets the cookie :data:`BINDING_COOKIE`
(HttpOnly, SameSite=Lax, Secure when the public URL is https, path: the
platform's callback) and returns the same value once as ``binding``. A browser
sends the cookie back by itself; an API client that follows the redirect
itself sends ``binding`` as the :data:`BINDING_HEADER` header (or the cookie).
"""
from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any, NoReturn, TypeVar

from urllib.parse import urlsplit

from flask import after_this_request, jsonify, request
from flask.views import MethodView
from flask_smorest import abort

from clientnest.models import Role
from clientnest.services import accounts as svc
from clientnest.services.platforms import PlatformUnavailable

from ..db_session import runtime, session
from ..extensions import Blueprint
from ..security import current_user
from ..workspaces.access import workspace_role
from .schemas import (
    AccountListSchema,
    AccountSchema,
    CallbackQuerySchema,
    CandidatesSchema,
    ConnectRequestSchema,
    ConnectStartSchema,
    SelectRequestSchema,
    TokenConnectSchema,
)

blp = Blueprint("accounts", __name__, url_prefix="/api/v1", description="Social accounts")

#: the cookie binding an OAuth callback to the browser that began the connection
BINDING_COOKIE = "clientnest_oauth_binding"
#: the same value, sent by an API client that completes the callback itself
BINDING_HEADER = "X-ClientNest-OAuth-Binding"


def _cookie_path(platform: str) -> str:
    """The callback's path as the browser sees it (the public URL may add a prefix)."""
    prefix = urlsplit(runtime().settings.public_url).path.rstrip("/")
    return f"{prefix}/api/v1/oauth/{platform}/callback"


def _set_binding_cookie(platform: str, value: str) -> None:
    secure = runtime().settings.public_url.lower().startswith("https://")
    max_age = int(svc.STATE_TTL.total_seconds())

    @after_this_request
    def _set(response: Any) -> Any:
        response.set_cookie(BINDING_COOKIE, value, max_age=max_age, path=_cookie_path(platform),
                            secure=secure, httponly=True, samesite="Lax")
        return response


def _clear_binding_cookie(platform: str) -> None:
    # single use either way: the state it went with is spent
    @after_this_request
    def _clear(response: Any) -> Any:
        if BINDING_COOKIE in request.cookies:
            response.delete_cookie(BINDING_COOKIE, path=_cookie_path(platform), httponly=True, samesite="Lax")
        return response


def _binding() -> str | None:
    return request.headers.get(BINDING_HEADER) or request.cookies.get(BINDING_COOKIE) or None

F = TypeVar("F", bound=Callable[..., Any])


def _errors(*codes: int) -> Callable[[F], F]:
    """Document error responses a route may give (JSON ``{code, status, message, errors?}``)."""
    def deco(fn: F) -> F:
        for code in codes:
            fn = blp.alt_response(code, response=HTTPStatus(code).name)(fn)
        return fn
    return deco


def _fail(exc: svc.AccountError | PlatformUnavailable, location: str = "json") -> NoReturn:
    if exc.field:
        abort(exc.status, message=exc.message, errors={location: {exc.field: [exc.message]}})
    abort(exc.status, message=exc.message)


@blp.route("/workspaces/<int:wid>/accounts/connect", methods=["POST"])
@workspace_role(Role.ADMIN)
@blp.arguments(ConnectRequestSchema)
@blp.response(200, ConnectStartSchema)
@blp.alt_response(422, description="unknown or disabled platform, or no OAuth support")
@_errors(401, 403, 404, 503)
def connect(body: dict[str, Any], wid: int) -> Any:
    """Begin connecting an account through OAuth (admin+).

    Send the user's browser to ``authorization_url``; the platform brings it
    back to the callback with ``code`` and ``state`` within 10 minutes. The
    callback succeeds only for the browser that made this request (the
    ``clientnest_oauth_binding`` cookie set here) or an API client sending
    ``binding`` as the ``X-ClientNest-OAuth-Binding`` header. ``redirect_uri``
    must be on this install's public URL or its ``oauth_redirect_allowlist``.
    """
    try:
        start = svc.begin_connect(session(), runtime(), workspace_id=wid, user_id=current_user().id,
                                  platform=body["platform"], redirect_uri=body.get("redirect_uri"))
    except (svc.AccountError, PlatformUnavailable) as exc:
        _fail(exc)
    _set_binding_cookie(body["platform"], start.binding)
    return start


@blp.route("/oauth/<string:platform>/callback", methods=["GET"])
@blp.doc(security=[])
@blp.arguments(CallbackQuerySchema, location="query")
@blp.response(201, AccountListSchema, description="one account stored")
@blp.alt_response(200, schema=CandidatesSchema, description="several accounts: choose with .../select")
@blp.alt_response(400, description="bad state, declined, or code rejected by the platform")
@blp.alt_response(502, description="the platform failed; its message is included")
@_errors(403, 503)
def oauth_callback(query: dict[str, Any], platform: str) -> Any:
    """Where the platform sends the browser back (no bearer token: the
    single-use ``state`` binds it to the workspace and user that began it,
    and the ``clientnest_oauth_binding`` cookie or ``X-ClientNest-OAuth-Binding``
    header to the browser or API client that did; without it: 403, nothing
    connected)."""
    s = session()
    binding = _binding()
    _clear_binding_cookie(platform)
    try:
        if "error" in query:
            raise svc.decline_connect(s, platform=platform, state=query["state"], error=query["error"],
                                      description=query.get("error_description"), binding=binding)
        if "code" not in query:
            abort(422, message="invalid code: missing (the platform sent neither code nor error)",
                  errors={"query": {"code": ["Missing data for required field."]}})
        result = svc.complete_connect(s, runtime(), platform=platform, code=query["code"], state=query["state"],
                                      binding=binding)
    except (svc.AccountError, PlatformUnavailable) as exc:
        _fail(exc, "query")
    if result.connection_id is not None:
        # an alternative response: flask-smorest returns a Response as it is
        return jsonify(CandidatesSchema().dump(result)), 200
    return {"accounts": result.accounts}


@blp.route("/workspaces/<int:wid>/accounts/connect/<int:connection_id>/select", methods=["POST"])
@workspace_role(Role.ADMIN)
@blp.arguments(SelectRequestSchema)
@blp.response(201, AccountListSchema)
@_errors(400, 401, 403, 404, 409)
def select(body: dict[str, Any], wid: int, connection_id: int) -> Any:
    """Store the accounts chosen among those a callback returned (admin+;
    single use; only by the user who began the connection)."""
    try:
        rows = svc.select_candidates(session(), runtime(), workspace_id=wid, user_id=current_user().id,
                                     connection_id=connection_id, external_ids=body["external_ids"])
    except (svc.AccountError, PlatformUnavailable) as exc:
        _fail(exc)
    return {"accounts": rows}


@blp.route("/workspaces/<int:wid>/accounts")
class Accounts(MethodView):
    @workspace_role(Role.VIEWER)
    @blp.response(200, AccountSchema(many=True))
    @_errors(401, 404)
    def get(self, wid: int) -> Any:
        """The workspace's accounts (viewer+). Credentials are never returned."""
        return svc.list_accounts(session(), wid)

    @workspace_role(Role.ADMIN)
    @blp.arguments(TokenConnectSchema)
    @blp.response(201, AccountListSchema)
    @_errors(401, 403, 404, 409, 502, 503)
    def post(self, body: dict[str, Any], wid: int) -> Any:
        """Connect with a token the user already has (admin+).

        ``credentials``: ``access_token`` (required), ``refresh_token``,
        ``expires_at`` (ISO 8601 with offset), ``extra``, and any other
        platform-specific key. Stored encrypted; never returned.
        """
        try:
            rows = svc.connect_with_token(session(), runtime(), workspace_id=wid, user_id=current_user().id,
                                          platform=body["platform"], credentials=body["credentials"])
        except (svc.AccountError, PlatformUnavailable) as exc:
            _fail(exc)
        return {"accounts": rows}


@blp.route("/workspaces/<int:wid>/accounts/<int:aid>")
class AccountById(MethodView):
    @workspace_role(Role.VIEWER)
    @blp.response(200, AccountSchema)
    @_errors(401, 404)
    def get(self, wid: int, aid: int) -> Any:
        """One account (viewer+)."""
        try:
            return svc.get_account(session(), wid, aid)
        except svc.AccountError as exc:
            _fail(exc)

    @workspace_role(Role.ADMIN)
    @blp.response(204)
    @blp.alt_response(409, description="the account is publishing right now")
    @_errors(401, 403, 404)
    def delete(self, wid: int, aid: int) -> Any:
        """Remove an account and its credentials (admin+). Its post targets go
        with it; refused (409) while one of them is being published."""
        try:
            svc.delete_account(session(), wid, aid, current_user().id)
        except svc.AccountError as exc:
            _fail(exc)
        return None
