"""/api/v1/webhooks/{platform}: subscription checks and event deliveries from
Meta (Facebook Pages, Instagram) and X.

No bearer token: each delivery is authenticated by the platform's signature
over the raw body, compared in constant time, before anything is parsed or
stored. A bad or missing signature gets 401 and stores nothing; events for
accounts nobody connected are acknowledged (200) and dropped.

Secrets come from each platform's plugin settings (``CLIENTNEST_<PLATFORM>_*``):

==========  =========================================  ===============================
platform    GET check                                  POST signature
==========  =========================================  ===============================
facebook    ``hub.verify_token`` = ``verify_token``    ``X-Hub-Signature-256``, ``app_secret``
instagram   ``hub.verify_token`` = ``verify_token``    ``X-Hub-Signature-256``, ``app_secret``
twitter     ``crc_token`` signed with                  ``x-twitter-webhooks-signature``,
            ``consumer_secret``                        ``consumer_secret``
==========  =========================================  ===============================

In the embedded sandbox mode, a setting left unset falls back to the value the
platform's sandbox configuration gives, so sandbox deliveries verify.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from typing import Any

from flask import Response, request
from flask.views import MethodView
from flask_smorest import abort

from clientnest.services.inbox import WEBHOOK_PLATFORMS, ingest_webhook

from ..db_session import runtime, session
from ..extensions import Blueprint
from .schemas import CrcResponseSchema, VerificationQuerySchema, WebhookResultSchema

blp = Blueprint(
    "webhooks", __name__, url_prefix="/api/v1",
    description="Platform webhooks (Meta, X): authenticated by the platform's signature, not a bearer token",
)
log = logging.getLogger(__name__)

_NOT_HERE = ("no webhook endpoint for this platform on this install: the platform takes no webhooks, its plugin "
             "is not enabled, or its webhook secret is not configured (the message names the setting to set)")
META_PLATFORMS = frozenset({"facebook", "instagram"})
META_SIGNATURE = "X-Hub-Signature-256"
X_SIGNATURE = "x-twitter-webhooks-signature"


def _platform(platform: str) -> str:
    """404 unless the platform takes webhooks and its plugin is enabled here."""
    if platform not in WEBHOOK_PLATFORMS or platform not in runtime().plugins.connector_classes:
        abort(404, message=f"no webhook endpoint for platform {platform!r} on this install")
    return platform


def _setting(platform: str, key: str) -> str:
    """A webhook secret of ``platform``, or 404 naming the setting to set.

    Not a 503: nothing is down and trying again will not help; the endpoint
    does not exist on this install until someone configures it."""
    rt = runtime()
    value = rt.settings.plugin_settings(platform).get(key)
    if not value and rt.settings.sandbox:
        cls = rt.plugins.connector_classes[platform]
        base = f"{rt.settings.public_url.rstrip('/')}/sandbox/{platform}"
        value = cls.sandbox_config(base).get(key)
    if not value:
        abort(404, message=f"webhooks for {platform} are not configured on this install: "
                           f"set CLIENTNEST_{platform.upper()}_{key.upper()}")
    return str(value)


def _hmac(secret: str, data: bytes) -> bytes:
    return hmac.new(secret.encode(), data, hashlib.sha256).digest()


def meta_signature(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(app secret, raw body)>``, as Meta signs deliveries."""
    return "sha256=" + _hmac(secret, body).hex()


def x_signature(secret: str, data: bytes) -> str:
    """``sha256=<base64 HMAC-SHA256(consumer secret, data)>``, as X signs CRC answers and deliveries."""
    return "sha256=" + base64.b64encode(_hmac(secret, data)).decode()


def _signature_ok(expected: str, given: str | None, *, lower: bool) -> bool:
    if not given:
        return False
    given = given.strip()
    if lower:  # hex digits may come in either case
        given = given.lower()
    return hmac.compare_digest(expected.encode(), given.encode())


