"""The web app's built files (``web/dist``), served by the API's own process.

- ``/assets/...``: the bundles Vite names by content hash, cached for a year;
- any other GET path outside the API's own prefixes is a client-side route
  of the app: ``index.html``, never cached, so a new build shows at once;
- files at the top of the build (``favicon.svg``, ``robots.txt`` ...) as they are.

Without a build, ``/`` answers a small page saying how to make one (``make
web``) instead of a JSON 404. Nothing here (or in the build) comes from a CDN.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, Response, send_from_directory
from werkzeug.routing import BaseConverter

__all__ = ["init_app", "resolve_dist_dir", "RESERVED_PREFIXES"]

#: first path segments that belong to the server, never to the app's routes
RESERVED_PREFIXES = ("api", "media", "sandbox", "healthz", "readyz", "assets")
_ASSET_CACHE = "public, max-age=31536000, immutable"
_NO_CACHE = "no-cache"
_CHECKOUT = Path(__file__).resolve().parent.parent  # the source tree (api/ and web/ are siblings)

_NO_BUILD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>ClientNest</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#222}
code{background:#f3f3f3;padding:.1rem .3rem;border-radius:3px}</style></head>
<body><h1>ClientNest is running</h1>
<p>The API is up, but the web app has not been built yet (no <code>index.html</code> in the folder
named by the <code>web_dist_dir</code> setting, <code>web/dist</code> by default).</p>
<p>Build it with <code>make web</code> (needs Node.js 20+: it runs <code>npm ci</code> and
<code>npm run build</code> in <code>web/</code>), or let <code>make run</code> build it for you, then reload.</p>
<p>Meanwhile the API is at <a href="/api/docs">/api/docs</a> (Swagger UI).</p>
</body></html>
"""


class _AppPathConverter(BaseConverter):
    """A path of one or more segments whose first is not a server prefix, so
    ``POST /api/v1/nope`` stays a JSON 404 rather than the app's 405."""

    regex = r"(?!(?:" + "|".join(RESERVED_PREFIXES) + r")(?:/|$))[^/].*?"
    part_isolating = False
    weight = 200


def resolve_dist_dir(setting: str) -> Path:
    """``web_dist_dir`` as a folder: absolute as given; a relative one is
    looked up in the working directory, then in the source tree."""
    path = Path(setting)
    if path.is_absolute() or path.exists():
        return path.absolute()
    return _CHECKOUT / path


def init_app(app: Flask, dist_dir: Path) -> None:
    app.url_map.converters["app_path"] = _AppPathConverter

    def index() -> Any:
        if (dist_dir / "index.html").is_file():
            resp = send_from_directory(dist_dir, "index.html", max_age=0)
        else:
            # the page names the setting, not the server's folders
            resp = Response(_NO_BUILD, mimetype="text/html")
        resp.headers["Cache-Control"] = _NO_CACHE
        return resp

    def asset(filename: str) -> Any:
        resp = send_from_directory(dist_dir / "assets", filename)
        resp.headers["Cache-Control"] = _ASSET_CACHE
        return resp

    def app_route(path: str) -> Any:
        # a file at the top of the build (favicon, robots.txt); else a client-side route
        if "/" not in path and (dist_dir / path).is_file():
            resp = send_from_directory(dist_dir, path, max_age=0)
            resp.headers["Cache-Control"] = _NO_CACHE
            return resp
        return index()

    app.add_url_rule("/", "webapp_index", index, methods=["GET"])
    app.add_url_rule("/assets/<path:filename>", "webapp_asset", asset, methods=["GET"])
    app.add_url_rule("/<app_path:path>", "webapp_route", app_route, methods=["GET"])
