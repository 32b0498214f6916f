"""Extensions created unbound and attached in ``create_app`` with ``init_app``."""
from __future__ import annotations

from typing import Any

from flask_smorest import Api as _Api
from werkzeug.exceptions import HTTPException

__all__ = ["api", "Api"]


def _first_error(errors: Any, path: tuple[str, ...] = ()) -> tuple[str, str] | None:
    """The first (dotted field path, message) in a marshmallow error tree."""
    if isinstance(errors, dict):
        for key, value in errors.items():
            found = _first_error(value, (*path, str(key)))
            if found:
                return found
    elif isinstance(errors, list) and errors:
        if all(isinstance(e, str) for e in errors):
            return ".".join(path), errors[0]
        return _first_error(errors[0], path)
    elif isinstance(errors, str):
        return ".".join(path), errors
    return None


class Api(_Api):
    """flask-smorest's Api whose every error carries a ``message``.

    Every error, 404/405/413 included, is ``{code, status, message, errors?}``;
    a validation error's message names the first offending field.
    """

    def handle_http_exception(self, error: HTTPException) -> Any:
        payload, code, headers = super().handle_http_exception(error)
        if "message" not in payload:
            found = _first_error(payload.get("errors"))
            if found:
                # webargs nests by location ("json", "query"); drop it in the message
                field = found[0].split(".", 1)[-1] if "." in found[0] else found[0]
                payload["message"] = f"invalid {field}: {found[1]}"
            else:
                payload["message"] = error.description or error.name
        return payload, code, headers


api = Api()
