"""Ids in the URL path beyond 64 bits.

Werkzeug's ``<int:...>`` matches any number of digits, but no row can have
an id past a signed 64-bit integer, and the database drivers refuse to bind
one (``OverflowError``). Such a URL names nothing: after the usual
authentication (a missing or bad token is still a 401, so an anonymous
caller learns nothing new), it is a plain 404, before the view runs.

Every route with an integer in its path is authenticated; the
authentication here does not read the out-of-range ids.
"""
from __future__ import annotations

from flask import Flask, request
from flask_smorest import abort

from .fields import fits_int64
from .security import current_user

__all__ = ["init_app"]

#: how a 404 names the resource of each path variable (others: the variable's name)
_RESOURCE = {
    "wid": "workspace",
    "pid": "post",
    "aid": "account",
    "mid": "media",
    "cid": "comment",
    "uid": "member",
    "token_id": "token",
    "connection_id": "connection",
}


def _ids_in_range() -> None:
    args = request.view_args or {}
    beyond = {k: v for k, v in args.items() if isinstance(v, int) and not fits_int64(v)}
    if not beyond:
        return
    for name in beyond:
        del args[name]  # e.g. the token check would look up its membership of ``wid``
    current_user()  # 401 first, as for any other id
    name, value = next(iter(beyond.items()))
    abort(404, message=f"{_RESOURCE.get(name, name)} {value} not found")


def init_app(app: Flask) -> None:
    app.before_request(_ids_in_range)
