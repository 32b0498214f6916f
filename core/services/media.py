"""Media uploads: type sniffed from the bytes, size limits, dimensions, storage.

The client's ``Content-Type`` header and file name are never trusted: the
type comes from the file's magic numbers (:func:`detect_type`). Images are
measured from their header first: more pixels than ``media_max_image_pixels``
and the file is refused undecoded (a decompression bomb). Under the limit
every frame is then decoded, so a header that lies about the pixels behind
it, or a truncated file, is refused too (422 naming ``file``). Decoding is
bounded: pixels per frame by the setting, frames of an animation by a pixel
budget, and decodes running at once by a semaphore. Videos (MP4 /
QuickTime) are measured from their track header box.
"""
from __future__ import annotations

import hashlib
import io
import logging
import struct
import tempfile
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..connector import MediaItem
from ..errors import ClientNestError
from ..models import Media, PostMedia
from ..settings import Settings
from ..storage import Storage, new_key, storage_for, valid_key

__all__ = [
    "MediaError",
    "UnsupportedMediaType",
    "MediaTooLarge",
    "InvalidMedia",
    "MediaNotFound",
    "MediaInUse",
    "SUPPORTED_TYPES",
    "detect_type",
    "media_dimensions",
    "upload_media",
    "list_media",
    "get_media",
    "delete_media",
    "find_by_key",
    "media_url",
    "media_item",
]

log = logging.getLogger(__name__)


class MediaError(ClientNestError):
    """A refused upload or lookup; ``status`` is the HTTP status the API answers."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class UnsupportedMediaType(MediaError):
    status = 415


class MediaTooLarge(MediaError):
    status = 413


class InvalidMedia(MediaError):
    status = 422


class MediaNotFound(MediaError):
    status = 404


class MediaInUse(MediaError):
    status = 409


@dataclass(frozen=True)
class MediaType:
    content_type: str
    kind: str  # image | gif | video
    extension: str
    pillow_format: str | None = None


#: what can be uploaded, by the MIME type :func:`detect_type` answers
SUPPORTED_TYPES: dict[str, MediaType] = {
    t.content_type: t
    for t in (
        MediaType("image/jpeg", "image", "jpg", "JPEG"),
        MediaType("image/png", "image", "png", "PNG"),
        MediaType("image/gif", "gif", "gif", "GIF"),
        MediaType("image/webp", "image", "webp", "WEBP"),
        MediaType("video/mp4", "video", "mp4"),
        MediaType("video/quicktime", "video", "mov"),
    )
}

# ISO base-media brands (the ftyp box) by what the file really holds
_MP4_BRANDS = {
    b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1",
    b"M4V ", b"M4VP", b"M4VH", b"dash", b"f4v ", b"mmp4", b"MSNV", b"NDAS", b"XAVC",
}
_OTHER_BRANDS = {
    b"qt  ": "video/quicktime",
    b"heic": "image/heic", b"heix": "image/heic", b"hevc": "image/heic", b"heim": "image/heic",
    b"mif1": "image/heif", b"msf1": "image/heif",
    b"avif": "image/avif", b"avis": "image/avif",
    b"M4A ": "audio/mp4", b"M4B ": "audio/mp4",
    b"3gp4": "video/3gpp", b"3gp5": "video/3gpp", b"3gp6": "video/3gpp", b"3g2a": "video/3gpp2",
    b"crx ": "image/x-canon-cr3",
}


def _ftyp_type(head: bytes) -> str:
    major = head[8:12]
    if major in _OTHER_BRANDS:
        return _OTHER_BRANDS[major]
    if major in _MP4_BRANDS:
        return "video/mp4"
    # unknown major brand: decide by the compatible brands listed after it
    size = struct.unpack(">I", head[0:4])[0]
    compatible = {head[i:i + 4] for i in range(16, min(size, len(head)) - 3, 4)}
    if compatible & _MP4_BRANDS:
        return "video/mp4"
    for brand, kind in _OTHER_BRANDS.items():
        if brand in compatible:
            return kind
    return f"video/iso-bmff ({major.decode('latin-1').strip() or '?'})"


def detect_type(head: bytes) -> str:
    """The MIME type the leading bytes of a file show (64 bytes suffice);
    ``application/octet-stream`` when nothing is recognised."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and len(head) >= 12:
        return {b"WEBP": "image/webp", b"AVI ": "video/x-msvideo", b"WAVE": "audio/wav"}.get(
            head[8:12], "application/x-riff")
    if head[4:8] == b"ftyp" and len(head) >= 12:
        return _ftyp_type(head)
    for magic, kind in (
        (b"%PDF-", "application/pdf"),
        (b"PK\x03\x04", "application/zip"),
        (b"\x1a\x45\xdf\xa3", "video/webm"),
        (b"BM", "image/bmp"),
        (b"II*\x00", "image/tiff"),
        (b"MM\x00*", "image/tiff"),
        (b"\x00\x00\x01\x00", "image/x-icon"),
        (b"ID3", "audio/mpeg"),
        (b"OggS", "application/ogg"),
        (b"\x1f\x8b", "application/gzip"),
        (b"\x7fELF", "application/x-executable"),
        (b"MZ", "application/x-msdownload"),
    ):
        if head.startswith(magic):
            return kind
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<svg", b"<?xml")):
        return "image/svg+xml" if b"<svg" in text else "application/xml"
    if text.startswith((b"<!doctype html", b"<html")):
        return "text/html"
    return "application/octet-stream"


