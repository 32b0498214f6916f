"""Where uploaded media bytes live: local disk (embedded default) or an
S3-compatible bucket (production, ``CLIENTNEST_MEDIA_STORAGE=s3``).

Keys are produced by :func:`new_key` and are the only names a backend ever
sees: a random, unguessable part (platforms such as Instagram fetch media by
URL without credentials, so the URL itself is the secret) and an extension.
Backends refuse any other shape, so a key can never walk out of the media
root.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
from pathlib import Path
from collections.abc import Iterator
from typing import Any, BinaryIO, Protocol

from .errors import ConfigError
from .settings import Settings

__all__ = [
    "Storage",
    "LocalStorage",
    "S3Storage",
    "StorageKeyError",
    "new_key",
    "valid_key",
    "build_storage",
    "storage_for",
]

# two hex characters fan the files out over 256 folders; 32 url-safe random
# characters (192 bits) make the key unguessable
_KEY = re.compile(r"^[0-9a-f]{2}/[A-Za-z0-9_-]{32}\.[a-z0-9]{2,5}$")
#: pieces in which stored bytes are streamed out
_CHUNK = 64 * 1024


class StorageKeyError(ValueError):
    """A key that :func:`new_key` could not have produced."""


def new_key(extension: str) -> str:
    """A fresh storage key such as ``3f/Yp...Q.jpg``."""
    token = secrets.token_urlsafe(24)  # 24 bytes -> 32 characters
    return f"{secrets.token_hex(1)}/{token}.{extension.lower().lstrip('.')}"


def valid_key(key: str) -> bool:
    return bool(_KEY.match(key))


def _check(key: str) -> str:
    if not valid_key(key):
        raise StorageKeyError(f"invalid storage key {key!r}")
    return key


class Storage(Protocol):
    """What the media service needs from a backend."""

    def put(self, key: str, fileobj: BinaryIO, content_type: str) -> None:
        """Store the rest of ``fileobj`` under ``key`` (overwrites)."""

    def read(self, key: str) -> bytes:
        """The stored bytes; :class:`FileNotFoundError` if there are none."""

    def stream(self, key: str) -> Iterator[bytes]:
        """The stored bytes in pieces, never all in memory at once;
        :class:`FileNotFoundError` (raised by this call, before any piece)
        if there are none."""

    def delete(self, key: str) -> None:
        """Remove ``key``; no error if it is already gone."""

    def local_path(self, key: str) -> Path | None:
        """A file on this machine holding the bytes, if the backend has one."""

    def public_url(self, key: str) -> str | None:
        """A URL serving the bytes directly (a CDN or bucket), or ``None``
        when the app's own ``/media/<key>`` route serves them."""


class LocalStorage:
    """Files under ``root`` (default ``<data_dir>/media``)."""

    def __init__(self, root: str | Path) -> None:
        # absolute once, here: Flask's send_file resolves a relative path
        # against the app's package folder, not the working directory
        self.root = Path(root).absolute()

    def _path(self, key: str) -> Path:
        return self.root / _check(key)

    def put(self, key: str, fileobj: BinaryIO, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # write to a temporary file in the same folder, then rename: a reader
        # never sees half a file, and a crash leaves no truncated upload behind
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                # small pieces: many uploads at once each hold one of them
                shutil.copyfileobj(fileobj, out, 64 * 1024)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def read(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def stream(self, key: str) -> Iterator[bytes]:
        fh = self._path(key).open("rb")  # FileNotFoundError here, before the first piece

        def pieces() -> Iterator[bytes]:
            with fh:
                while chunk := fh.read(_CHUNK):
                    yield chunk

        return pieces()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.is_file() else None

    def public_url(self, key: str) -> str | None:
        return None

    def close(self) -> None:
        """Nothing to release (the runtime calls ``close`` on its extras)."""


class S3Storage:
    """An S3-compatible bucket (AWS, MinIO, R2 ...).

    ``boto3`` is imported only when this backend is built, so the embedded
    mode does not need it (``pip install clientnest[s3]``). ``client`` may be
    injected (tests, custom sessions); it needs ``put_object``, ``get_object``
    and ``delete_object`` with boto3's signatures.

    :param public_url: base URL under which the bucket's objects are publicly
        readable (a CDN or the bucket website); empty: the app serves them.
    """

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str = "",
        public_url: str = "",
        client: Any = None,
    ) -> None:
        if not bucket:
            raise ConfigError("CLIENTNEST_MEDIA_STORAGE=s3 needs CLIENTNEST_S3_BUCKET")
        self.bucket = bucket
        self.base_url = public_url.rstrip("/")
        if client is None:
            try:
                import boto3  # lazy: only production installs with S3 need it
            except ImportError:
                raise ConfigError(
                    "CLIENTNEST_MEDIA_STORAGE=s3 needs boto3: pip install 'clientnest[s3]'"
                ) from None
            # credentials come from boto3's usual chain (env, profile, role)
            client = boto3.client("s3", endpoint_url=endpoint_url or None)
        self.client = client

    def put(self, key: str, fileobj: BinaryIO, content_type: str) -> None:
        # the file object itself, not its bytes: botocore streams a seekable
        # file, so an upload of hundreds of MB never sits in memory
        self.client.put_object(Bucket=self.bucket, Key=_check(key), Body=fileobj, ContentType=content_type)

    def _get(self, key: str) -> Any:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=_check(key))["Body"]
        except Exception as exc:
            # botocore's NoSuchKey is a ClientError whose response names the code;
            # inspected by shape so this module does not import botocore
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404"):
                raise FileNotFoundError(key) from None
            raise

    def read(self, key: str) -> bytes:
        return self._get(key).read()

    def stream(self, key: str) -> Iterator[bytes]:
        body = self._get(key)  # FileNotFoundError here, before the first piece

        def pieces() -> Iterator[bytes]:
            try:
                while chunk := body.read(_CHUNK):
                    yield chunk
            finally:
                close = getattr(body, "close", None)
                if callable(close):
                    close()

        return pieces()

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=_check(key))

    def local_path(self, key: str) -> Path | None:
        return None

    def public_url(self, key: str) -> str | None:
        return f"{self.base_url}/{_check(key)}" if self.base_url else None

    def close(self) -> None:
        close = getattr(self.client, "close", None)
        if callable(close):
            close()


def build_storage(settings: Settings, *, s3_client: Any = None) -> Storage:
    """The backend ``settings.media_storage`` names."""
    kind = settings.media_storage
    if kind == "local":
        return LocalStorage(Path(settings.data_dir) / "media")
    if kind == "s3":
        return S3Storage(
            settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            public_url=settings.s3_public_url,
            client=s3_client,
        )
    raise ConfigError(f"CLIENTNEST_MEDIA_STORAGE must be 'local' or 's3', not {kind!r}")


def storage_for(runtime: Any) -> Storage:
    """The runtime's storage backend, built on first use and kept in
    ``runtime.extras`` (closed with the runtime)."""
    storage = runtime.extras.get("storage")
    if storage is None:
        storage = runtime.extras.setdefault("storage", build_storage(runtime.settings))
    return storage
