"""Fixtures of the Instagram plugin's tests: the recorded Graph responses, a
replay transport that answers with them, and the sandbox served over HTTP.
(A twin of the Facebook plugin's: the two distributions share no code.)"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from clientnest.testing.server import serve
from clientnest_instagram import InstagramConnector

# copies of ../shared/fixtures/real-api/instagram (responses the real Graph API sent), kept
# with the plugin so its tests never depend on a folder outside the repository
RECORDED = Path(__file__).resolve().parent / "recordings"
_DROP = {"content-encoding", "content-length", "connection", "transfer-encoding"}


def _recorded(rel: str) -> Any:
    """A recorded response body (JSON)."""
    path = RECORDED / rel
    return json.loads(path.read_text())


def _interaction(recording: str, method: str, url_part: str, nth: int = 0) -> tuple[int, dict[str, str], Any]:
    """(status, headers, body) of a recorded superface interaction."""
    data = _recorded(f"superface_station/{recording}")
    hits = [i for i in data["interactions"] if i["method"] == method and url_part in i["url"]]
    assert len(hits) > nth, f"no recorded {method} {url_part} in {recording}"
    it = hits[nth]
    headers = {k: v for k, v in it["response_headers"] if k.lower() not in _DROP}
    return it["status"], headers, it["response_body"]


@dataclass
class Replay:
    """An httpx transport answering from a list of (method, path pattern) routes.

    Each route answers once unless ``repeat``; every request is kept in
    :attr:`requests` so tests can check what the connector sent.
    """

    routes: list[dict[str, Any]] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    def add(self, method: str, path: str, body: Any = None, *, status: int = 200,
            headers: dict[str, str] | None = None, repeat: bool = False,
            when: Callable[[httpx.Request], bool] | None = None,
            raise_: Exception | None = None, raw: bytes | None = None) -> Replay:
        self.routes.append({"method": method, "path": re.compile(path + "$"), "body": body, "status": status,
                            "headers": headers or {}, "repeat": repeat, "when": when, "raise": raise_, "raw": raw})
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        for route in self.routes:
            if route["method"] != request.method or not route["path"].search(request.url.path):
                continue
            if route["when"] is not None and not route["when"](request):
                continue
            if not route["repeat"]:
                self.routes.remove(route)
            if route["raise"] is not None:
                raise route["raise"]
            content = route["raw"] if route["raw"] is not None else json.dumps(route["body"]).encode()
            headers = {"content-type": "application/json; charset=UTF-8", **route["headers"]}
            return httpx.Response(route["status"], headers=headers, content=content, request=request)
        raise AssertionError(f"unexpected request {request.method} {request.url}")

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def form(self, i: int) -> dict[str, str]:
        """The form body (or query) of the i-th request, flattened."""
        req = self.requests[i]
        body = req.content.decode() if req.content else ""
        data = {k: v[0] for k, v in parse_qs(body).items()} if "=" in body and "\r\n" not in body else {}
        data.update({k: v[0] for k, v in parse_qs(urlparse(str(req.url)).query).items()})
        return data


@pytest.fixture
def recorded() -> Callable[[str], Any]:
    """``recorded("pyfacebook_apidata/publish/create_photo.json")``: a recorded body."""
    return _recorded


@pytest.fixture
def interaction() -> Callable[..., tuple[int, dict[str, str], Any]]:
    """``interaction(recording, method, url_part, nth=0)``: a superface (status, headers, body)."""
    return _interaction


@pytest.fixture
def replay() -> Replay:
    return Replay()


@pytest.fixture
def replay_connector(replay: Replay) -> Iterator[InstagramConnector]:
    connector = InstagramConnector({
        "app_id": "1234567890", "app_secret": "app-secret", "graph_version": "v14.0",
        "api_base": "https://graph.facebook.com", "poll_interval": 0.0, "poll_timeout": 5.0,
    }, transport=replay.transport(), sleep=lambda _s: None)
    yield connector
    connector.close()


@pytest.fixture
def sandbox() -> Any:
    return InstagramConnector.sandbox()


@pytest.fixture
def sandbox_url(sandbox: Any) -> Iterator[str]:
    with serve(sandbox) as url:
        yield url


@pytest.fixture
def connector(sandbox_url: str) -> Iterator[InstagramConnector]:
    c = InstagramConnector(InstagramConnector.sandbox_config(sandbox_url))
    yield c
    c.close()


# -- media the sandbox downloads ----------------------------------------------------------------

#: a small JPEG (SOI, APP0 JFIF header) and an MP4 (ftyp box): the sandbox
#: checks only that the bytes are a photo or a video, as its errors say
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(200) + b"\xff\xd9"
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00\x00\x04\x08mdat" + bytes(1024)


class MediaHost:
    """Serves ``*.jpg`` as JPEG and ``*.mp4`` as MP4, ``*.html`` as a web
    page; anything else is 404. Counts the downloads by path."""

    jpeg, mp4 = JPEG, MP4

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        self.hits[path] = self.hits.get(path, 0) + 1
        for suffix, ctype, body in ((".jpg", "image/jpeg", JPEG), (".mp4", "video/mp4", MP4),
                                    (".html", "text/html", b"<!doctype html><p>not a photo</p>")):
            if path.endswith(suffix) and "missing" not in path:
                start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body)))])
                return [body]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]


@pytest.fixture
def media_host() -> Iterator[tuple[str, MediaHost]]:
    host = MediaHost()
    with serve(host) as url:
        yield url, host


@pytest.fixture
def media_url(media_host: tuple[str, MediaHost]) -> str:
    """Base URL of a host the sandbox can download media from."""
    return media_host[0]