# -- dimensions ------------------------------------------------------------------


#: an animation is decoded frame by frame up to this many times the pixel
#: limit in all (a few hundred frames of a typical GIF), and refused beyond
ANIMATION_PIXEL_BUDGET = 10
#: decodes running at once in this process: each holds up to one frame of
#: media_max_image_pixels (4 bytes a pixel), so memory stays bounded however
#: many uploads arrive together
_DECODE_SLOTS = threading.BoundedSemaphore(2)


def _image_size(stream: BinaryIO, mtype: MediaType, max_pixels: int) -> tuple[int, int]:
    stream.seek(0)
    try:
        with warnings.catch_warnings():
            # Pillow warns above its own global limit; ours, below, is stricter
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # formats=: only the decoder of the sniffed type may read the file
            with Image.open(stream, formats=[mtype.pillow_format] if mtype.pillow_format else None) as img:
                width, height = img.size
                if width <= 0 or height <= 0:
                    raise InvalidMedia("not a valid image: it has no pixels", field="file")
                if width * height > max_pixels:
                    raise InvalidMedia(
                        f"image is {width}x{height} pixels; at most {max_pixels} pixels are accepted",
                        field="file")
                with _DECODE_SLOTS:
                    _decode_all(img, max_pixels)
    except InvalidMedia:
        raise
    except Image.DecompressionBombError as exc:
        raise InvalidMedia(f"image refused: {exc}", field="file") from None
    except Exception as exc:  # Pillow raises many types for malformed input
        raise InvalidMedia(
            f"not a valid image: the file starts like {mtype.content_type} but cannot be decoded "
            f"({type(exc).__name__}: {exc})", field="file") from None
    return width, height


