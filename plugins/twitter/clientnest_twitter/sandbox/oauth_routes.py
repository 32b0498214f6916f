"""The sandbox's OAuth 2.0: an authorize page that approves at once, and the
token endpoint (authorization code with PKCE, rotating refresh tokens)."""
from __future__ import annotations

import base64
import binascii
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from . import shapes
from .base import RoutesBase
from .store import pkce_ok

__all__ = ["OAuthRoutes"]


class OAuthRoutes(RoutesBase):
    client_id: str
    client_secret: str

    def on_authorize(self, request: Request) -> Response:
        a = request.args
        missing = [k for k in ("response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge") if not a.get(k)]
        method = a.get("code_challenge_method", "plain")
        if missing or a.get("response_type") != "code" or method not in ("S256", "plain"):
            problem = f"missing: {', '.join(missing)}" if missing else "response_type must be code; code_challenge_method S256 or plain"
            return Response(f"<!DOCTYPE html><title>X sandbox</title><p>Something went wrong ({problem}).</p>",
                            status=400, mimetype="text/html")
        code = self.store.new_code(client_id=a["client_id"], redirect_uri=a["redirect_uri"],
                                   challenge=a["code_challenge"], method=method, scope=" ".join(a["scope"].split()))
        sep = "&" if "?" in a["redirect_uri"] else "?"
        # the sandbox's user approves at once
        return Response(status=302, headers={"Location": a["redirect_uri"] + sep + urlencode({"state": a["state"], "code": code})})

    def _client_of(self, request: Request) -> str | None:
        """The client id, checking the secret when a Basic header is sent."""
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
            if user == self.client_id and secret != self.client_secret:
                return None
            return user
        return request.form.get("client_id") or None

    def on_token(self, request: Request) -> Response:
        plain = {"cache-control": "no-cache, no-store, must-revalidate, pre-check=0, post-check=0", "pragma": "no-cache"}
        client = self._client_of(request)
        if client is None:
            return self._json(401, shapes.oauth_error("unauthorized_client", "Missing valid authorization header"), plain)
        form = request.form
        grant = form.get("grant_type")
        if grant == "authorization_code":
            code = self.store.take_code(form.get("code", ""))
            if (code is None or code.client_id != client or code.redirect_uri != form.get("redirect_uri")
                    or not pkce_ok(form.get("code_verifier", ""), code.challenge, code.method)):
                return self._json(400, shapes.oauth_error("invalid_request", "Value passed for the authorization code was invalid."), plain)
            return self._json(200, self.store.issue(user_id=code.user_id, client_id=client, scope=code.scope), plain)
        if grant == "refresh_token":
            body = self.store.rotate(form.get("refresh_token", ""), client)
            if body is None:
                return self._json(400, shapes.oauth_error("invalid_request", "Value passed for the token was invalid."), plain)
            return self._json(200, body, plain)
        return self._json(400, shapes.oauth_error("unsupported_grant_type", "grant_type must be authorization_code or refresh_token"), plain)

