"""Generated requests against the embedded server: schemathesis, every operation.

Starts ``clientnest run`` on a free port with a fresh data folder (SQLite,
in-process jobs, sandboxes), registers a user (a token and a workspace) so
that the workspace routes get past authentication, runs schemathesis with
the checks below and a bounded number of examples, and stops the server.
Exits non-zero on any finding. Run by ``.ci/run``; by hand::

    .venv/bin/python tests/fuzz/run_schemathesis.py [--max-examples N] [--seed S]

Not collected by pytest (no ``test_`` prefix): it starts a real server.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _call(base: str, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    request = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode())
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own server on loopback
        return json.loads(response.read() or b"null")


def _wait_ready(base: str, server: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"clientnest run exited with {server.returncode}:\n{log.read_text()}")
        try:
            _call(base, "GET", "/healthz")
            return
        except OSError:
            time.sleep(0.5)
    sys.exit(f"clientnest run did not answer within {timeout:.0f} s:\n{log.read_text()}")


def _seed(base: str) -> dict[str, Any]:
    """What the workspace routes need to find: a user with a workspace, an X
    account connected through the sandbox's OAuth, a draft post on it, a
    second member, and a spare token for the token-deleting route to find
    (so that it never deletes the token the run sends)."""
    password = f"fuzz-{uuid.uuid4().hex}"  # not a common password

    def register(name: str) -> dict[str, Any]:
        # 202 whatever the e-mail (it tells no one who has an account); sign in next
        email = f"fuzz-{name}-{uuid.uuid4().hex[:8]}@example.com"
        _call(base, "POST", "/api/v1/auth/register",
              {"email": email, "password": password, "workspace_name": name, "name": name})
        token = _call(base, "POST", "/api/v1/auth/tokens", {"email": email, "password": password, "label": "fuzz"})
        me = _call(base, "GET", "/api/v1/me", None, token["token"])
        return {"email": email, "token": token["token"], "me": me}

    owner, other = register("owner"), register("editor")
    token, wid = owner["token"], owner["me"]["workspaces"][0]["id"]
    spare = _call(base, "POST", "/api/v1/auth/tokens", {"email": owner["email"], "password": password, "label": "spare"})
    _call(base, "POST", f"/api/v1/workspaces/{wid}/members", {"email": other["email"], "role": "editor"}, token)
    start = _call(base, "POST", f"/api/v1/workspaces/{wid}/accounts/connect", {"platform": "twitter"}, token)
    # the sandbox approves at once and sends the browser to the callback, which
    # stores the account; the binding header stands for the browser's cookie
    # (urllib carries it across the redirect)
    approve = urllib.request.Request(start["authorization_url"],
                                     headers={"X-ClientNest-OAuth-Binding": start["binding"]})
    with urllib.request.urlopen(approve, timeout=30) as response:  # noqa: S310 - loopback
        account = json.loads(response.read())["accounts"][0]
    post = _call(base, "POST", f"/api/v1/workspaces/{wid}/posts",
                 {"account_ids": [account["id"]], "text": "hello from the fuzz run"}, token)
    return {"token": token, "wid": wid, "spare_token_id": spare["id"], "uid": other["me"]["user"]["id"],
            "aid": account["id"], "pid": post["id"]}


def _config(seed: dict[str, Any]) -> str:
    # Fixed path parameters, so that the routes reach their logic rather than
    # a 404: the seeded rows, a connected platform, and a token that is not
    # the one the run sends.
    return "\n".join([
        "[parameters]",
        f'"path.wid" = {seed["wid"]}',
        f'"path.aid" = {seed["aid"]}',
        f'"path.pid" = {seed["pid"]}',
        f'"path.uid" = {seed["uid"]}',
        f'"path.token_id" = {seed["spare_token_id"]}',
        '"path.platform" = "twitter"',
        '"path.name" = "twitter"',
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=int(os.environ.get("CLIENTNEST_FUZZ_EXAMPLES", "10")))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("CLIENTNEST_FUZZ_SEED", "20261202")))
    # one worker: schemathesis on CPython 3.11 can trip over its own source (an AST
    # recursion error in a worker thread), which is a tool error, not a finding
    parser.add_argument("--workers", default=os.environ.get("CLIENTNEST_FUZZ_WORKERS", "1"))
    parser.add_argument("extra", nargs="*", help="more schemathesis options (after --)")
    args = parser.parse_args(argv)

    bindir = Path(sys.executable).parent
    clientnest = shutil.which("clientnest", path=str(bindir)) or "clientnest"
    schemathesis = shutil.which("schemathesis", path=str(bindir)) or "schemathesis"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    workdir = Path(tempfile.mkdtemp(prefix="clientnest-fuzz-"))
    log = workdir / "server.log"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CLIENTNEST_") and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(CLIENTNEST_DATA_DIR=str(workdir / "var"), CLIENTNEST_LOG_LEVEL="WARNING")

    started = time.monotonic()
    code, output = 1, []
    with log.open("wb") as out:
        server = subprocess.Popen([clientnest, "run", "--host", "127.0.0.1", "--port", str(port)],
                                  stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        _wait_ready(base, server, log)
        seed = _seed(base)
        config = workdir / "schemathesis.toml"
        config.write_text(_config(seed))
        command = [
            schemathesis, "--config-file", str(config), "run", f"{base}/api/v1/openapi.json",
            "--checks", CHECKS,
            "--header", f"Authorization: Bearer {seed['token']}",
            "--max-examples", str(args.max_examples),
            "--seed", str(args.seed),
            "--workers", str(args.workers),
            "--request-timeout", "30",
            "--no-color",
            *args.extra,
        ]
        print("$", " ".join("'Authorization: Bearer ***'" if "Bearer" in c else c for c in command), flush=True)
        run = subprocess.Popen(command, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, errors="replace")
        assert run.stdout is not None
        for line in run.stdout:
            sys.stdout.write(line)
            output.append(line)
        code = run.wait()
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    elapsed = time.monotonic() - started
    server_errors = [line for line in log.read_text(errors="replace").splitlines() if "unhandled error" in line]
    print(f"exit {code} in {elapsed:.0f} s; server log {log} ({len(server_errors)} unhandled errors logged)")
    # the closing line CI reads: test cases passed and failed (schemathesis's
    # own summary looks like a pytest run that ran nothing)
    cases = re.search(r"(\d+) generated, (\d+) passed(?:, (\d+) failed)?", "".join(output))
    passed, failed = (int(cases.group(2)), int(cases.group(3) or 0)) if cases else (0, 0)
    failed = failed or (1 if code or server_errors else 0)  # an error that is not a failed case counts too
    print(f"schemathesis: {passed} passed, {failed} failed")
    if code == 0 and not server_errors:
        shutil.rmtree(workdir, ignore_errors=True)
    return code or (1 if server_errors else 0)


if __name__ == "__main__":
    sys.exit(main())