def _decode_all(img: Image.Image, max_pixels: int) -> None:
    """Decode every frame; raises what Pillow raises for bad data (it does
    not accept truncated files: ``ImageFile.LOAD_TRUNCATED_IMAGES`` is off)."""
    if img.format == "JPEG":
        # libjpeg decodes every coefficient even when scaling down by 8, so
        # truncated or corrupt data still fails, with 1/64 of the memory
        img.draft(img.mode, (max(1, img.width // 8), max(1, img.height // 8)))
    budget = max_pixels * ANIMATION_PIXEL_BUDGET
    frames = getattr(img, "n_frames", 1)
    for frame in range(frames):
        if frame:
            img.seek(frame)
        budget -= img.width * img.height
        if budget < 0:
            raise InvalidMedia(
                f"animation has too many frames to check ({frames} of {img.width}x{img.height} pixels)",
                field="file")
        img.load()


_CONTAINERS = {b"moov", b"trak", b"mdia", b"edts"}


def _video_size(stream: BinaryIO, total: int) -> tuple[int | None, int | None]:
    """Width and height from the first video track's ``tkhd`` box (None, None
    when the file does not say; that does not make it invalid)."""

    def walk(start: int, end: int, depth: int, budget: list[int]) -> tuple[int, int] | None:
        pos = start
        while pos + 8 <= end and budget[0] > 0:
            budget[0] -= 1
            stream.seek(pos)
            header = stream.read(8)
            if len(header) < 8:
                return None
            size, box = struct.unpack(">I4s", header)
            body = pos + 8
            if size == 1:
                large = stream.read(8)
                if len(large) < 8:
                    return None
                size = struct.unpack(">Q", large)[0]
                body = pos + 16
            elif size == 0:
                size = end - pos
            if size < body - pos or pos + size > end:
                return None
            if box == b"tkhd":
                stream.seek(body)
                data = stream.read(min(size - (body - pos), 100))
                version = data[0] if data else 0
                offset = 4 + (32 if version == 1 else 20) + 8 + 8 + 36
                if len(data) >= offset + 8:
                    w, h = struct.unpack(">II", data[offset:offset + 8])
                    if w >> 16 and h >> 16:  # 16.16 fixed point; audio tracks are 0x0
                        return w >> 16, h >> 16
            elif box in _CONTAINERS and depth < 4:
                found = walk(body, pos + size, depth + 1, budget)
                if found:
                    return found
            pos += size
        return None

    try:
        found = walk(0, total, 0, [10_000])
    except (struct.error, OSError, ValueError):
        found = None
    return found if found else (None, None)


def media_dimensions(stream: BinaryIO, content_type: str, size: int, *,
                     max_pixels: int = Settings.media_max_image_pixels) -> tuple[int | None, int | None]:
    """``(width, height)`` of an upload of a supported type; images are
    decoded in full first.

    :param max_pixels: most pixels an image (each frame) may have.
    :raises InvalidMedia: an image Pillow cannot decode, or too many pixels.
    """
    mtype = SUPPORTED_TYPES[content_type]
    if mtype.kind == "video":
        return _video_size(stream, size)
    return _image_size(stream, mtype, max_pixels)


# -- upload ----------------------------------------------------------------------


#: uploads are read in pieces this small: many uploads at once then cost
#: little memory each, and pieces under glibc's mmap threshold are reused
#: from the thread's heap instead of growing it
_CHUNK = 64 * 1024
#: a non-seekable upload is copied to a temporary file, in memory up to this
_SPOOL_IN_MEMORY = 512 * 1024


def _seekable(stream: BinaryIO, limit: int) -> tuple[BinaryIO, int]:
    """A seekable copy of ``stream`` (or itself) and its size; stops reading
    past ``limit`` so an oversized upload is refused without being spooled."""
    try:
        if stream.seekable():
            stream.seek(0, io.SEEK_END)
            size = stream.tell()
            stream.seek(0)
            return stream, size
    except (AttributeError, OSError):
        pass
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)
    copied = 0
    while chunk := stream.read(_CHUNK):
        copied += len(chunk)
        if copied > limit:
            break
        spool.write(chunk)
    spool.seek(0)
    return spool, copied  # type: ignore[return-value]


def _limit_text(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} bytes"


def upload_media(
    session: Session,
    runtime: Any,
    workspace_id: int,
    user_id: int | None,
    stream: BinaryIO,
    filename: str = "",
) -> Media:
    """Check, measure and store an upload; commits the new row.

    The file is written first and the row committed second; if the commit
    fails the file is removed again, so nothing half-stored remains.

    :raises UnsupportedMediaType: the bytes are not JPEG/PNG/GIF/WEBP/MP4/MOV.
    :raises MediaTooLarge: over ``media_max_image_bytes`` (images) or ``media_max_bytes``.
    :raises InvalidMedia: empty, or an image Pillow cannot read.
    """
    settings: Settings = runtime.settings
    stream, size = _seekable(stream, settings.media_max_bytes)
    if size == 0:
        raise InvalidMedia("the file is empty", field="file")
    head = stream.read(64)
    detected = detect_type(head)
    mtype = SUPPORTED_TYPES.get(detected)
    if mtype is None:
        raise UnsupportedMediaType(
            f"unsupported media type: the file's bytes are {detected}; accepted: "
            + ", ".join(SUPPORTED_TYPES), field="file")
    if size > settings.media_max_bytes:
        raise MediaTooLarge(
            f"file is larger than the {_limit_text(settings.media_max_bytes)} upload limit", field="file")
    if mtype.kind != "video" and size > settings.media_max_image_bytes:
        raise MediaTooLarge(
            f"image is {size} bytes; images may be at most {_limit_text(settings.media_max_image_bytes)}",
            field="file")
    width, height = media_dimensions(stream, detected, size, max_pixels=settings.media_max_image_pixels)

    digest = hashlib.sha256()
    stream.seek(0)
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)

    storage = storage_for(runtime)
    key = new_key(mtype.extension)
    stream.seek(0)
    storage.put(key, stream, detected)
    row = Media(
        workspace_id=workspace_id,
        storage_key=key,
        kind=mtype.kind,
        content_type=detected,
        size=size,
        width=width,
        height=height,
        sha256=digest.hexdigest(),
        original_name=_clean_name(filename),
        uploaded_by=user_id,
    )
    try:
        session.add(row)
        session.flush()
        audit.record(session, "media.uploaded", "media", row.id, workspace_id=workspace_id,
                     user_id=user_id, data={"kind": row.kind, "content_type": detected, "size": size})
        session.commit()
    except BaseException:
        session.rollback()
        _quiet_delete(storage, key)
        raise
    return row


def _clean_name(filename: str | None) -> str:
    # kept for display only (never a path): drop folders and control characters
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in name if ch.isprintable())[:255]


