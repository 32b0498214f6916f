"""Access log lines never keep OAuth codes, states, client secrets or tokens."""
from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from clientnest.accesslog import REDACTED, GunicornLogger, RedactingFilter, redact
from clientnest.testing.server import serve

SECRETS = {
    "code": "c0de-value", "state": "st4te-value", "client_secret": "cl1ent-secret",
    "access_token": "acc3ss", "refresh_token": "refr3sh", "token": "t0ken", "password": "p4ss",
    "code_verifier": "ver1fier",
}


def _query() -> str:
    return "&".join(f"{k}={v}" for k, v in SECRETS.items()) + "&scope=tweet.read&page=2"


def test_redact_keeps_names_and_harmless_parameters() -> None:
    line = f'127.0.0.1 - - "GET /api/v1/oauth/twitter/callback?{_query()} HTTP/1.1" 201 -'
    out = redact(line)
    for value in SECRETS.values():
        assert value not in out
    assert f"code={REDACTED}" in out and f"client_secret={REDACTED}" in out
    assert "scope=tweet.read&page=2" in out and out.startswith("127.0.0.1") and out.endswith("201 -")
    # names compared without case or percent-encoding; a longer name is not a shorter one
    assert redact("/x?Client%5FSecret=abc&my_token_count=3") == f"/x?Client%5FSecret={REDACTED}&my_token_count=3"
    assert redact("no query here: a=b") == "no query here: a=b"


def test_werkzeug_request_log_is_redacted_under_clientnest_commands(caplog: pytest.LogCaptureFixture) -> None:
    from clientnest.cli import cli

    # any clientnest command installs the filter (the group runs first)
    assert CliRunner().invoke(cli, ["plugins", "--json"]).exit_code == 0

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    caplog.set_level(logging.INFO, logger="werkzeug")
    with serve(app) as url:
        assert httpx.get(f"{url}/sandbox/facebook/oauth/access_token?{_query()}").status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any("/sandbox/facebook/oauth/access_token?" in l for l in lines), lines
    text = "\n".join(lines)
    for value in SECRETS.values():
        assert value not in text, text
    assert f"state={REDACTED}" in text


def test_gunicorn_logger_redacts_access_and_error_lines(caplog: pytest.LogCaptureFixture) -> None:
    from gunicorn.config import Config

    logger = GunicornLogger(Config())
    assert any(isinstance(f, RedactingFilter) for f in logger.access_log.filters)
    caplog.set_level(logging.INFO)
    logger.access_log.propagate = True
    logger.access_log.info('%(h)s "%(r)s" %(s)s', {"h": "10.0.0.1", "r": f"GET /cb?{_query()} HTTP/1.1", "s": "201"})
    logger.error_log.propagate = True
    logger.error_log.warning("Invalid request from ip=10.0.0.1: /cb?code=%s", SECRETS["code"])
    text = "\n".join(r.getMessage() for r in caplog.records)
    for value in SECRETS.values():
        assert value not in text, text
    assert '10.0.0.1 "GET /cb?code=[redacted]' in text


def test_httpx_request_lines_are_redacted_under_clientnest_commands(caplog: pytest.LogCaptureFixture) -> None:
    """Connectors call platforms with httpx, which logs each request's URL at INFO
    (a token exchange may carry client_secret in its query)."""
    from clientnest.cli import cli

    assert CliRunner().invoke(cli, ["plugins", "--json"]).exit_code == 0

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    caplog.set_level(logging.INFO, logger="httpx")
    with serve(app) as url:
        assert httpx.get(f"{url}/oauth/access_token?{_query()}").status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert any("/oauth/access_token?" in l for l in lines), lines
    for value in SECRETS.values():
        assert value not in "\n".join(lines)
