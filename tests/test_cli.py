"""The ``clientnest`` command, run in-process with click's runner."""
from __future__ import annotations

import json
from typing import Any

import click
from click.testing import CliRunner
from cryptography.fernet import Fernet

from clientnest.cli import cli
from clientnest.crypto import Vault
from clientnest.models import SocialAccount, Workspace


def test_plugins_lists_bundled_plugins_with_hooks(monkeypatch: Any) -> None:
    monkeypatch.delenv("CLIENTNEST_PLUGINS", raising=False)
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    for name in ("twitter", "facebook", "instagram", "linkedin", "deepseek"):
        assert rows[name]["enabled"] is True, rows[name]
        assert rows[name]["error"] is None
        assert rows[name]["hooks"], rows[name]
    assert rows["twitter"]["kind"] == "connector"
    assert rows["deepseek"]["kind"] == "ai_provider"


def test_plugins_honours_the_blocklist(monkeypatch: Any) -> None:
    monkeypatch.setenv("CLIENTNEST_DISABLED_PLUGINS", "linkedin")
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0, result.output
    line = next(l for l in result.output.splitlines() if l.startswith("linkedin"))
    assert "disabled" in line


def test_db_upgrade_builds_a_fresh_sqlite_database(tmp_path: Any, monkeypatch: Any) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("CLIENTNEST_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "clientnest.db").stat().st_size > 0


def test_rotate_keys_reencrypts_under_the_new_key(runtime: Any, monkeypatch: Any) -> None:
    old_key = runtime.settings.fernet_keys[0]
    with runtime.db.transaction() as s:
        ws = Workspace(name="W")
        s.add(ws)
        s.flush()
        s.add(SocialAccount(workspace_id=ws.id, platform="x", external_id="1",
                            credentials_encrypted=runtime.vault.encrypt({"access_token": "secret-1"})))
    new_key = Fernet.generate_key().decode()
    monkeypatch.setenv("DATABASE_URL", runtime.settings.database_url)
    monkeypatch.setenv("CLIENTNEST_FERNET_KEYS", f"{new_key},{old_key}")
    monkeypatch.setenv("REDIS_URL", "")
    result = CliRunner().invoke(cli, ["rotate-keys"])
    assert result.exit_code == 0, result.output
    assert "re-encrypted 1" in result.output
    with runtime.db.session() as s:
        token = s.query(SocialAccount).one().credentials_encrypted
    assert Vault([new_key]).decrypt(token)["access_token"] == "secret-1"


def test_demo_login_password_is_generated_once_and_one_expiring_token_is_reused(runtime: Any) -> None:
    from datetime import timedelta

    from sqlalchemy import func, select, update

    from clientnest.cli import DEMO_EMAIL, _ensure_demo_login
    from clientnest.crypto import hash_token, verify_password
    from clientnest.db import utcnow
    from clientnest.models import ApiToken, Membership, User
    from clientnest.passwords import password_problem

    first = _ensure_demo_login(runtime)
    assert first.email == DEMO_EMAIL and first.password and first.token
    assert password_problem(first.password) is None and first.password != "clientnest-demo"
    assert first.password not in repr(first) and first.token not in repr(first)
    assert timedelta(days=29) < first.token_expires_at - utcnow() <= timedelta(days=30)

    second = _ensure_demo_login(runtime)  # a later start: nothing new to show, nothing added
    assert second.password is None and second.token is None
    assert second.token_prefix == first.token[:10] and second.token_expires_at == first.token_expires_at

    def state() -> tuple[User, list[ApiToken]]:
        with runtime.db.session() as s:
            user = s.scalars(select(User).where(User.email == DEMO_EMAIL)).one()
            assert s.scalar(select(func.count()).select_from(Membership).where(Membership.user_id == user.id)) == 1
            return user, list(s.scalars(select(ApiToken).where(ApiToken.user_id == user.id)))

    user, tokens = state()
    assert verify_password(first.password, user.password_hash) and first.password not in user.password_hash
    assert [t.token_hash for t in tokens] == [hash_token(first.token)]  # only the hash is stored

    # once expired, the next start replaces it (and an old never-expiring one goes too)
    with runtime.db.transaction() as s:
        s.execute(update(ApiToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        s.add(ApiToken(user_id=user.id, label="make run", token_hash="0" * 64, prefix="cn_legacy", expires_at=None))
    third = _ensure_demo_login(runtime)
    assert third.token and third.token != first.token and third.password is None
    _, tokens = state()
    assert [t.token_hash for t in tokens] == [hash_token(third.token)]

    # reset: a new password and token, the old token revoked
    reset = _ensure_demo_login(runtime, reset=True)
    assert reset.password and reset.password != first.password and reset.token and reset.token != third.token
    user, tokens = state()
    assert verify_password(reset.password, user.password_hash) and not verify_password(first.password, user.password_hash)
    assert [t.token_hash for t in tokens] == [hash_token(reset.token)]


def test_demo_login_banner_says_how_to_reset_on_later_starts(runtime: Any) -> None:
    from clientnest.cli import _echo_demo_login, _ensure_demo_login, reset_demo_login_cmd  # noqa: F401

    first = _ensure_demo_login(runtime)

    @click.command()
    def show() -> None:
        _echo_demo_login(_ensure_demo_login(runtime))

    out = CliRunner().invoke(show).output
    assert first.password and first.password not in out and first.token and first.token not in out
    assert "clientnest reset-demo-login" in out and first.token[:10] in out


def test_run_migrates_without_alembic_info_lines_before_the_banner(tmp_path: Any) -> None:
    """``make run`` used to print seven "setup plugin" lines and Alembic's
    "Context impl" lines above its banner; the migration it runs is quiet."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'q.db'}"
    script = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stdout, format='%(levelname)s %(name)s: %(message)s')\n"
        "from clientnest.migrate import upgrade\n"
        f"upgrade({url!r}, quiet=True)\n"
        "logging.getLogger('alembic').info('still reachable after the quiet block')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = [l for l in (done.stdout + done.stderr).splitlines() if l.strip()]
    # the only Alembic line is the one logged after the migration: the level is restored
    assert lines == ["INFO alembic: still reachable after the quiet block"], lines
    assert (tmp_path / "q.db").stat().st_size > 0


def test_reset_demo_login_command_prints_a_working_password_and_token(runtime: Any, monkeypatch: Any) -> None:
    import re

    from sqlalchemy import select

    from clientnest.cli import DEMO_EMAIL
    from clientnest.crypto import hash_token, verify_password
    from clientnest.models import ApiToken, User

    monkeypatch.setenv("DATABASE_URL", runtime.settings.database_url)
    monkeypatch.setenv("CLIENTNEST_FERNET_KEYS", runtime.settings.fernet_keys[0])
    monkeypatch.setenv("REDIS_URL", "")
    result = CliRunner().invoke(cli, ["reset-demo-login"])
    assert result.exit_code == 0, result.output
    password = re.search(rf"{re.escape(DEMO_EMAIL)} / (\S+)", result.output)
    token = re.search(r"API token:\s+(cn_\S+)", result.output)
    assert password and token, result.output
    with runtime.db.session() as s:
        user = s.scalars(select(User).where(User.email == DEMO_EMAIL)).one()
        assert verify_password(password[1], user.password_hash)
        assert s.scalars(select(ApiToken.token_hash).where(ApiToken.user_id == user.id)).all() == [hash_token(token[1])]