def _quiet_delete(storage: Storage, key: str) -> None:
    try:
        storage.delete(key)
    except Exception:  # the original error matters more; an orphan file is harmless
        log.exception("could not remove stored media %s", key)


# -- reading ---------------------------------------------------------------------


def list_media(session: Session, workspace_id: int, *, limit: int = 50, before: int | None = None) -> Sequence[Media]:
    """The workspace's uploads, newest first; ``before`` is an id cursor."""
    q = select(Media).where(Media.workspace_id == workspace_id)
    if before is not None:
        q = q.where(Media.id < before)
    return session.scalars(q.order_by(Media.id.desc()).limit(limit)).all()


def get_media(session: Session, workspace_id: int, media_id: int) -> Media:
    row = session.get(Media, media_id)
    if row is None or row.workspace_id != workspace_id:
        raise MediaNotFound(f"media {media_id} not found")
    return row


def delete_media(session: Session, runtime: Any, workspace_id: int, media_id: int, user_id: int | None) -> None:
    """Delete an upload that no post uses; commits, then removes the bytes.

    :raises MediaInUse: a post still references it (409 naming the posts).
    """
    row = get_media(session, workspace_id, media_id)
    posts = session.scalars(select(PostMedia.post_id).where(PostMedia.media_id == row.id)).all()
    if posts:
        raise MediaInUse(
            f"media {media_id} is attached to post(s) {', '.join(map(str, sorted(posts)))}; "
            "remove it from them first")
    key = row.storage_key
    session.delete(row)
    audit.record(session, "media.deleted", "media", media_id, workspace_id=workspace_id, user_id=user_id)
    session.commit()
    # after the commit: if it had failed, the row would point to missing bytes
    _quiet_delete(storage_for(runtime), key)


def find_by_key(session: Session, key: str) -> Media | None:
    """The upload stored under ``key`` (the public media route)."""
    if not valid_key(key):
        return None
    return session.scalars(select(Media).where(Media.storage_key == key)).first()


def media_url(runtime: Any, row: Media) -> str:
    """An absolute URL anyone (a platform fetching media) can read the bytes at."""
    direct = storage_for(runtime).public_url(row.storage_key)
    if direct:
        return direct
    return f"{runtime.settings.public_url.rstrip('/')}/media/{row.storage_key}"


def media_item(runtime: Any, row: Media) -> MediaItem:
    """The connector's view of an upload, for the publishing engine.

    ``read`` fetches the bytes lazily, so a connector that publishes by URL
    never loads them.
    """
    storage = storage_for(runtime)
    key = row.storage_key
    return MediaItem(
        id=str(row.id),
        kind=row.kind,
        content_type=row.content_type,
        size=row.size,
        width=row.width,
        height=row.height,
        url=media_url(runtime, row),
        read=lambda: storage.read(key),
    )
