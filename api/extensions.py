"""Extensions created unbound and attached in ``create_app`` with ``init_app``,
and the request parser every blueprint uses.

Every resource's ``routes.py`` builds its blueprint from :class:`Blueprint`
here (a test holds them to it), so the rules below apply to every route:

- a JSON body sent with another content type is a 415 naming the type to
  send, not a "missing field" error about a body that was there;
- no string anywhere in a request (body, query, form; keys included) may
  hold a lone UTF-16 surrogate or a NUL: 422 naming the field, before any
  schema or service sees it (see :func:`clientnest.api.fields.text_problem`).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import marshmallow as ma
from flask import Request
from flask_smorest import Api as _Api
from flask_smorest import Blueprint as _Blueprint
from flask_smorest import abort
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from .fields import escape_bad_text, text_problem

__all__ = ["api", "Api", "Blueprint", "Parser", "JSON_LOCATIONS"]

#: argument locations read from a JSON body
JSON_LOCATIONS = frozenset({"json", "json_or_form"})


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


def _text_errors(value: Any) -> Any:
    """Marshmallow-shaped errors for every string in ``value`` (and every
    key) that :func:`text_problem` refuses; ``None`` when there is none."""
    if isinstance(value, str):
        problem = text_problem(value)
        return [problem] if problem else None
    if isinstance(value, MultiDict):
        value = {k: (vs[0] if len(vs) == 1 else vs) for k, vs in value.lists()}
    if isinstance(value, Mapping):
        errors: dict[Any, Any] = {}
        for k, v in value.items():
            key_problem = text_problem(k) if isinstance(k, str) else None
            found = [f"key {key_problem}"] if key_problem else _text_errors(v)
            if found:
                errors[escape_bad_text(k) if isinstance(k, str) else k] = found
        return errors or None
    if isinstance(value, (list, tuple)):
        items = {i: e for i, e in ((i, _text_errors(v)) for i, v in enumerate(value)) if e}
        return items or None
    return None


class Parser(FlaskParser):
    """webargs' Flask parser with the checks every request gets (see the module)."""

    def _raw_load_json(self, req: Request) -> Any:
        if not is_json_request(req):
            if req.get_data(cache=True):
                abort(415, message="the request body must be JSON: send it with 'Content-Type: application/json' "
                                   f"(got {req.mimetype or 'no Content-Type'!r})")
            return core.missing
        return super()._raw_load_json(req)

    def pre_load(self, location_data: Any, *, schema: ma.Schema, req: Request, location: str) -> Any:
        if location_data is core.missing:
            return location_data
        if isinstance(location_data, Mapping) and hasattr(location_data, "data"):
            raw = location_data.data  # webargs' MultiDictProxy: check every value, repeated ones too
        else:
            raw = location_data
        errors = _text_errors(raw)
        if errors:
            raise ma.ValidationError(errors)
        return location_data


class Blueprint(_Blueprint):
    """flask-smorest's Blueprint parsing arguments with :class:`Parser`; a
    JSON body's route documents the 415 it may answer."""

    ARGUMENTS_PARSER = Parser()

    def arguments(self, schema: Any, *, location: str = "json", **kwargs: Any) -> Callable[[Any], Any]:
        decorate = super().arguments(schema, location=location, **kwargs)
        if location not in JSON_LOCATIONS:
            return decorate

        def with_415(func: Any) -> Any:
            view = decorate(func)
            view._apidoc["arguments"]["responses"][415] = "UNSUPPORTED_MEDIA_TYPE"
            return view

        return with_415


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
