"""The built web app served at / from ``web_dist_dir``."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

INDEX = '<!doctype html><html><head><script type="module" src="/assets/index-abc123.js"></script></head>' \
        '<body><div id="root"></div></body></html>'


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    d = tmp_path / "dist"
    (d / "assets").mkdir(parents=True)
    (d / "index.html").write_text(INDEX)
    (d / "assets" / "index-abc123.js").write_text("console.log('app')")
    (d / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    return d


class TestWithABuild:
    @pytest.fixture
    def settings_overrides(self, dist: Path) -> dict[str, Any]:
        return {"web_dist_dir": str(dist)}

    def test_index_is_served_uncached(self, client: Any) -> None:
        r = client.get("/")
        assert r.status_code == 200 and r.mimetype == "text/html"
        assert r.get_data(as_text=True) == INDEX
        assert r.headers["Cache-Control"] == "no-cache"

    def test_assets_are_cached_for_long(self, client: Any) -> None:
        r = client.get("/assets/index-abc123.js")
        assert r.status_code == 200 and r.get_data(as_text=True) == "console.log('app')"
        assert "max-age=31536000" in r.headers["Cache-Control"] and "immutable" in r.headers["Cache-Control"]
        assert client.get("/assets/missing.js").status_code == 404

    @pytest.mark.parametrize("path", ["/calendar", "/w/3/calendar/2026-03", "/settings/tokens?tab=1", "/login"])
    def test_client_side_routes_fall_back_to_index(self, client: Any, path: str) -> None:
        r = client.get(path)
        assert r.status_code == 200 and r.get_data(as_text=True) == INDEX
        assert r.headers["Cache-Control"] == "no-cache"

    def test_top_level_files_of_the_build(self, client: Any) -> None:
        r = client.get("/favicon.svg")
        assert r.status_code == 200 and "<svg" in r.get_data(as_text=True)

    @pytest.mark.parametrize("path", ["/api/v1/nope", "/api", "/healthz/x", "/media/nope.png", "/assets"])
    def test_server_prefixes_are_never_the_app(self, client: Any, path: str) -> None:
        r = client.get(path)
        assert r.status_code == 404
        assert r.get_json()["code"] == 404

    def test_api_and_probes_are_untouched(self, client: Any) -> None:
        assert client.get("/healthz").get_json() is not None
        assert client.get("/api/v1/openapi.json").status_code == 200
        assert client.get("/api/v1/me").status_code == 401
        # a write to an unknown API path is still a JSON 404, not the app's 405
        r = client.post("/api/v1/nope", json={})
        assert r.status_code == 404 and r.get_json()["code"] == 404

    def test_no_traversal_out_of_the_build(self, client: Any, dist: Path) -> None:
        (dist.parent / "secret.txt").write_text("secret")
        for path in ("/assets/../../secret.txt", "/assets/%2e%2e/%2e%2e/secret.txt", "/..%2fsecret.txt"):
            assert "secret" not in client.get(path).get_data(as_text=True)


class TestWithoutABuild:
    @pytest.fixture
    def settings_overrides(self, tmp_path: Path) -> dict[str, Any]:
        return {"web_dist_dir": str(tmp_path / "nothing-here")}

    def test_root_says_how_to_build(self, client: Any) -> None:
        r = client.get("/")
        assert r.status_code == 200 and r.mimetype == "text/html"
        page = r.get_data(as_text=True)
        assert "make web" in page and "npm" in page and "/api/docs" in page
        assert "http://" not in page and "https://" not in page  # nothing from a CDN

    def test_api_still_works(self, client: Any) -> None:
        assert client.get("/api/v1/me").status_code == 401
