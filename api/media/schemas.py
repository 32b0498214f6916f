"""Schemas of /api/v1/workspaces/{wid}/media."""
from __future__ import annotations

import marshmallow as ma
from flask_smorest.fields import Upload

from clientnest.services.media import media_url

from ..db_session import runtime
from ..fields import Integer

__all__ = ["MediaSchema", "UploadSchema", "MediaListQuerySchema"]


class MediaSchema(ma.Schema):
    id = ma.fields.Integer()
    url = ma.fields.Function(
        lambda row: media_url(runtime(), row),
        metadata={"type": "string", "description": "public, unguessable URL of the bytes (platforms fetch it)"})
    kind = ma.fields.String(metadata={"description": "image, gif or video"})
    content_type = ma.fields.String(metadata={"description": "detected from the bytes, not the client's header"})
    size = ma.fields.Integer(metadata={"description": "bytes"})
    width = ma.fields.Integer(allow_none=True)
    height = ma.fields.Integer(allow_none=True)
    sha256 = ma.fields.String()
    original_name = ma.fields.String()
    created_at = ma.fields.AwareDateTime()


class UploadSchema(ma.Schema):
    file = Upload(required=True, metadata={"description": "JPEG, PNG, GIF, WEBP, MP4 or MOV"})


class MediaListQuerySchema(ma.Schema):
    limit = Integer(load_default=50, validate=ma.validate.Range(min=1, max=200))
    before = Integer(validate=ma.validate.Range(min=1),
                               metadata={"description": "cursor: only media with a smaller id"})
