"""The HTTP side of the connector: URLs, LinkedIn's headers, one request."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from clientnest.errors import AmbiguousError

from .errors import PLATFORM, classify_response, classify_transport_error
from .versions import default_api_version

__all__ = ["LinkedInClient", "RESTLI_PROTOCOL"]

RESTLI_PROTOCOL = "2.0.0"


class LinkedInClient:
    """Sends requests to LinkedIn and raises every failure classified.

    :param api_base: ``https://api.linkedin.com`` (or a proxy, or the sandbox).
    :param api_version: the ``LinkedIn-Version`` header (``YYYYMM``), or None to
        send :func:`~clientnest_linkedin.versions.default_api_version` of the day
        of each request (a long-running worker never drifts out of LinkedIn's window).
    :param timeout: seconds to wait for an answer (connecting: at most 10).
    :param retry_seconds: ``retry_at`` delay of a 429 without ``Retry-After``.
    """

    def __init__(self, api_base: str, api_version: str | None, timeout: float, retry_seconds: int) -> None:
        self.api_base = api_base.rstrip("/")
        self.pinned_version = api_version
        self.timeout = timeout
        self.retry_seconds = retry_seconds
        self._http = httpx.Client(follow_redirects=False)

    @property
    def api_version(self) -> str:
        """The ``LinkedIn-Version`` this request sends."""
        return self.pinned_version or default_api_version()

    def api(self, path: str, query: Sequence[tuple[str, str]] = ()) -> str:
        """An API URL. Query values must already be Rest.li-encoded (see
        :mod:`clientnest_linkedin.urns`): they are joined as given."""
        url = self.api_base + path
        if query:
            url += "?" + "&".join(f"{k}={v}" for k, v in query)
        return url

    @staticmethod
    def _timeout(seconds: float) -> httpx.Timeout:
        return httpx.Timeout(seconds, connect=min(10.0, seconds))

    def send(
        self,
        method: str,
        url: str,
        token: str | None,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        restli: bool = True,
    ) -> httpx.Response:
        """One request; a 2xx answer is returned, anything else raised classified.

        :param restli: add ``LinkedIn-Version`` and ``X-Restli-Protocol-Version``
            (every API call; not the upload URLs).
        """
        h: dict[str, str] = {}
        if restli:
            h["LinkedIn-Version"] = self.api_version
            h["X-Restli-Protocol-Version"] = RESTLI_PROTOCOL
        if token:
            h["Authorization"] = f"Bearer {token}"
        h.update(headers or {})
        try:
            response = self._http.request(method, url, json=json, content=content, headers=h,
                                          timeout=self._timeout(timeout or self.timeout))
        except httpx.TransportError as exc:
            raise classify_transport_error(exc) from exc
        if response.is_success:
            return response
        raise classify_response(response, default_retry_seconds=self.retry_seconds)

    def post_form(self, url: str, data: Mapping[str, str]) -> httpx.Response:
        """A form POST to an OAuth endpoint; any answer is returned (the caller
        classifies it with :func:`~clientnest_linkedin.errors.classify_oauth_response`)."""
        try:
            return self._http.post(url, data=dict(data), headers={"Accept": "application/json"},
                                   timeout=self._timeout(self.timeout))
        except httpx.TransportError as exc:
            raise classify_transport_error(exc) from exc

    @staticmethod
    def json(response: httpx.Response) -> dict[str, Any]:
        """The answer's JSON object (``{}`` for an empty body)."""
        try:
            data = response.json() if response.content else {}
        except ValueError:
            raise AmbiguousError(f"LinkedIn answered HTTP {response.status_code} with a body that is not JSON",
                                 platform=PLATFORM, status=response.status_code) from None
        return data if isinstance(data, dict) else {}

    def close(self) -> None:
        self._http.close()
