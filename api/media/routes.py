"""Media uploads (/api/v1/workspaces/{wid}/media) and the public media route
(/media/<key>) platforms fetch the bytes from.

The public route needs no token: Instagram and others download media by URL.
Its keys hold 192 random bits, so a URL cannot be guessed; only keys of
uploads that still exist are served.
"""
from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any, NoReturn, TypeVar

from flask import Response, redirect, send_file
from flask.views import MethodView
from flask_smorest import abort

from clientnest.models import Role
from clientnest.services import media as svc
from clientnest.storage import storage_for

from ..db_session import runtime, session
from ..extensions import Blueprint
from ..security import current_user
from ..workspaces.access import workspace_role
from .schemas import MediaListQuerySchema, MediaSchema, UploadSchema

# no url_prefix: the public /media/<key> route lives outside /api/v1
blp = Blueprint("media", __name__, description="Media uploads")

F = TypeVar("F", bound=Callable[..., Any])


def _errors(*codes: int) -> Callable[[F], F]:
    """Document error responses a route may give (JSON ``{code, status, message, errors?}``)."""
    def deco(fn: F) -> F:
        for code in codes:
            fn = blp.alt_response(code, response=HTTPStatus(code).name)(fn)
        return fn
    return deco


def _fail(exc: svc.MediaError) -> NoReturn:
    if exc.field:
        abort(exc.status, message=exc.message, errors={"files": {exc.field: [exc.message]}})
    abort(exc.status, message=exc.message)


@blp.route("/api/v1/workspaces/<int:wid>/media")
class MediaCollection(MethodView):
    @workspace_role(Role.VIEWER)
    @blp.arguments(MediaListQuerySchema, location="query")
    @blp.response(200, MediaSchema(many=True))
    @_errors(401, 404)
    def get(self, query: dict[str, Any], wid: int) -> Any:
        """The workspace's uploads, newest first (viewer+); page with ``before``."""
        return svc.list_media(session(), wid, limit=query["limit"], before=query.get("before"))

    @workspace_role(Role.EDITOR)
    @blp.arguments(UploadSchema, location="files")
    @blp.response(201, MediaSchema)
    @blp.alt_response(413, description="over the size limit (images have their own, lower one)")
    @blp.alt_response(415, description="the bytes are not JPEG, PNG, GIF, WEBP, MP4 or MOV")
    @blp.alt_response(422, description="no file, an empty file, or an image that cannot be read")
    @_errors(401, 403, 404)
    def post(self, files: dict[str, Any], wid: int) -> Any:
        """Upload an image or video (editor+; multipart field ``file``).

        The type is sniffed from the bytes, never taken from the file name or
        the client's Content-Type.
        """
        upload = files["file"]
        try:
            row = svc.upload_media(session(), runtime(), wid, current_user().id, upload.stream, upload.filename or "")
        except svc.MediaError as exc:
            _fail(exc)
        return row


@blp.route("/api/v1/workspaces/<int:wid>/media/<int:mid>")
class MediaItemView(MethodView):
    @workspace_role(Role.VIEWER)
    @blp.response(200, MediaSchema)
    @_errors(401, 404)
    def get(self, wid: int, mid: int) -> Any:
        """One upload (viewer+)."""
        try:
            return svc.get_media(session(), wid, mid)
        except svc.MediaError as exc:
            _fail(exc)

    @workspace_role(Role.EDITOR)
    @blp.response(204)
    @blp.alt_response(409, description="a post still uses it")
    @_errors(401, 403, 404)
    def delete(self, wid: int, mid: int) -> Any:
        """Delete an upload no post uses (editor+)."""
        try:
            svc.delete_media(session(), runtime(), wid, mid, current_user().id)
        except svc.MediaError as exc:
            _fail(exc)
        return None


@blp.route("/media/<path:key>", methods=["GET"])
@blp.doc(security=[], summary="The bytes of an upload (public: platforms fetch media by URL)")
@blp.response(200, description="the bytes, with the Content-Type detected at upload; Range supported")
@blp.alt_response(302, description="S3 storage with a public URL: redirect to it")
@_errors(404)
def public_media(key: str) -> Any:
    """The bytes of an upload, for platforms that fetch media by URL."""
    row = svc.find_by_key(session(), key)
    if row is None:
        abort(404, message="media not found")
    storage = storage_for(runtime())
    direct = storage.public_url(row.storage_key)
    if direct:
        return redirect(direct, code=302)
    path = storage.local_path(row.storage_key)
    if path is not None:
        # conditional + ranges: video fetchers resume and probe with Range
        resp = send_file(path, mimetype=row.content_type, conditional=True, max_age=3600)
    else:
        try:
            # in pieces: a 500 MB video from a bucket never sits in memory
            pieces = storage.stream(row.storage_key)
        except FileNotFoundError:
            abort(404, message="media not found")
        resp = Response(pieces, mimetype=row.content_type, direct_passthrough=True)
        resp.content_length = row.size
    # served with the type we detected; never let a browser sniff another one
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return resp
