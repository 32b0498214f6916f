"""The ``clientnest`` command, run in-process with click's runner."""
from __future__ import annotations

import json
from typing import Any

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


def test_run_creates_the_demo_login_once_and_a_fresh_token_each_time(runtime: Any) -> None:
    from sqlalchemy import func, select

    from clientnest.cli import DEMO_EMAIL, DEMO_PASSWORD, _ensure_demo_login
    from clientnest.crypto import hash_token, verify_password
    from clientnest.models import ApiToken, Membership, User

    email, password, first = _ensure_demo_login(runtime)
    _, _, second = _ensure_demo_login(runtime)
    assert (email, password) == (DEMO_EMAIL, DEMO_PASSWORD) and first != second
    with runtime.db.session() as s:
        users = s.scalars(select(User).where(User.email == DEMO_EMAIL)).all()
        assert len(users) == 1 and verify_password(DEMO_PASSWORD, users[0].password_hash)
        assert s.scalar(select(func.count()).select_from(Membership).where(Membership.user_id == users[0].id)) == 1
        hashes = set(s.scalars(select(ApiToken.token_hash).where(ApiToken.user_id == users[0].id)))
        assert hashes == {hash_token(first), hash_token(second)}  # only hashes are stored


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
