"""Media uploads: the type is sniffed from the bytes, limits give JSON 413,
images are decoded (under a pixel limit read from the header) before they are accepted, the bytes are served at a public
unguessable URL; storage backends (local; S3 with an injected client, since
there is no network here and boto3 is not installed)."""
from __future__ import annotations

import io
import random
import struct
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from clientnest.errors import ConfigError
from clientnest.models import AuditEvent, Media, Membership, Post, PostMedia
from clientnest.services.media import detect_type, media_item
from clientnest.settings import Settings
from clientnest.storage import LocalStorage, S3Storage, StorageKeyError, build_storage, new_key, valid_key

IMAGE_LIMIT = 20_000
TOTAL_LIMIT = 200_000


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"media_max_image_bytes": IMAGE_LIMIT, "media_max_bytes": TOTAL_LIMIT}


def image(fmt: str, size: tuple[int, int] = (30, 20), noise: bool = False) -> bytes:
    mode = "P" if fmt == "GIF" else "RGB"
    img = Image.new(mode, size)
    if noise:
        img = Image.frombytes("RGB", size, random.Random(1).randbytes(size[0] * size[1] * 3))
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def video(brand: bytes = b"isom", width: int = 640, height: int = 360, pad: int = 0) -> bytes:
    """A minimal ISO-BMFF file: ftyp, moov/trak/tkhd (version 0) with the size, mdat."""
    tkhd = bytes(4) + bytes(20) + bytes(8) + bytes(8) + bytes(36) + struct.pack(">II", width << 16, height << 16)
    audio = box(b"trak", box(b"tkhd", bytes(4) + bytes(20 + 8 + 8 + 36) + struct.pack(">II", 0, 0)))
    moov = box(b"moov", box(b"mvhd", bytes(100)) + audio + box(b"trak", box(b"tkhd", tkhd)))
    return box(b"ftyp", brand + b"\x00\x00\x02\x00" + b"isomiso2") + moov + box(b"mdat", bytes(64 + pad))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (decompression bomb shape)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def upload(client: Any, m: Any, data: bytes, name: str = "upload.bin", content_type: str = "application/octet-stream",
           wid: int | None = None) -> Any:
    return client.post(f"/api/v1/workspaces/{wid or m.workspace_id}/media",
                       data={"file": (io.BytesIO(data), name, content_type)},
                       headers=m.headers, content_type="multipart/form-data")


def join(runtime: Any, user_id: int, wid: int, role: str) -> None:
    with runtime.db.transaction() as s:
        s.add(Membership(workspace_id=wid, user_id=user_id, role=role))


# -- sniffing ------------------------------------------------------------------------------


