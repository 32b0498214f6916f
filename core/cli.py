"""The ``clientnest`` command: run, db upgrade, plugins, sandbox, worker, scheduler."""
from __future__ import annotations

import json
import logging
import os
import shlex
import sys
from typing import Any

import click

from .engine.commands import scheduler, worker
from .settings import load_settings

__all__ = ["main", "cli"]

DEMO_EMAIL = "demo@clientnest.local"
DEMO_PASSWORD = "clientnest-demo"


@click.group()
@click.option("--log-level", default=None, help="DEBUG, INFO, WARNING ... (default: CLIENTNEST_LOG_LEVEL or INFO)")
def cli(log_level: str | None) -> None:
    """ClientNest: social media management."""
    level = (log_level or os.environ.get("CLIENTNEST_LOG_LEVEL") or "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


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


def _ensure_demo_login(runtime: Any) -> tuple[str, str, str]:
    """Create the demo user and workspace on first run; a fresh token each run."""
    from sqlalchemy import select

    from .crypto import hash_password, hash_token, new_api_token
    from .models import ApiToken, Membership, Role, User, Workspace

    with runtime.db.transaction() as s:
        user = s.scalar(select(User).where(User.email == DEMO_EMAIL))
        if user is None:
            user = User(email=DEMO_EMAIL, password_hash=hash_password(DEMO_PASSWORD), name="Demo")
            ws = Workspace(name="Demo workspace", timezone="UTC")
            s.add_all([user, ws])
            s.flush()
            s.add(Membership(user_id=user.id, workspace_id=ws.id, role=Role.OWNER))
        token = new_api_token()
        s.add(ApiToken(user_id=user.id, label="make run", token_hash=hash_token(token), prefix=token[:8]))
    return DEMO_EMAIL, DEMO_PASSWORD, token


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
    logging.getLogger("alembic").setLevel(logging.WARNING)  # keep the banner readable
    upgrade(settings.resolved_database_url())
    runtime = build_runtime(settings)
    app = create_app(runtime=runtime)
    server = make_server(host, port, app, threaded=True)
    email, password, token = _ensure_demo_login(runtime)
    ensure_demo_history(runtime, email)  # 90 days of posts and figures for the analytics pages

    from .engine import embedded

    engine = embedded if settings.embedded and settings.embedded_dispatcher else None
    if engine is not None:
        engine.start(runtime)

    sandboxes = app.extensions.get("clientnest_sandboxes", [])
    click.echo("")
    click.echo(f"ClientNest is running at {base}")
    click.echo(f"  Swagger UI:  {base}/api/docs")
    click.echo(f"  OpenAPI:     {base}/api/v1/openapi.json")
    click.echo(f"  Demo login:  {email} / {password}")
    click.echo(f"  API token:   {token}   (send as 'Authorization: Bearer <token>')")
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
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if engine is not None:
            engine.stop()
        server.server_close()
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
