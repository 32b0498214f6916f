"""The one HTTP path to X: every request goes through :meth:`XClient.request`,
which hands every failure to :mod:`.errors` to be classified."""
from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

import httpx

from clientnest.errors import AmbiguousError, AuthError

from .errors import PLATFORM, classify_response, classify_transport

__all__ = ["XClient"]

# what an OAuth 2.0 bearer token can hold and an HTTP header can carry
_TOKEN = re.compile(r"[\x21-\x7e]+")


def _bearer(token: str) -> dict[str, str]:
    """The Authorization header for ``token``. A token that cannot be sent in
    a header is the account's credentials being wrong (reconnect), and is
    never repeated in the error: httpx's own errors would quote it."""
    if not _TOKEN.fullmatch(token):
        raise AuthError("the stored X access token has characters an HTTP header cannot carry; "
                        "reconnect the account", platform=PLATFORM)
    return {"Authorization": f"Bearer {token}"}


class XClient:
    """A thin, thread-safe wrapper of :class:`httpx.Client` with bounded timeouts.

    :param api_base: e.g. ``https://api.x.com`` (a proxy or a sandbox in tests).
    :param upload_base: where ``/2/media/upload`` lives.
    :param timeout: read/write timeout, seconds.
    :param connect_timeout: connect and pool timeout, seconds.
    :param transport: an httpx transport (replay tests); default: the network.
    """

    def __init__(
        self,
        *,
        api_base: str,
        upload_base: str,
        timeout: float,
        connect_timeout: float,
        user_agent: str,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.upload_base = upload_base.rstrip("/")
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout, pool=connect_timeout)
        self._user_agent = user_agent
        self._transport = transport
        self._http: httpx.Client | None = None
        self._lock = threading.Lock()

    def _client(self) -> httpx.Client:
        if self._http is None:
            with self._lock:
                if self._http is None:
                    self._http = httpx.Client(
                        timeout=self._timeout,
                        transport=self._transport,
                        headers={"User-Agent": self._user_agent},
                        follow_redirects=False,
                    )
        return self._http

    def url(self, path: str, *, upload: bool = False) -> str:
        return (self.upload_base if upload else self.api_base) + path

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        upload: bool = False,
        oauth: bool = False,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request; return the 2xx response or raise a classified error."""
        headers = _bearer(token) if token else None
        try:
            response = self._client().request(
                method, self.url(path, upload=upload), params=params, json=json, data=data,
                files=files, headers=headers, auth=auth,
            )
        except httpx.TransportError as exc:
            raise classify_transport(exc) from None
        error = classify_response(response, oauth=oauth)
        if error is not None:
            raise error
        return response

    def request_json(self, method: str, path: str, **kw: Any) -> Any:
        """:meth:`request`, decoded. A 2xx whose body is not JSON is ambiguous:
        X may have acted, and we cannot read what it did."""
        response = self.request(method, path, **kw)
        if response.status_code == 204 or not response.content:
            return {}
        try:
            return response.json()
        except ValueError:
            raise AmbiguousError(
                f"X answered {method} {path} with HTTP {response.status_code} and a body that is not JSON",
                platform=PLATFORM, status=response.status_code,
            ) from None

    def close(self) -> None:
        with self._lock:
            if self._http is not None:
                self._http.close()
                self._http = None