@blp.route("/webhooks/<string:platform>")
class WebhookView(MethodView):
    @blp.arguments(VerificationQuerySchema, location="query")
    @blp.doc(security=[], responses={
        "200": {"description": "Meta: `hub.challenge` as text/plain. X: `{\"response_token\": ...}`.",
                "content": {"text/plain": {"schema": {"type": "string"}},
                            "application/json": {"schema": CrcResponseSchema}}},
        "403": {"description": "Meta: `hub.verify_token` does not match"},
        "404": {"description": _NOT_HERE},
        "422": {"description": "a required query parameter is missing"},
    })
    def get(self, args: dict[str, Any], platform: str) -> Any:
        """Subscription check: Meta's verification request or X's CRC.

        Meta sends ``hub.mode=subscribe``, ``hub.verify_token`` and
        ``hub.challenge``; the challenge is echoed when the token matches the
        configured verify token. X sends ``crc_token`` and gets back
        ``sha256=`` + base64 HMAC-SHA256 of it, keyed with the consumer secret.
        """
        _platform(platform)
        if platform == "twitter":
            token = args.get("crc_token")
            if not token:
                abort(422, message="invalid crc_token: missing", errors={"query": {"crc_token": ["missing"]}})
            secret = _setting(platform, "consumer_secret")
            return {"response_token": x_signature(secret, token.encode())}
        for name, key in (("hub.mode", "hub_mode"), ("hub.verify_token", "hub_verify_token"),
                          ("hub.challenge", "hub_challenge")):
            if not args.get(key):
                abort(422, message=f"invalid {name}: missing", errors={"query": {name: ["missing"]}})
        if args["hub_mode"] != "subscribe":
            abort(422, message="invalid hub.mode: must be 'subscribe'",
                  errors={"query": {"hub.mode": ["must be 'subscribe'"]}})
        expected = _setting(platform, "verify_token")
        if not hmac.compare_digest(expected.encode(), args["hub_verify_token"].encode()):
            abort(403, message="hub.verify_token does not match the configured verify token")
        return Response(args["hub_challenge"], status=200, mimetype="text/plain")

    @blp.response(200, WebhookResultSchema)
    @blp.doc(security=[], parameters=[
        {"in": "header", "name": META_SIGNATURE, "required": False, "schema": {"type": "string"},
         "description": "Meta: `sha256=` + hex HMAC-SHA256 of the raw body with the app secret"},
        {"in": "header", "name": X_SIGNATURE, "required": False, "schema": {"type": "string"},
         "description": "X: `sha256=` + base64 HMAC-SHA256 of the raw body with the consumer secret"},
    ], requestBody={"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
        responses={"400": {"description": "the body is not a JSON object"},
                   "401": {"description": "missing or bad signature; nothing stored"},
                   "404": {"description": _NOT_HERE}})
    def post(self, platform: str) -> Any:
        """An event delivery. Comment events become inbox comments on the
        connected accounts they name, once per platform comment id."""
        _platform(platform)
        body = request.get_data(cache=True)
        if platform in META_PLATFORMS:
            secret = _setting(platform, "app_secret")
            ok = _signature_ok(meta_signature(secret, body), request.headers.get(META_SIGNATURE), lower=True)
            header = META_SIGNATURE
        else:
            secret = _setting(platform, "consumer_secret")
            ok = _signature_ok(x_signature(secret, body), request.headers.get(X_SIGNATURE), lower=False)
            header = X_SIGNATURE
        if not ok:
            log.warning("%s webhook rejected: missing or bad %s", platform, header)
            abort(401, message=f"missing or invalid {header}")
        try:
            payload = json.loads(body)
        except ValueError:
            abort(400, message="invalid body: not JSON")
        if not isinstance(payload, dict):
            abort(400, message="invalid body: expected a JSON object")
        s = session()
        result = ingest_webhook(s, platform, payload)
        s.commit()
        return result.to_json()
