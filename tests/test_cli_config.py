"""What the ``clientnest`` command tells an operator about configuration."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from typing import Any

import pytest
from click.testing import CliRunner

from clientnest.cli import cli


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> None:
    """No sandbox: connectors need their real apps' settings."""
    monkeypatch.setenv("CLIENTNEST_SANDBOX", "0")
    monkeypatch.delenv("CLIENTNEST_PLUGINS", raising=False)
    monkeypatch.delenv("CLIENTNEST_DISABLED_PLUGINS", raising=False)
    for key in list(os.environ):
        if key.startswith(("CLIENTNEST_TWITTER_", "CLIENTNEST_LINKEDIN_", "CLIENTNEST_FACEBOOK_",
                           "CLIENTNEST_INSTAGRAM_", "CLIENTNEST_DEEPSEEK_")):
            monkeypatch.delenv(key)


def test_plugins_names_the_missing_settings_of_connectors(production: None) -> None:
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert rows["twitter"]["configured"] is False
    assert rows["twitter"]["missing_settings"] == ["CLIENTNEST_TWITTER_CLIENT_ID"]
    assert rows["facebook"]["missing_settings"] == ["CLIENTNEST_FACEBOOK_APP_ID (connecting accounts)",
                                                    "CLIENTNEST_FACEBOOK_APP_SECRET (connecting accounts)"]
    assert rows["linkedin"]["missing_settings"] == ["CLIENTNEST_LINKEDIN_CLIENT_ID (connecting accounts)",
                                                    "CLIENTNEST_LINKEDIN_CLIENT_SECRET (connecting accounts)"]
    table = CliRunner().invoke(cli, ["plugins"]).output.splitlines()
    at = next(i for i, line in enumerate(table) if line.startswith("twitter"))
    assert "not configured" in table[at] and "enabled" not in table[at]
    assert table[at + 1].split() == ["set:", "CLIENTNEST_TWITTER_CLIENT_ID"]


def test_a_configured_connector_shows_enabled(production: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLIENTNEST_TWITTER_CLIENT_ID", "abc")
    rows = {r["name"]: r for r in json.loads(CliRunner().invoke(cli, ["plugins", "--json"]).output)}
    assert rows["twitter"]["configured"] is True and rows["twitter"]["missing_settings"] == []


def test_sandbox_mode_needs_no_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLIENTNEST_SANDBOX", "1")
    rows = json.loads(CliRunner().invoke(cli, ["plugins", "--json"]).output)
    connectors = [r for r in rows if r["kind"] == "connector"]
    assert connectors and all(r["missing_settings"] == [] for r in connectors), rows


def test_sandbox_prints_settings_a_shell_takes_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    import werkzeug.serving

    monkeypatch.setattr(werkzeug.serving, "run_simple", lambda *a, **kw: None)
    result = CliRunner().invoke(cli, ["sandbox", "--port", "8901"])
    assert result.exit_code == 0, result.output
    [scopes] = [line.strip() for line in result.output.splitlines() if "CLIENTNEST_LINKEDIN_SCOPES=" in line]
    # what a POSIX shell makes of the pasted line: one assignment, every scope kept
    [assignment] = shlex.split(scopes)
    name, _, value = assignment.partition("=")
    assert name == "CLIENTNEST_LINKEDIN_SCOPES" and value.split()[:2] == ["openid", "profile"]
    assert "r_member_social" in value.split()


def test_a_missing_fernet_key_is_one_clear_line(tmp_path: Any) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTNEST_")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path}/x.db", REDIS_URL="redis://127.0.0.1:6379/9")
    proc = subprocess.run([sys.executable, "-c", "from clientnest.cli import main; main()", "rotate-keys"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("clientnest: configuration error: CLIENTNEST_FERNET_KEYS must be set")
    assert "Fernet.generate_key()" in line