@pytest.mark.parametrize("data, expected", [
    (image("JPEG"), "image/jpeg"),
    (image("PNG"), "image/png"),
    (image("GIF"), "image/gif"),
    (image("WEBP"), "image/webp"),
    (video(b"isom"), "video/mp4"),
    (video(b"mp42"), "video/mp4"),
    (video(b"qt  "), "video/quicktime"),
    (video(b"heic"), "image/heic"),
    (video(b"zzzz"), "video/mp4"),  # unknown major brand, isom among the compatible ones
    (b"%PDF-1.7\n...", "application/pdf"),
    (b"PK\x03\x04rest", "application/zip"),
    (b"\x1a\x45\xdf\xa3webm", "video/webm"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml"),
    (b"<!DOCTYPE html><html>", "text/html"),
    (b"hello world", "application/octet-stream"),
])
def test_detect_type(data: bytes, expected: str) -> None:
    assert detect_type(data[:64]) == expected


# -- upload --------------------------------------------------------------------------------


@pytest.mark.parametrize("data, content_type, kind, dims", [
    (image("JPEG", (30, 20)), "image/jpeg", "image", (30, 20)),
    (image("PNG", (7, 9)), "image/png", "image", (7, 9)),
    (image("GIF", (5, 4)), "image/gif", "gif", (5, 4)),
    (image("WEBP", (16, 8)), "image/webp", "image", (16, 8)),
    (video(b"isom", 1280, 720), "video/mp4", "video", (1280, 720)),
    (video(b"qt  ", 1080, 1920), "video/quicktime", "video", (1080, 1920)),
])
def test_upload_and_public_url(client: Any, register: Any, runtime: Any, data: bytes, content_type: str,
                               kind: str, dims: tuple[int, int]) -> None:
    m = register()
    # the client's name and header lie; the bytes decide
    r = upload(client, m, data, name="evil.exe", content_type="text/html")
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["content_type"] == content_type and body["kind"] == kind
    assert (body["width"], body["height"]) == dims
    assert body["size"] == len(data) and body["original_name"] == "evil.exe"
    assert body["url"].startswith("http://testserver/media/")
    key = body["url"].removeprefix("http://testserver/media/")
    assert valid_key(key) and key.endswith({"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif",
                                            "image/webp": ".webp", "video/mp4": ".mp4",
                                            "video/quicktime": ".mov"}[content_type])
    # public: no token, since platforms fetch media by URL
    got = client.get(f"/media/{key}")
    assert got.status_code == 200 and got.data == data
    assert got.mimetype == content_type
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert (Path(runtime.settings.data_dir) / "media" / key).read_bytes() == data
    with runtime.db.session() as s:
        row = s.get(Media, body["id"])
        assert row.workspace_id == m.workspace_id and row.uploaded_by == m.user_id
        assert "media.uploaded" in s.scalars(select(AuditEvent.action)).all()


def test_public_url_supports_ranges_and_rejects_bad_keys(client: Any, register: Any) -> None:
    m = register()
    data = video(pad=1000)
    key = upload(client, m, data).get_json()["url"].removeprefix("http://testserver/media/")
    r = client.get(f"/media/{key}", headers={"Range": "bytes=0-7"})
    assert r.status_code == 206 and r.data == data[:8]
    for bad in ("../../etc/passwd", key[:-3] + "png", "ab/short.jpg", key.replace("/", "/../")):
        r = client.get(f"/media/{bad}")
        assert r.status_code == 404 and r.get_json()["message"] == "media not found"


@pytest.mark.parametrize("data, detected", [
    (b"%PDF-1.4 fake", "application/pdf"),
    (b"just some text", "application/octet-stream"),
    (video(b"heic"), "image/heic"),
    (b"<svg onload=alert(1)></svg>", "image/svg+xml"),
])
def test_unsupported_type_415_names_detected_type(client: Any, register: Any, runtime: Any,
                                                  data: bytes, detected: str) -> None:
    m = register()
    r = upload(client, m, data, name="photo.jpg", content_type="image/jpeg")
    assert r.status_code == 415
    body = r.get_json()
    assert detected in body["message"] and "image/jpeg" in body["message"]  # lists what is accepted
    assert body["errors"]["files"]["file"]
    with runtime.db.session() as s:
        assert s.scalars(select(Media)).all() == []
    assert not list((Path(runtime.settings.data_dir) / "media").rglob("*.*"))


def test_invalid_and_empty_and_missing(client: Any, register: Any) -> None:
    m = register()
    r = upload(client, m, b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    assert r.status_code == 422 and "not a valid image" in r.get_json()["message"]
    r = upload(client, m, b"\xff\xd8\xff" + b"\x00" * 40)
    assert r.status_code == 422 and "not a valid image" in r.get_json()["message"]
    r = upload(client, m, b"")
    assert r.status_code == 422 and "empty" in r.get_json()["message"]
    r = client.post(f"/api/v1/workspaces/{m.workspace_id}/media", data={"other": "x"}, headers=m.headers,
                    content_type="multipart/form-data")
    assert r.status_code == 422 and "file" in r.get_json()["message"]


def test_decompression_bombs_are_refused_without_decoding(client: Any, register: Any, runtime: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from clientnest.services import media as svc

    runtime.settings = replace(runtime.settings, media_max_image_bytes=TOTAL_LIMIT)  # the bomb is 62 KB
    decoded: list[Any] = []
    monkeypatch.setattr(svc, "_decode_all", lambda img, limit: decoded.append(img))
    m = register()
    r = upload(client, m, png_header_only(100_000, 100_000))  # Pillow's hard limit
    assert r.status_code == 422 and "image refused" in r.get_json()["message"]
    # the report's two: a 69-byte PNG claiming 9000 x 9000, an 8000 x 8000 bomb
    tiny = png_header_only(9000, 9000)
    assert len(tiny) < 100
    for data, dims in ((tiny, "9000x9000"), (bomb_png(8000, 8000), "8000x8000")):
        r = upload(client, m, data)
        assert r.status_code == 422, r.get_json()
        assert r.get_json()["message"] == f"image is {dims} pixels; at most 50000000 pixels are accepted"
        assert r.get_json()["errors"]["files"]["file"]
    assert decoded == []  # refused from the header, nothing decoded


def bomb_png(width: int, height: int) -> bytes:
    """A real, complete PNG of ``width`` x ``height`` black pixels (compresses ~1000:1)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    z = zlib.compressobj(9)
    row = b"\x00" * (1 + width)  # filter byte + one grey byte a pixel
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_images_are_decoded_before_they_are_accepted(client: Any, register: Any, runtime: Any) -> None:
    m = register()
    # under the pixel limit, but the header lies about the data behind it
    r = upload(client, m, png_header_only(2000, 2000))
    assert r.status_code == 422 and r.get_json()["errors"]["files"]["file"]
    assert "cannot be decoded" in r.get_json()["message"]
    jpeg = image("JPEG", (200, 150), noise=True)
    for cut in (jpeg[: len(jpeg) // 2], jpeg[:-200]):  # truncated JPEGs
        r = upload(client, m, cut)
        assert r.status_code == 422 and "cannot be decoded" in r.get_json()["message"], r.get_json()
    gif = io.BytesIO()
    frames = [Image.new("L", (40, 30), i * 80) for i in range(3)]
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:])
    r = upload(client, m, gif.getvalue()[:-30])  # the last frame cut short
    assert r.status_code == 422 and "cannot be decoded" in r.get_json()["message"], r.get_json()
    # whole files of each kind are fine, animation included
    assert upload(client, m, gif.getvalue()).status_code == 201
    assert upload(client, m, jpeg).status_code == 201
    assert upload(client, m, bomb_png(1000, 1000)).status_code == 201
    with runtime.db.session() as s:
        assert len(s.scalars(select(Media)).all()) == 3


def test_pixel_limit_is_a_setting(client: Any, register: Any, runtime: Any) -> None:
    from dataclasses import replace

    m = register()
    runtime.settings = replace(runtime.settings, media_max_image_pixels=999)
    r = upload(client, m, image("PNG", (100, 10)))
    assert r.status_code == 422 and r.get_json()["message"] == "image is 100x10 pixels; at most 999 pixels are accepted"
    gif = io.BytesIO()  # frames of an animation count against a budget of 10x the limit
    frames = [Image.new("L", (30, 30), i * 15) for i in range(13)]
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], duration=50)
    r = upload(client, m, gif.getvalue())
    assert r.status_code == 422 and "too many frames" in r.get_json()["message"], r.get_json()
    assert upload(client, m, image("PNG", (30, 30))).status_code == 201


def test_size_limits_give_json_413(client: Any, register: Any, runtime: Any) -> None:
    m = register()
    big_png = image("PNG", (120, 120), noise=True)
    assert IMAGE_LIMIT < len(big_png) < TOTAL_LIMIT
    r = upload(client, m, big_png)
    assert r.status_code == 413
    assert r.get_json()["code"] == 413 and "images may be at most" in r.get_json()["message"]
    # a video of the same size is fine: only the overall limit applies to it
    assert upload(client, m, video(pad=len(big_png))).status_code == 201
    r = upload(client, m, video(pad=TOTAL_LIMIT))
    assert r.status_code == 413
    assert r.get_json()["code"] == 413 and r.get_json()["message"]
    with runtime.db.session() as s:
        assert len(s.scalars(select(Media)).all()) == 1


# -- roles, listing, deleting -----------------------------------------------------------------


def test_upload_roles(client: Any, register: Any, runtime: Any) -> None:
    owner, stranger = register(), register()
    png = image("PNG")
    assert client.post(f"/api/v1/workspaces/{owner.workspace_id}/media",
                       data={"file": (io.BytesIO(png), "a.png")}, content_type="multipart/form-data").status_code == 401
    assert upload(client, stranger, png, wid=owner.workspace_id).status_code == 404
    for role, code in (("viewer", 403), ("editor", 201), ("admin", 201)):
        m = register()
        join(runtime, m.user_id, owner.workspace_id, role)
        assert upload(client, m, png, wid=owner.workspace_id).status_code == code, role


def test_list_get_delete(client: Any, register: Any, runtime: Any) -> None:
    owner, stranger, viewer, editor = register(), register(), register(), register()
    join(runtime, viewer.user_id, owner.workspace_id, "viewer")
    join(runtime, editor.user_id, owner.workspace_id, "editor")
    ids = [upload(client, owner, image("PNG", (i + 1, i + 1))).get_json()["id"] for i in range(3)]
    base = f"/api/v1/workspaces/{owner.workspace_id}/media"

    r = client.get(base, headers=viewer.headers)
    assert r.status_code == 200 and [x["id"] for x in r.get_json()] == ids[::-1]
    page = client.get(base, query_string={"limit": 2}, headers=viewer.headers).get_json()
    assert [x["id"] for x in page] == [ids[2], ids[1]]
    rest = client.get(base, query_string={"limit": 2, "before": page[-1]["id"]}, headers=viewer.headers).get_json()
    assert [x["id"] for x in rest] == [ids[0]]
    r = client.get(base, query_string={"limit": 0}, headers=viewer.headers)
    assert r.status_code == 422 and "limit" in r.get_json()["message"]
    one = client.get(f"{base}/{ids[0]}", headers=viewer.headers)
    assert one.status_code == 200 and one.get_json()["width"] == 1
    for path in (base, f"{base}/{ids[0]}"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers=stranger.headers).status_code == 404
    assert client.get(f"/api/v1/workspaces/{stranger.workspace_id}/media/{ids[0]}",
                      headers=stranger.headers).status_code == 404

    url = one.get_json()["url"].removeprefix("http://testserver")
    assert client.delete(f"{base}/{ids[0]}").status_code == 401
    assert client.delete(f"{base}/{ids[0]}", headers=stranger.headers).status_code == 404
    assert client.delete(f"{base}/{ids[0]}", headers=viewer.headers).status_code == 403
    assert client.delete(f"{base}/{ids[0]}", headers=editor.headers).status_code == 204
    assert client.get(f"{base}/{ids[0]}", headers=owner.headers).status_code == 404
    assert client.get(url).status_code == 404
    assert not (Path(runtime.settings.data_dir) / url.removeprefix("/")).exists()
    with runtime.db.session() as s:
        assert "media.deleted" in s.scalars(select(AuditEvent.action)).all()


def test_delete_refused_while_a_post_uses_it(client: Any, register: Any, runtime: Any) -> None:
    m = register()
    mid = upload(client, m, image("JPEG")).get_json()["id"]
    with runtime.db.transaction() as s:
        post = Post(workspace_id=m.workspace_id, text="x")
        s.add(post)
        s.flush()
        s.add(PostMedia(post_id=post.id, media_id=mid, position=0))
        pid = post.id
    r = client.delete(f"/api/v1/workspaces/{m.workspace_id}/media/{mid}", headers=m.headers)
    assert r.status_code == 409 and f"post(s) {pid}" in r.get_json()["message"]
    assert client.get(f"/api/v1/workspaces/{m.workspace_id}/media/{mid}", headers=m.headers).status_code == 200


# -- for the publishing engine ------------------------------------------------------------------


def test_media_item(client: Any, register: Any, runtime: Any) -> None:
    m = register()
    data = image("WEBP", (16, 8))
    mid = upload(client, m, data).get_json()["id"]
    with runtime.db.session() as s:
        item = media_item(runtime, s.get(Media, mid))
    assert item.id == str(mid) and item.kind == "image" and item.content_type == "image/webp"
    assert (item.width, item.height, item.size) == (16, 8, len(data))
    assert item.url and item.url.startswith("http://testserver/media/")
    assert item.read is not None and item.read() == data


# -- storage backends -------------------------------------------------------------------------


def test_local_storage_refuses_foreign_keys(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "media")
    key = new_key("png")
    store.put(key, io.BytesIO(b"abc"), "image/png")
    assert store.read(key) == b"abc" and store.local_path(key) == tmp_path / "media" / key
    assert b"".join(store.stream(key)) == b"abc"
    assert store.public_url(key) is None
    store.delete(key)
    store.delete(key)  # already gone: no error
    assert store.local_path(key) is None
    with pytest.raises(FileNotFoundError):
        store.read(key)
    with pytest.raises(FileNotFoundError):
        store.stream(key)  # raised by the call, before any piece
    for bad in ("../x.png", "/etc/passwd", "ab/../../x.png", "ab/" + "A" * 32 + ".png/.."):
        with pytest.raises(StorageKeyError):
            store.put(bad, io.BytesIO(b"x"), "image/png")
    assert not list(tmp_path.rglob(".upload-*"))  # no temporary file left behind


class ReadLog(io.BytesIO):
    """A streaming body (botocore's StreamingBody reads like a file) that
    records the size of every read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.sizes: list[int] = []

    def read(self, size: int | None = -1) -> bytes:
        self.sizes.append(-1 if size is None else size)
        return super().read(size)


class FakeS3:
    """Records calls with boto3's S3 client signatures."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.closed = False

    def put_object(self, *, Bucket: str, Key: str, Body: Any, ContentType: str) -> dict:
        # boto3 takes bytes or a file object; the storage hands it the file
        self.bodies = getattr(self, "bodies", []) + [type(Body)]
        self.objects[(Bucket, Key)] = (Body if isinstance(Body, bytes) else Body.read(), ContentType)
        return {}

    def get_object(self, *, Bucket: str, Key: str) -> dict:
        if (Bucket, Key) not in self.objects:
            err = Exception("NoSuchKey")
            err.response = {"Error": {"Code": "NoSuchKey"}}  # type: ignore[attr-defined]
            raise err
        body = ReadLog(self.objects[(Bucket, Key)][0])
        self.reads = getattr(self, "reads", []) + [body.sizes]
        return {"Body": body}

    def delete_object(self, *, Bucket: str, Key: str) -> dict:
        self.objects.pop((Bucket, Key), None)
        return {}

    def close(self) -> None:
        self.closed = True


def test_s3_storage_with_injected_client() -> None:
    fake = FakeS3()
    store = S3Storage("bucket-1", public_url="https://cdn.example.com/m/", client=fake)
    key = new_key("jpg")
    store.put(key, io.BytesIO(b"jpeg-bytes"), "image/jpeg")
    assert fake.objects[("bucket-1", key)] == (b"jpeg-bytes", "image/jpeg")
    assert fake.bodies == [io.BytesIO]  # streamed from the file, never read whole into memory
    assert store.read(key) == b"jpeg-bytes"
    assert store.public_url(key) == f"https://cdn.example.com/m/{key}"
    assert store.local_path(key) is None
    assert b"".join(store.stream(key)) == b"jpeg-bytes"
    store.delete(key)
    with pytest.raises(FileNotFoundError):
        store.read(key)
    with pytest.raises(FileNotFoundError):
        store.stream(key)
    with pytest.raises(StorageKeyError):
        store.read("../secret")
    store.close()
    assert fake.closed


def test_build_storage_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local = build_storage(Settings(data_dir=str(tmp_path)))
    assert isinstance(local, LocalStorage) and local.root == tmp_path / "media"
    s3 = build_storage(Settings(media_storage="s3", s3_bucket="b", s3_public_url="https://x"), s3_client=FakeS3())
    assert isinstance(s3, S3Storage) and s3.bucket == "b"
    with pytest.raises(ConfigError, match="CLIENTNEST_S3_BUCKET"):
        build_storage(Settings(media_storage="s3"), s3_client=FakeS3())
    with pytest.raises(ConfigError, match="'local' or 's3'"):
        build_storage(Settings(media_storage="ftp"))
    monkeypatch.setitem(sys.modules, "boto3", None)  # not installed (true here anyway)
    with pytest.raises(ConfigError, match="boto3"):
        build_storage(Settings(media_storage="s3", s3_bucket="b"))


def test_s3_mode_through_the_api(client: Any, register: Any, runtime: Any) -> None:
    """The app with an S3 backend (client injected): bytes go to the bucket,
    the URL is the bucket's public one, and the app's route redirects to it."""
    fake = FakeS3()
    runtime.extras["storage"] = S3Storage("media-bucket", public_url="https://cdn.example.com", client=fake)
    m = register()
    data = image("PNG")
    body = upload(client, m, data).get_json()
    key = next(k for (_, k) in fake.objects)
    assert fake.objects[("media-bucket", key)] == (data, "image/png")
    assert body["url"] == f"https://cdn.example.com/{key}"
    r = client.get(f"/media/{key}")
    assert r.status_code == 302 and r.headers["Location"] == f"https://cdn.example.com/{key}"
    # without a public base URL the app serves the bytes from the bucket itself,
    # streamed in pieces (a video of hundreds of MB is never read whole)
    runtime.extras["storage"] = S3Storage("media-bucket", client=fake)
    fake.reads = []
    r = client.get(f"/media/{key}")
    assert r.status_code == 200 and r.data == data and r.mimetype == "image/png"
    assert r.headers["Content-Length"] == str(len(data))
    assert fake.reads and all(0 < n <= 64 * 1024 for n in fake.reads[0])
    assert client.delete(f"/api/v1/workspaces/{m.workspace_id}/media/{body['id']}", headers=m.headers).status_code == 204
    assert fake.objects == {}


def test_access_is_checked_before_the_body(client: Any, register: Any, runtime: Any) -> None:
    owner, stranger, viewer = register(), register(), register()
    join(runtime, viewer.user_id, owner.workspace_id, "viewer")
    url = f"/api/v1/workspaces/{owner.workspace_id}/media"
    for m, code in ((stranger, 404), (viewer, 403), (owner, 422)):
        r = client.post(url, data={"nofile": "x"}, headers=m.headers, content_type="multipart/form-data")
        assert r.status_code == code
    assert client.get(url, query_string={"limit": "x"}, headers=stranger.headers).status_code == 404
