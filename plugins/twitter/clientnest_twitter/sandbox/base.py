"""What every route of the X sandbox shares: JSON answers with X's headers,
bearer-token checks with scopes and rate limits, and X's 400 envelope."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from . import shapes
from .store import Store, User

__all__ = ["Refuse", "RoutesBase", "parse_utc"]


class Refuse(Exception):
    """Answer with this response instead (raised deep inside a handler)."""

    def __init__(self, response: Response) -> None:
        self.response = response


def parse_utc(value: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(name) from None
    if moment.tzinfo is None:
        raise ValueError(name)
    return moment.astimezone(UTC)


class RoutesBase:
    """Helpers of the route mixins; :class:`~.app.TwitterSandbox` holds the state."""

    store: Store

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
        response = Response(json.dumps(body, ensure_ascii=False), status=status)
        for key, value in shapes.base_headers().items():
            response.headers[key] = value
        for key, value in (headers or {}).items():
            response.headers[key] = value
        return response

    def _auth(self, request: Request, endpoint: str, *scopes: str) -> tuple[User, dict[str, str]]:
        """The user behind the bearer token, and the rate headers to answer with."""
        header = request.headers.get("Authorization", "")
        token = self.store.bearer(header[7:].strip()) if header.startswith("Bearer ") else None
        if token is None:
            raise Refuse(self._json(401, shapes.UNAUTHORIZED))
        missing = [s for s in scopes if s not in token.scope.split()]
        if missing:
            raise Refuse(self._json(403, shapes.problem(
                403, "Forbidden", f"Missing scope(s) for this endpoint: {' '.join(missing)}")))
        limit = shapes.RATE_LIMITS.get(endpoint, 300)
        limit, remaining, reset = self.store.count(token.user_id, endpoint, limit)
        headers = shapes.rate_headers(limit, remaining, reset)
        if remaining < 0:
            raise Refuse(self._json(429, shapes.TOO_MANY_REQUESTS, headers))
        return self.store.users[token.user_id], headers

    def _bad(self, message: str, parameters: dict[str, list[str]] | None = None, headers: dict[str, str] | None = None) -> Refuse:
        return Refuse(self._json(400, shapes.invalid_request(message, parameters), headers))

    def _fields(self, request: Request, name: str, allowed: set[str]) -> set[str]:
        raw = request.args.get(name)
        if raw is None:
            return set()
        values = {v.strip() for v in raw.split(",") if v.strip()}
        unknown = sorted(values - allowed)
        if unknown:
            raise self._bad(
                f"The `{name}` query parameter value [{unknown[0]}] is not one of [{','.join(sorted(allowed))}]",
                {name: [raw]})
        return values

    def _int_param(self, request: Request, name: str, default: int, low: int, high: int) -> int:
        raw = request.args.get(name)
        if raw is None:
            return default
        if not raw.isdigit() or not low <= int(raw) <= high:
            raise self._bad(f"The `{name}` query parameter value [{raw}] is not between {low} and {high}", {name: [raw]})
        return int(raw)

