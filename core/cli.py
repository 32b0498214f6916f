"""The ``clientnest`` command: run, db upgrade, plugins, sandbox, worker, scheduler."""
from __future__ import annotations

import json
import logging
import os
import shlex
import secrets
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import click

from .accesslog import install as install_access_log_redaction
from .engine.commands import scheduler, worker
from .settings import load_settings

__all__ = ["main", "cli"]

DEMO_EMAIL = "demo@clientnest.local"
#: label of the one API token ``clientnest run`` keeps for the demo user
DEMO_TOKEN_LABEL = "make run"
DEMO_TOKEN_DAYS = 30


@click.group()
@click.option("--log-level", default=None, help="DEBUG, INFO, WARNING ... (default: CLIENTNEST_LOG_LEVEL or INFO)")
def cli(log_level: str | None) -> None:
    """ClientNest: social media management."""
    level = (log_level or os.environ.get("CLIENTNEST_LOG_LEVEL") or "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # werkzeug's request log (run, sandbox) and httpx's line per outgoing
    # request (connectors, in run and worker) would keep OAuth codes, client
    # secrets and tokens from query strings
    install_access_log_redaction("werkzeug", "httpx")


@cli.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply the migrations to DATABASE_URL (or the embedded SQLite file)."""
    from .migrate import upgrade

    settings = load_settings()
    if not settings.database_url:
        os.makedirs(settings.data_dir, exist_ok=True)
    upgrade(settings.resolved_database_url(), revision)
    click.echo(f"database at revision {revision}")


@cli.command("rotate-keys")
def rotate_keys() -> None:
    """Re-encrypt stored credentials under the first key of CLIENTNEST_FERNET_KEYS.

    Put the new key first (keep the old one after it), run this, then drop the old key.
    """
    from .runtime import build_runtime
    from .services.accounts import reencrypt_all

    runtime = build_runtime(load_settings())
    try:
        with runtime.db.session() as s:
            count = reencrypt_all(s, runtime.vault)
    finally:
        runtime.close()
    click.echo(f"re-encrypted {count} stored secret(s) under the newest key")


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
def plugins_cmd(as_json: bool) -> None:
    """List plugins: name, version, kind, state, hooks, load error.

    The state is ``enabled``, ``not configured`` (loaded, but settings it
    needs are missing: they are named), ``disabled`` or ``ERROR``."""
    from .plugins import build_plugin_host

    host = build_plugin_host(load_settings())
    infos = list(host.plugins.values())
    if as_json:
        click.echo(json.dumps([info.to_json() for info in infos], indent=2))
        return
    for info in infos:
        state = "ERROR" if info.state == "error" else info.state
        click.echo(f"{info.name:<12} {info.version or '-':<8} {info.kind:<12} {state:<14} {', '.join(info.platforms)}")
        if info.missing_settings:
            click.echo(f"{'':<12} set: {', '.join(info.missing_settings)}")
        if info.hooks:
            click.echo(f"{'':<12} hooks: {', '.join(info.hooks)}")
        if info.error:
            click.echo(f"{'':<12} error: {info.error}")


@dataclass(frozen=True)
class DemoLogin:
    """The demo login as ``clientnest run`` reports it.

    ``password`` and ``token`` are set only when they were made just now:
    only their hashes are stored, so a later start cannot show them again.
    """

    email: str
    password: str | None
    token: str | None
    token_prefix: str
    token_expires_at: datetime

    def __repr__(self) -> str:  # the secrets stay out of tracebacks and logs
        return f"DemoLogin(email={self.email!r}, token_prefix={self.token_prefix!r})"


def _ensure_demo_login(runtime: Any, *, reset: bool = False) -> DemoLogin:
    """The demo user, workspace and one expiring API token for ``make run``.

    First start: a random password (its hash stored) and a token valid
    :data:`DEMO_TOKEN_DAYS` days, both returned to be printed once. Later
    starts reuse that token while it is valid (no token piles up per start)
    and make a new one when it has expired. ``reset``: a new password and a
    new token, the old ``make run`` tokens revoked.
    """
    from sqlalchemy import delete, or_, select

    from .crypto import hash_password, hash_token, new_api_token
    from .db import utcnow
    from .models import ApiToken, Membership, Role, User, Workspace
    from .services.identity import TOKEN_PREFIX_LENGTH

    password: str | None = None
    secret: str | None = None
    now = utcnow()
    with runtime.db.transaction() as s:
        user = s.scalar(select(User).where(User.email == DEMO_EMAIL))
        if user is None or reset:
            password = secrets.token_urlsafe(12)  # 16 characters, ~96 bits
        if user is None:
            user = User(email=DEMO_EMAIL, password_hash=hash_password(password or ""), name="Demo")
            ws = Workspace(name="Demo workspace", timezone="UTC")
            s.add_all([user, ws])
            s.flush()
            s.add(Membership(user_id=user.id, workspace_id=ws.id, role=Role.OWNER))
        elif reset:
            user.password_hash = hash_password(password or "")
        mine = (ApiToken.user_id == user.id, ApiToken.label == DEMO_TOKEN_LABEL)
        if reset:
            s.execute(delete(ApiToken).where(*mine))
        else:
            # expired ones, and those older versions added at every start and never expire
            s.execute(delete(ApiToken).where(*mine, or_(ApiToken.expires_at.is_(None), ApiToken.expires_at <= now)))
        row = s.scalars(select(ApiToken).where(*mine).order_by(ApiToken.expires_at.desc())).first()
        if row is None:
            secret = new_api_token()
            row = ApiToken(user_id=user.id, label=DEMO_TOKEN_LABEL, token_hash=hash_token(secret),
                           prefix=secret[:TOKEN_PREFIX_LENGTH], expires_at=now + timedelta(days=DEMO_TOKEN_DAYS))
            s.add(row)
            s.flush()
        return DemoLogin(DEMO_EMAIL, password, secret, row.prefix, row.expires_at)


def _echo_demo_login(login: DemoLogin) -> None:
    expires = login.token_expires_at.strftime("%Y-%m-%d")
    if login.password:
        click.echo(f"  Demo login:  {login.email} / {login.password}   (shown this once: only its hash is kept)")
    else:
        click.echo(f"  Demo login:  {login.email}   (its password was printed when it was created; "
                   "forgot it? '.venv/bin/clientnest reset-demo-login')")
    if login.token:
        click.echo(f"  API token:   {login.token}   (expires {expires}; send as 'Authorization: Bearer <token>')")
    else:
        click.echo(f"  API token:   the one starting {login.token_prefix} printed earlier, valid until {expires} "
                   "('.venv/bin/clientnest reset-demo-login' makes a new one)")


@cli.command("reset-demo-login")
def reset_demo_login_cmd() -> None:
    """Give the embedded demo user a new password and API token (the old token stops working)."""
    from .migrate import upgrade
    from .runtime import build_runtime

    settings = load_settings()
    if not settings.database_url:
        os.makedirs(settings.data_dir, exist_ok=True)
    upgrade(settings.resolved_database_url(), quiet=True)
    runtime = build_runtime(settings)
    try:
        login = _ensure_demo_login(runtime, reset=True)
    finally:
        runtime.close()
    _echo_demo_login(login)


def _web_built(settings: Any) -> bool:
    from clientnest.api.webapp import resolve_dist_dir

    return (resolve_dist_dir(settings.web_dist_dir) / "index.html").is_file()


@cli.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def run_cmd(host: str, port: int) -> None:
    """Embedded mode: migrate, start the API, jobs and sandboxes; serve until stopped."""
    from werkzeug.serving import make_server

    from clientnest.api import create_app
    from .analytics.demo import ensure_demo_history
    from .migrate import upgrade
    from .runtime import build_runtime

    base = f"http://{host}:{port}"
    overrides: dict[str, Any] = {}
    if not os.environ.get("CLIENTNEST_PUBLIC_URL"):
        overrides["public_url"] = base
    settings = load_settings(overrides)
    if not settings.database_url:
        os.makedirs(settings.data_dir, exist_ok=True)
    upgrade(settings.resolved_database_url(), quiet=True)  # the banner comes first
    runtime = build_runtime(settings)
    app = create_app(runtime=runtime)
    server = make_server(host, port, app, threaded=True)
    demo = _ensure_demo_login(runtime)
    ensure_demo_history(runtime, demo.email)  # 90 days of posts and figures for the analytics pages

    from .engine import embedded

    engine = embedded if settings.embedded and settings.embedded_dispatcher else None

    sandboxes = app.extensions.get("clientnest_sandboxes", [])
    click.echo("")
    click.echo(f"ClientNest is running at {base}")
    click.echo(f"  Dashboard:   {base}/{'' if _web_built(settings) else '   (not built yet: make web, needs Node.js 20+)'}")
    click.echo(f"  Swagger UI:  {base}/api/docs")
    click.echo(f"  OpenAPI:     {base}/api/v1/openapi.json")
    _echo_demo_login(demo)
    click.echo(f"  Database:    {settings.resolved_database_url()}")
    click.echo(f"  Jobs:        {'in-process' if settings.embedded else settings.redis_url}")
    if sandboxes:
        click.echo(f"  SANDBOX MODE: {', '.join(sandboxes)} are simulated locally at {base}/sandbox/<name>;")
        click.echo("                nothing is sent to the real platforms and no credentials are needed.")
    failed = [i for i in runtime.plugins.plugins.values() if i.error]
    for info in failed:
        click.echo(f"  plugin {info.name} failed to load: {info.error}", err=True)
    click.echo("Press Ctrl+C to stop.")
    sys.stdout.flush()
    if engine is not None:
        engine.start(runtime)  # after the banner: its log lines come below it
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if engine is not None:
            engine.stop()
        server.server_close()
        runtime.close()


@cli.command("events")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8001, show_default=True, type=int)
def events_cmd(host: str, port: int) -> None:
    """Production: serve the live event streams (GET /api/v1/workspaces/{wid}/events)
    on asyncio, fed by Redis; the reverse proxy routes that path here."""
    from clientnest.api.events.server import run

    from .runtime import build_runtime

    settings = load_settings()
    if not settings.redis_url:
        raise click.ClickException(
            "the events server needs REDIS_URL (the engine publishes events there); in the embedded mode "
            "`clientnest run` serves the event streams itself")
    runtime = build_runtime(settings)
    click.echo(f"ClientNest events server at http://{host}:{port}/api/v1/workspaces/<wid>/events "
               f"(Redis {settings.redis_url.rsplit('@', 1)[-1]})")
    sys.stdout.flush()
    try:
        run(runtime, host, port)
    finally:
        runtime.close()


@cli.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8900, show_default=True, type=int)
def sandbox_cmd(host: str, port: int) -> None:
    """Serve every installed connector's sandbox at /<name> on one local port."""
    from werkzeug.exceptions import NotFound
    from werkzeug.middleware.dispatcher import DispatcherMiddleware
    from werkzeug.serving import run_simple

    from .plugins import build_plugin_host

    host_ = build_plugin_host(load_settings())
    mounts = {f"/{n}": c.sandbox() for n, c in host_.connector_classes.items() if c.sandbox() is not None}
    if not mounts:
        raise click.ClickException("no installed connector ships a sandbox")
    for path in sorted(mounts):
        name = path[1:]
        base = f"http://{host}:{port}{path}"
        click.echo(f"sandbox {name}: {base}")
        # the settings that point a ClientNest install at this sandbox
        for field, value in host_.connector_classes[name].sandbox_config(base).items():
            # quoted for a POSIX shell: pasting a line sets the whole value
            click.echo(f"    CLIENTNEST_{name.upper()}_{field.upper()}={shlex.quote(str(value))}")
    run_simple(host, port, DispatcherMiddleware(NotFound(), mounts), threaded=True)


@cli.command("new-connector")
@click.argument("name")
@click.option("--dest", default=".", show_default=True, help="folder to write clientnest-<name> into")
@click.option("--display-name", default=None, help="the platform's name as users see it")
def new_connector_cmd(name: str, dest: str, display_name: str | None) -> None:
    """Write a new connector plugin (with sandbox and conformance tests) to start from."""
    from .testing.template import create_connector_plugin

    try:
        root = create_connector_plugin(name, dest, display_name=display_name)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {root}\nnext: pip install -e {root} && pytest {root / 'tests'}")


cli.add_command(worker)
cli.add_command(scheduler)


def main() -> None:
    from .errors import ConfigError

    try:
        cli()
    except ConfigError as exc:
        # a setting is missing or wrong: the message says which; a traceback
        # would only bury it
        click.echo(f"clientnest: configuration error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
