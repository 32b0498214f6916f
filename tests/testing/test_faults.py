"""The sandbox control interface shared by every connector sandbox."""
from __future__ import annotations

from typing import Any

import httpx
import pytest
from werkzeug.wrappers import Request, Response

from clientnest.testing.faults import Fault, FaultSet, SandboxControl, close_connection
from clientnest.testing.server import serve


@pytest.mark.parametrize(
    ("spec", "kind", "status"),
    [
        ({"status": 429}, "rate_limit", 429),
        ({"status": 503}, "unavailable", 503),
        ({"status": 401}, "expired_token", 401),
        ({"status": 502}, "server_error", 502),
        ({"kind": "server_error"}, "server_error", 500),
        ({"kind": "slow", "delay": 1.5}, "slow", None),
    ],
)
def test_fault_from_json(spec: dict[str, Any], kind: str, status: int | None) -> None:
    fault = Fault.from_json(spec)
    assert (fault.kind, fault.status) == (kind, status)
    assert fault.times == 1 and fault.retry_after == 60


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({}, "kind"),
        ({"kind": "meteor"}, "kind"),
        ({"status": 418}, "status"),
        ({"status": "500"}, "status"),
        ({"kind": "server_error", "status": 404}, "status"),
        ({"kind": "slow", "delay": -1}, "delay"),
        ({"status": 429, "times": "x"}, "times"),
        ({"status": 429, "path": "2/tweets"}, "path"),
        ({"status": 429, "colour": "red"}, "unknown field"),
        ({"kind": "slow", "publish": "yes"}, "publish"),
    ],
)
def test_bad_faults_name_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Fault.from_json(spec)


def test_take_matches_method_path_and_counts_down() -> None:
    faults = FaultSet()
    faults.arm(status=500, method="post", path="/2/tweets", times=2)
    dup = faults.arm(kind="duplicate")
    forever = Fault.from_json({"status": 503, "path": "/v1/", "times": 0})
    faults.add(forever)
    assert faults.take("GET", "/2/tweets") is None  # another method
    assert faults.take("POST", "/2/tweets").status == 500
    assert faults.take("POST", "/2/tweets/x").status == 500
    # used up; the duplicate waits for a publish request
    assert faults.take("POST", "/2/tweets") is None
    assert faults.take("POST", "/2/tweets", publish=True) is dup
    for _ in range(3):
        assert faults.take("GET", "/v1/me") is forever
    assert dup.publish is True
    assert faults.list() == [forever]
    faults.clear()
    assert faults.list() == []


class _Platform:
    def __init__(self) -> None:
        self.faults = FaultSet()
        self.resets = 0
        self.comments: list[tuple[str, str, str | None]] = []
        self.control = SandboxControl(self.faults, reset=self.reset, add_comment=self.add_comment)

    def reset(self) -> None:
        self.resets += 1

    def add_comment(self, post_id: str, text: str, reply_to: str | None) -> str:
        if post_id != "p1":
            raise KeyError(post_id)
        self.comments.append((post_id, text, reply_to))
        return f"c{len(self.comments)}"

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if SandboxControl.is_control(request.path):
            return self.control.dispatch(request)(environ, start_response)
        fault = self.faults.take(request.method, request.path)
        if fault and fault.kind == "disconnect":
            close_connection(environ)
        status = 503 if fault else 200
        return Response("ok", status=status)(environ, start_response)


def test_control_routes_over_http() -> None:
    platform = _Platform()
    with serve(platform) as url, httpx.Client(base_url=url) as http:
        armed = http.post("/_sandbox/faults", json={"status": 503, "retry_after": 5})
        assert armed.status_code == 201 and armed.json()["kind"] == "unavailable"
        assert http.get("/_sandbox/faults").json()["faults"][0]["id"] == armed.json()["id"]
        assert http.get("/api").status_code == 503
        assert http.get("/api").status_code == 200
        bad = http.post("/_sandbox/faults", json={"kind": "meteor"})
        assert bad.status_code == 400 and "kind" in bad.json()["error"]
        assert http.post("/_sandbox/faults", content=b"{not json", headers={"content-type": "application/json"}).status_code == 400
        http.post("/_sandbox/faults", json={"status": 500, "times": 0})
        assert http.delete("/_sandbox/faults").status_code == 204
        assert http.get("/api").status_code == 200
        assert http.post("/_sandbox/reset", json={}).status_code == 204 and platform.resets == 1
        made = http.post("/_sandbox/comments", json={"post_id": "p1", "text": "hi", "reply_to": "c0"})
        assert made.status_code == 201 and made.json() == {"id": "c1"}
        assert platform.comments == [("p1", "hi", "c0")]
        assert http.post("/_sandbox/comments", json={"post_id": "nope", "text": "hi"}).status_code == 404
        assert http.post("/_sandbox/comments", json={"post_id": "p1"}).status_code == 400
        # optional routes a sandbox did not provide say so
        assert "no metrics" in http.post("/_sandbox/metrics", json={"post_id": "p1", "metrics": {}}).json()["error"]
        assert http.post("/_sandbox/tokens", json={}).status_code == 404
        assert http.get("/_sandbox/nothing").status_code == 404
        assert http.put("/_sandbox/faults").status_code == 405


def test_disconnect_drops_the_connection() -> None:
    platform = _Platform()
    with serve(platform) as url, httpx.Client(base_url=url) as http:
        http.post("/_sandbox/faults", json={"kind": "disconnect"})
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            http.get("/api")
    assert close_connection({}) is False


def test_publish_faults_wait_for_the_publish_request() -> None:
    faults = FaultSet()
    slow = faults.arm(kind="disconnect", publish=True)
    assert faults.take("POST", "/oauth/token") is None
    assert faults.take("POST", "/v1/media") is None  # an upload is not the publish
    assert faults.take("POST", "/v1/media_publish", publish=True) is slow
    assert faults.list() == []
