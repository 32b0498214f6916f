"""Media under the default, relative ``data_dir`` ("var"): it means the
folder ClientNest was started in, fixed once when settings load, in both
modes. Before, ``GET /media/{key}`` answered 500: Flask's ``send_file``
resolved the relative path against the package folder."""
from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from clientnest.settings import Settings, load_settings
from clientnest.storage import LocalStorage, build_storage, new_key

MODES = ["embedded", "production"]


@pytest.fixture(params=MODES)
def settings_overrides(request: pytest.FixtureRequest, tmp_path: Path,
                       monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Start "in" tmp_path/start with the default data_dir, as `make run` does."""
    values: dict[str, Any] = {"data_dir": "var"}
    if request.param == "production":
        redis_url = os.environ.get("CLIENTNEST_TEST_REDIS_URL")
        if not redis_url:
            pytest.skip("production mode needs CLIENTNEST_TEST_REDIS_URL")
        values["redis_url"] = redis_url
    (tmp_path / "start").mkdir()
    monkeypatch.chdir(tmp_path / "start")
    yield values


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(buf, "JPEG")
    return buf.getvalue()


def test_public_media_url_serves_the_bytes(client: Any, register: Any, runtime: Any, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    assert runtime.settings.data_dir == str(tmp_path / "start" / "var")
    m = register()
    data = _jpeg()
    r = client.post(f"/api/v1/workspaces/{m.workspace_id}/media", data={"file": (io.BytesIO(data), "a.jpg")},
                    headers=m.headers, content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    key = r.get_json()["url"].removeprefix("http://testserver/media/")
    assert (tmp_path / "start" / "var" / "media" / key).read_bytes() == data

    got = client.get(f"/media/{key}")
    assert got.status_code == 200, got.get_json()
    assert got.data == data and got.mimetype == "image/jpeg"
    # a later change of working directory moves nothing
    monkeypatch.chdir(tmp_path)
    assert client.get(f"/media/{key}").data == data


def test_relative_data_dir_is_resolved_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings(env={}).data_dir == str(tmp_path / "var")
    assert load_settings(env={"CLIENTNEST_DATA_DIR": "data/here"}).data_dir == str(tmp_path / "data" / "here")
    assert load_settings(env={"CLIENTNEST_DATA_DIR": "/srv/cn"}).data_dir == "/srv/cn"
    # Settings built by hand (not loaded) still give the storage an absolute root
    store = build_storage(Settings())
    assert isinstance(store, LocalStorage) and store.root == tmp_path / "var" / "media"
    key = new_key("jpg")
    store.put(key, io.BytesIO(b"x"), "image/jpeg")
    monkeypatch.chdir("/")
    assert store.local_path(key) == tmp_path / "var" / "media" / key and store.read(key) == b"x"
