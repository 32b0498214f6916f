"""Request bodies have a size per kind of route (api/body_limits.py): JSON
routes and webhooks a small one, refused with 413 before the body is read;
media uploads the large one, streamed to a temporary file."""
from __future__ import annotations

import io
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder, run_wsgi_app

from clientnest.services import media as media_svc
from clientnest.settings import load_settings

MiB = 1024 * 1024


class CountingBody(io.RawIOBase):
    """A request body of ``size`` spaces that counts what the app reads."""

    def __init__(self, size: int, prefix: bytes = b"") -> None:
        self.size, self.prefix, self.pos, self.consumed = size, prefix, 0, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:  # the test client measures the stream; that reads nothing
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.pos = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence] + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buf: Any) -> int:
        n = max(0, min(len(buf), self.size - self.pos))
        chunk = bytearray(b" " * n)
        head = self.prefix[self.pos:self.pos + n]
        chunk[:len(head)] = head
        buf[:n] = chunk
        self.pos += n
        self.consumed += n
        return n


def _post(client: Any, url: str, body: CountingBody, *, declared: bool = True, **headers: str) -> Any:
    builder = EnvironBuilder(path=url, method="POST", input_stream=body, content_type="application/json",
                             headers=headers, content_length=body.size)
    environ = builder.get_environ()
    if not declared:
        # a chunked body, as a WSGI server hands it over: no length, and the
        # server marks the stream as ending by itself
        del environ["CONTENT_LENGTH"]
        environ["wsgi.input_terminated"] = True
    # straight to the app: the test client would measure the stream and declare it
    body_iter, status, resp_headers = run_wsgi_app(client.application, environ, buffered=True)
    return client.application.response_class(b"".join(body_iter), status=status, headers=resp_headers)


def test_settings_default_and_env() -> None:
    s = load_settings(env={})
    assert (s.json_max_bytes, s.webhook_max_bytes, s.media_max_bytes) == (MiB, MiB, 512 * MiB)
    s = load_settings(env={"CLIENTNEST_JSON_MAX_BYTES": "2048", "CLIENTNEST_WEBHOOK_MAX_BYTES": "4096"})
    assert (s.json_max_bytes, s.webhook_max_bytes) == (2048, 4096)


def test_oversized_json_is_refused_unread(client: Any) -> None:
    """The report: 180 MB to the token route (no login needed) grew the
    server by 4.4 GB. Now: 413 with a JSON error, and not one byte read."""
    body = CountingBody(180 * MiB)
    r = _post(client, "/api/v1/auth/tokens", body)
    assert r.status_code == 413
    err = r.get_json()
    assert err["code"] == 413 and "at most 1 MiB" in err["message"] and str(180 * MiB) in err["message"]
    assert r.headers["Connection"] == "close"  # the server must not read it to reuse the connection
    assert body.consumed == 0


def test_json_under_the_limit_is_read_and_validated(client: Any) -> None:
    body = CountingBody(MiB - 100, prefix=b'{"email": "a@example.com", "password": "x"')
    r = _post(client, "/api/v1/auth/tokens", body)
    assert r.status_code != 413  # read and refused for what it says (unterminated JSON: 400/422)
    assert body.consumed == MiB - 100


def test_chunked_json_is_cut_off_at_the_limit(client: Any) -> None:
    body = CountingBody(50 * MiB, prefix=b'{"email": "')
    r = _post(client, "/api/v1/auth/tokens", body, declared=False)
    assert r.status_code == 413 and r.get_json()["code"] == 413, r.get_json()
    assert "at most 1 MiB" in r.get_json()["message"] and r.headers["Connection"] == "close"
    assert body.consumed == MiB + 1  # up to the byte past the limit, not the rest
    # a chunked body within the limit is read whole and parsed
    ok = CountingBody(2000, prefix=b'{"email": "a@example.com", "password": "wrong password"}')
    r = _post(client, "/api/v1/auth/tokens", ok, declared=False)
    # parsed as JSON (then refused for what it says, whatever the schema asks)
    assert r.status_code not in (400, 413) and ok.consumed == 2000, r.get_json()


def test_setting_changes_the_json_limit(app: Any, client: Any, runtime: Any) -> None:
    from dataclasses import replace

    runtime.settings = replace(runtime.settings, json_max_bytes=1000)
    body = CountingBody(1001)
    r = _post(client, "/api/v1/auth/tokens", body)
    assert r.status_code == 413 and "at most 1000 bytes" in r.get_json()["message"] and body.consumed == 0


def test_oversized_webhook_is_refused_unread(client: Any) -> None:
    body = CountingBody(5 * MiB)
    r = _post(client, "/api/v1/webhooks/instagram", body, **{"X-Hub-Signature-256": "sha256=00"})
    assert r.status_code == 413 and body.consumed == 0
    assert "at most 1 MiB" in r.get_json()["message"]


def test_uploads_keep_the_large_limit_and_go_to_disk(client: Any, register: Any, runtime: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    m = register()
    url = f"/api/v1/workspaces/{m.workspace_id}/media"
    seen: list[Any] = []
    real = media_svc.upload_media

    def spy(session: Any, rt: Any, wid: int, uid: int, stream: Any, filename: str = "") -> Any:
        seen.append(stream)
        return real(session, rt, wid, uid, stream, filename)

    monkeypatch.setattr(media_svc, "upload_media", spy)
    # a 3 MiB video: over the JSON limit, well under the upload limit
    video = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(3 * MiB)
    r = client.post(url, data={"file": (io.BytesIO(video), "clip.mp4")}, headers=m.headers,
                    content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["size"] == len(video)
    # werkzeug spooled the file to a temporary file on disk as it was parsed
    (stream,) = seen
    assert getattr(stream, "_rolled", False) is True and not isinstance(stream._file, io.BytesIO)

    # over the upload limit: refused from the declared length, unread
    body = CountingBody(runtime.settings.media_max_bytes + MiB)
    r = client.post(url, input_stream=body, content_length=body.size, headers=m.headers,
                    content_type="multipart/form-data; boundary=x")
    assert r.status_code == 413 and body.consumed == 0
    assert "at most" in r.get_json()["message"]
