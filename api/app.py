"""The application factory."""
from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping
from typing import Any

import psycopg
import swagger_ui_bundle
from flask import Flask, jsonify, send_from_directory
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException, InternalServerError

from clientnest.runtime import Runtime, build_runtime, set_current
from clientnest.settings import load_settings

from . import body_limits, db_session, path_ids, webapp
from .cookies import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE
from .extensions import api
from .json_provider import FastJSONProvider
from .posts.list_cache import forget_after_write

__all__ = ["create_app", "BLUEPRINTS", "database_unavailable", "RETRY_AFTER"]

log = logging.getLogger(__name__)

#: every resource package, each with a ``routes.blp`` blueprint
BLUEPRINTS = (
    "health",
    "auth",
    "session",
    "workspaces",
    "members",
    "plugins",
    "platforms",
    "accounts",
    "media",
    "posts",
    "ai",
    "inbox",
    "webhooks",
    "events",
    "analytics",
)


def create_app(test_config: Mapping[str, Any] | None = None, *, runtime: Runtime | None = None) -> Flask:
    """Build the app. ``test_config`` overrides settings (see :mod:`clientnest.settings`)
    and Flask config keys alike; ``runtime`` injects a ready runtime (tests)."""
    app = Flask("clientnest")
    app.json = FastJSONProvider(app)
    cfg = dict(test_config or {})
    if runtime is None:
        runtime = build_runtime(load_settings(cfg))
    set_current(runtime)
    app.extensions["clientnest"] = runtime
    settings = runtime.settings

    app.config.update(
        API_TITLE="ClientNest API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="v1/openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        # served from the swagger-ui-bundle package: no CDN, works air-gapped
        OPENAPI_SWAGGER_UI_URL="/api/docs/static/",
        # per route in body_limits: this default is the small JSON limit
        MAX_CONTENT_LENGTH=settings.json_max_bytes,
        JSON_SORT_KEYS=False,
        API_SPEC_OPTIONS={
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer", "description": "API token from POST /api/v1/auth/tokens"},
                    "sessionCookie": {
                        "type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
                        "description": f"browser session from POST /api/v1/auth/session; a request that changes "
                                       f"something also sends the {CSRF_COOKIE} cookie's value in {CSRF_HEADER}",
                    },
                }
            },
            "security": [{"bearerAuth": []}, {"sessionCookie": []}],
            "info": {"description": "ClientNest: schedule, publish and measure social posts. Errors are JSON {code, status, message, errors?}."},
        },
    )
    app.config.update({k: v for k, v in cfg.items() if k.isupper()})

    api.init_app(app)
    body_limits.init_app(app)
    db_session.init_app(app)
    path_ids.init_app(app)
    forget_after_write(app)

    @app.get("/api/docs/static/<path:filename>")
    def swagger_static(filename: str) -> Any:
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename)

    import importlib

    for name in BLUEPRINTS:
        module = importlib.import_module(f"clientnest.api.{name}.routes")
        api.register_blueprint(module.blp)

    webapp.init_app(app, webapp.resolve_dist_dir(settings.web_dist_dir))

    if settings.sandbox:
        _mount_sandboxes(app, runtime)

    @app.errorhandler(Exception)
    def _unhandled(exc: Exception) -> Any:
        if isinstance(exc, HTTPException):
            return api.handle_http_exception(exc)
        if database_unavailable(exc):
            # an outage, not a bug: the client may try again, as /readyz says
            # the driver's own message: SQLAlchemy's adds the statement's parameters
            log.error("database unavailable: %s: %s", type(exc).__name__, getattr(exc, "orig", None) or exc)
            return jsonify(code=503, status="Service Unavailable",
                           message="the database is unavailable; try again later"), 503, {"Retry-After": RETRY_AFTER}
        # Never leak internals (or secrets inside them) in a response.
        log.exception("unhandled error")
        err = InternalServerError()
        return jsonify(code=500, status=err.name, message="internal error; see the server log"), 500

    return app


#: seconds a client should wait before retrying when the database is unavailable
RETRY_AFTER = "5"

# What a database that cannot be reached raises: SQLAlchemy's wrappers of the
# driver's errors (refused or dropped connections, a locked SQLite file, a
# statement timeout), its pool's timeout, and the drivers' own errors where
# they escape unwrapped (e.g. switching psycopg's autocommit on a dead link).
_DATABASE_DOWN: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    sqlite3.OperationalError,
    sqlite3.InterfaceError,
)


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached (answer 503, not 500)."""
    return isinstance(exc, _DATABASE_DOWN)


def _mount_sandboxes(app: Flask, runtime: Runtime) -> None:
    """Embedded mode: each connector's sandbox answers at /sandbox/<name>,
    where sandbox-mode settings point the connector (see PluginHost)."""
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    mounts: dict[str, Any] = {}
    for name, cls in runtime.plugins.connector_classes.items():
        sandbox = cls.sandbox()
        if sandbox is not None:
            mounts[f"/sandbox/{name}"] = sandbox
    if mounts:
        app.wsgi_app = DispatcherMiddleware(app.wsgi_app, mounts)  # type: ignore[method-assign]
    app.extensions["clientnest_sandboxes"] = sorted(mounts)
