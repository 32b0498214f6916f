"""A partner's path: generate a plugin from the template, install it, see it
in the plugin host and in ``clientnest plugins``, and run the kit on it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from clientnest.testing.template import create_connector_plugin, main

PY = sys.executable


def _run(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=600, **kw)  # type: ignore[call-overload]


def test_names_are_checked(tmp_path: Path) -> None:
    for bad in ("Acme", "1acme", "a", "acme-social", "x" * 31):
        with pytest.raises(ValueError, match="name"):
            create_connector_plugin(bad, tmp_path)
    create_connector_plugin("acme", tmp_path)
    with pytest.raises(ValueError, match="already exists"):
        create_connector_plugin("acme", tmp_path)


def test_the_generated_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["acme_social", "--dest", str(tmp_path), "--display-name", "Acme Social"]) == 0
    root = tmp_path / "clientnest-acme-social"
    assert str(root) in capsys.readouterr().out
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == [
        "README.md", "clientnest_acme_social/__init__.py", "clientnest_acme_social/connector.py",
        "clientnest_acme_social/errors.py", "clientnest_acme_social/sandbox.py", "pyproject.toml", "setup.cfg",
        "tests/test_conformance.py",
    ]
    setup = (root / "setup.cfg").read_text()
    assert "name = clientnest-acme-social" in setup and "acme_social = clientnest_acme_social" in setup
    connector = (root / "clientnest_acme_social" / "connector.py").read_text()
    assert "class AcmeSocialConnector(SocialConnector)" in connector and 'display_name = "Acme Social"' in connector
    for path in root.rglob("*.py"):
        compile(path.read_text(), str(path), "exec")  # every generated module is valid Python
    assert "$" not in "".join(p.read_text() for p in root.rglob("*") if p.is_file())


def test_generate_install_discover_and_pass_the_kit(tmp_path: Path) -> None:
    name = f"kitdemo_{uuid.uuid4().hex[:6]}"
    root = create_connector_plugin(name, tmp_path, display_name="Kit Demo")
    dist = root.name
    env = {k: v for k, v in os.environ.items() if not k.startswith(f"CLIENTNEST_{name.upper()}_")}
    installed = _run([PY, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "-e", str(root)])
    assert installed.returncode == 0, installed.stderr
    try:
        # a fresh interpreter finds it through its entry point
        listing = _run([PY, "-c", (
            "import json; from clientnest.plugins import build_plugin_host; from clientnest.settings import Settings;"
            f"h = build_plugin_host(Settings(plugins=({name!r},), sandbox=False));"
            f"print(json.dumps({{'platforms': h.platforms(), 'info': h.plugins[{name!r}].to_json()}}))")], env=env)
        assert listing.returncode == 0, listing.stderr
        found = json.loads(listing.stdout)
        assert found["platforms"] == [name]
        assert found["info"]["distribution"] == dist and found["info"]["kind"] == "connector"
        assert found["info"]["enabled"] and found["info"]["error"] is None
        cli = _run([PY, "-c", "from clientnest.cli import main; main()", "plugins", "--json"], env=env)
        assert cli.returncode == 0, cli.stderr
        row = next(r for r in json.loads(cli.stdout) if r["name"] == name)
        assert row["platforms"] == [name] and row["version"] == "0.1.0" and row["enabled"]
        # the kit, run the way the partner runs it
        kit = _run([PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--import-mode=importlib", "-rs",
                    str(root / "tests")], cwd=root, env=env)
        assert kit.returncode == 0, kit.stdout[-3000:] + kit.stderr[-2000:]
        summary = kit.stdout.strip().splitlines()[-1]
        assert " passed" in summary and "failed" not in summary and "error" not in summary
        assert int(summary.split(" passed")[0].split()[-1]) >= 20
    finally:
        removed = _run([PY, "-m", "pip", "uninstall", "--quiet", "--yes", dist])
        assert removed.returncode == 0, removed.stderr
    gone = _run([PY, "-c", f"import importlib.metadata as m; print([e.name for e in m.entry_points(group='clientnest')])"])
    assert name not in gone.stdout


def test_cli_command(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from clientnest.cli import cli

    result = CliRunner().invoke(cli, ["new-connector", "acme", "--dest", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "clientnest-acme" / "clientnest_acme" / "sandbox.py").is_file()
    again = CliRunner().invoke(cli, ["new-connector", "acme", "--dest", str(tmp_path)])
    assert again.exit_code != 0 and "already exists" in again.output
