"""Plain bad input gets a 4xx JSON error naming the field and the rule,
never a 500 (DESIGN invariant 6), and nothing stored is lost.

Most tests here are driven by the OpenAPI document: every string, integer
and date-time a request takes is tried with a value the database or Python
cannot hold, so a field added later is covered without a new test.
"""
from __future__ import annotations

import importlib
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select

from clientnest.api.app import BLUEPRINTS
from clientnest.connector import Credentials
from clientnest.models import Post, SocialAccount, User
from clientnest.services.accounts import store_credentials

LONE_SURROGATE = "ok \ud800 ok"
NUL = "ok \x00 ok"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # every id column is a BIGINT
TOO_BIG = 2**64
EDGE_DATETIME = "9999-12-31T23:59:59-14:00"  # year 10000 in UTC
EDGE_DAY = "9999-12-31"  # its next day, or its end in a zone behind UTC, is beyond year 9999


# -- the OpenAPI document, walked -------------------------------------------------------------

@pytest.fixture
def spec(client: Any) -> dict[str, Any]:
    return client.get("/api/v1/openapi.json").get_json()


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method in ("get", "post", "put", "patch", "delete"):
                # path parameters are listed once for the path, the others per operation
                yield method, path, {**op, "parameters": [*ops.get("parameters", []), *op.get("parameters", [])]}


def _json_body(spec: dict[str, Any], op: dict[str, Any]) -> dict[str, Any] | None:
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    schema = _resolve(spec, content["application/json"]["schema"])
    return schema if schema.get("properties") else None


def _leaves(spec: dict[str, Any], schema: dict[str, Any], path: tuple[str, ...] = ()) -> Iterator[
    tuple[tuple[str, ...], dict[str, Any], bool]
]:
    """(field path, its schema, inside an array) of every scalar property, nested objects included."""
    for name, prop in schema.get("properties", {}).items():
        prop = _resolve(spec, prop)
        if prop.get("type") == "object" and prop.get("properties"):
            yield from _leaves(spec, prop, (*path, name))
        elif prop.get("type") == "array":
            item = _resolve(spec, prop.get("items", {}))
            if item.get("type") == "object":
                continue  # e.g. slots: covered by the leaves of its own schema elsewhere
            yield (*path, name), item, True
        else:
            yield (*path, name), prop, False


def _nest(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    body: Any = value
    for name in reversed(path):
        body = {name: body}
    return body


def _url(path: str, member: Any) -> str:
    """A concrete URL: the member's workspace, 1 for any other id, twitter for a platform."""
    path = path.replace("{wid}", str(member.workspace_id))
    path = re.sub(r"\{(platform|name)\}", "twitter", path)
    return re.sub(r"\{[a-z_]+\}", "1", path)


def _assert_names(r: Any, field: str, rule: str) -> None:
    assert r.status_code == 422, (field, r.status_code, r.get_data(as_text=True)[:300])
    body = r.get_json()
    assert body["code"] == 422 and body["status"] == "Unprocessable Entity"
    assert field in body["message"] and rule in body["message"], body["message"]
    assert set(body) <= {"code", "status", "message", "errors"}


def _error_fields(body: dict[str, Any]) -> set[str]:
    """Dotted paths of the fields in a validation error's ``errors`` (location dropped)."""
    out: set[str] = set()

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, (*path, str(k)))
        else:
            out.add(".".join(path[1:]))

    walk(body.get("errors", {}), ())
    return out


def _assert_field_error(r: Any, field: str, rule: str) -> None:
    """A 422 whose ``errors`` name ``field`` (dotted) with a message saying ``rule``."""
    assert r.status_code == 422, (field, r.status_code, r.get_data(as_text=True)[:300])
    node: Any = next(iter(r.get_json()["errors"].values()))  # under its location
    for part in field.split("."):
        node = node[part]
    assert any(rule in m for m in node), node


def _send(client: Any, method: str, url: str, member: Any, body: Any) -> Any:
    # serialised by hand: the lone surrogates travel as JSON's \ud800 escapes
    return client.open(url, method=method.upper(), data=json.dumps(body), content_type="application/json",
                       headers=member.headers)


# -- 2, 3: lone surrogates and NUL in every text field ---------------------------------------

@pytest.mark.parametrize(("bad", "rule"), [(LONE_SURROGATE, "surrogate"), (NUL, "NUL")])
def test_every_text_field_of_every_json_body_refuses_unstorable_text(
    client: Any, register: Any, spec: dict[str, Any], bad: str, rule: str,
) -> None:
    member = register()
    tried = 0
    for method, path, op in _operations(spec):
        schema = _json_body(spec, op)
        if schema is None or "webhooks" in path:
            continue
        for field, prop, in_array in _leaves(spec, schema):
            if prop.get("type") != "string":
                continue
            r = _send(client, method, _url(path, member), member, _nest(field, [bad] if in_array else bad))
            _assert_names(r, ".".join(field), rule)
            tried += 1
    assert tried >= 20  # register name, token label, post text, brand voice, AI brief ...


@pytest.mark.parametrize(("bad", "rule"), [(LONE_SURROGATE, "surrogate"), (NUL, "NUL")])
def test_keys_and_pass_through_values_are_checked_too(client: Any, register: Any, bad: str, rule: str) -> None:
    member = register()
    url = f"/api/v1/workspaces/{member.workspace_id}/accounts"
    r = _send(client, "post", url, member, {"platform": "twitter", "credentials": {"access_token": "t", bad: "x"}})
    assert r.status_code == 422 and rule in r.get_json()["message"]
    r = _send(client, "post", url, member,
              {"platform": "twitter", "credentials": {"access_token": "t", "extra": {"page": [bad]}}})
    _assert_names(r, "credentials.extra.page.0", rule)
    # the error names the key without sending the bad character back
    assert "\\u" in json.dumps(client.post(url, data=json.dumps({bad: 1}), content_type="application/json",
                                           headers=member.headers).get_json()["errors"])


def test_nul_in_query_strings_is_refused(client: Any, register: Any, spec: dict[str, Any]) -> None:
    member = register()
    tried = 0
    for method, path, op in _operations(spec):
        if method != "get" or "webhooks" in path:
            continue
        for p in op.get("parameters", []):
            if p["in"] == "query" and _resolve(spec, p.get("schema", {})).get("type") == "string":
                r = client.get(_url(path, member), query_string={p["name"]: NUL}, headers=member.headers)
                assert r.status_code in (400, 422), (path, p["name"], r.status_code)
                tried += 1
    assert tried >= 8


def test_register_name_with_nul_stores_nothing(client: Any, runtime: Any) -> None:
    r = client.post("/api/v1/auth/register", json={
        "email": "nul@example.com", "password": "correct horse battery", "workspace_name": "W", "name": NUL})
    _assert_names(r, "name", "NUL")
    with runtime.db.session() as s:
        assert s.scalar(select(func.count()).select_from(User)) == 0


def test_idempotency_key_with_nul_is_refused(client: Any, register: Any) -> None:
    member = register()
    r = client.post(f"/api/v1/workspaces/{member.workspace_id}/posts", json={"account_ids": [1], "text": "x"},
                    headers={**member.headers, "Idempotency-Key": "k\x00"})
    assert r.status_code == 422 and "Idempotency-Key" in r.get_json()["message"]


# -- 1: integers beyond 64 bits -----------------------------------------------------------------

def test_every_integer_a_request_takes_is_documented_as_64_bit(spec: dict[str, Any]) -> None:
    """The guard for fields added later: each uses the bounded Integer field
    (clientnest.api.fields), which documents its bounds."""
    found = []
    for _method, path, op in _operations(spec):
        schema = _json_body(spec, op)
        leaves = list(_leaves(spec, schema)) if schema else []
        leaves += [((p["name"],), _resolve(spec, p.get("schema", {})), False)
                   for p in op.get("parameters", []) if p["in"] == "query"]
        for field, prop, _ in leaves:
            if prop.get("type") == "integer":
                found.append((path, field))
                assert INT64_MIN <= prop.get("minimum", INT64_MIN - 1) and prop.get("maximum", INT64_MAX + 1) <= INT64_MAX, (
                    path, field, prop)
    assert len(found) >= 10


def test_integers_beyond_64_bits_in_bodies_and_queries_are_422(
    client: Any, register: Any, spec: dict[str, Any],
) -> None:
    member = register()
    tried = 0
    for method, path, op in _operations(spec):
        schema = _json_body(spec, op)
        for field, prop, in_array in (_leaves(spec, schema) if schema else ()):
            if prop.get("type") == "integer":
                r = _send(client, method, _url(path, member), member, _nest(field, [TOO_BIG] if in_array else TOO_BIG))
                assert r.status_code == 422, (path, field, r.status_code)
                assert ".".join(field) + (".0" if in_array else "") in _error_fields(r.get_json())
                tried += 1
        for p in op.get("parameters", []):
            if p["in"] == "query" and _resolve(spec, p.get("schema", {})).get("type") == "integer":
                r = client.get(_url(path, member), query_string={p["name"]: str(TOO_BIG)}, headers=member.headers)
                assert r.status_code == 422, (path, p["name"], r.status_code)
                assert p["name"] in _error_fields(r.get_json())
                tried += 1
    assert tried >= 10


def test_the_examples_of_the_issue(client: Any, register: Any) -> None:
    member = register()
    base = f"/api/v1/workspaces/{member.workspace_id}"
    r = client.get(f"{base}/posts", query_string={"cursor": "9999999999999999999"}, headers=member.headers)
    _assert_names(r, "cursor", "not a cursor")
    r = client.get(f"{base}/comments", query_string={"cursor": "9999999999999999999"}, headers=member.headers)
    _assert_names(r, "cursor", "not a cursor")
    r = client.post(f"{base}/posts", json={"account_ids": [99999999999999999999999], "text": "x"},
                    headers=member.headers)
    _assert_names(r, "account_ids.0", "64-bit")


def test_ids_beyond_64_bits_in_the_path_are_401_then_404(client: Any, register: Any, spec: dict[str, Any]) -> None:
    member = register()
    big = str(2**63)
    tried = 0
    for method, path, op in _operations(spec):
        names = re.findall(r"\{([a-z_]+)\}", path)
        ints = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"
                and _resolve(spec, p.get("schema", {})).get("type") == "integer"]
        for name in ints:
            url = path
            for other in names:
                value = big if other == name else (str(member.workspace_id) if other == "wid" else "1")
                url = url.replace("{" + other + "}", value if other in ints else "twitter")
            for headers in ({}, {"Authorization": "Bearer cn_not-a-token"}):
                r = client.open(url, method=method.upper(), headers=headers, json={})
                assert r.status_code == 401, (method, url, r.status_code)
            r = client.open(url, method=method.upper(), headers=member.headers, json={})
            assert r.status_code == 404, (method, url, r.status_code, r.get_json())
            assert big in r.get_json()["message"]
            tried += 1
    assert tried >= 25


def test_an_out_of_range_workspace_is_a_plain_404(client: Any, register: Any) -> None:
    member = register()
    r = client.get("/api/v1/workspaces/9223372036854775808", headers=member.headers)
    assert r.status_code == 404
    assert r.get_json() == {"code": 404, "status": "Not Found", "message": "workspace 9223372036854775808 not found"}
    assert client.get("/api/v1/workspaces/9223372036854775808").status_code == 401


# -- 4: date-times at the edge of the range ---------------------------------------------------------

def test_every_date_time_a_request_takes_refuses_the_edge_of_the_range(
    client: Any, register: Any, spec: dict[str, Any],
) -> None:
    member = register()
    tried = 0
    for method, path, op in _operations(spec):
        schema = _json_body(spec, op)
        for field, prop, in_array in (_leaves(spec, schema) if schema else ()):
            if prop.get("format") == "date-time":
                body = _nest(field, EDGE_DATETIME)
                if path.endswith("/auth/tokens"):
                    body.update(email=member.email, password=member.password, label="edge")
                r = _send(client, method, _url(path, member), member, body)
                _assert_field_error(r, ".".join(field), "out of range")
                tried += 1
        for p in op.get("parameters", []):
            if p["in"] == "query" and p["name"] in ("from", "to"):
                # a day (analytics: days in the workspace's zone) or a date-time
                edge = EDGE_DAY if p.get("schema", {}).get("format") == "date" else EDGE_DATETIME
                r = client.get(_url(path, member), query_string={p["name"]: edge}, headers=member.headers)
                _assert_names(r, p["name"], "out of range")
                tried += 1
    assert tried >= 7  # scheduled_at (create, update), expires_at (token, credentials), from/to (posts, AI usage)


def test_date_times_inside_the_range_still_work(client: Any, register: Any, runtime: Any) -> None:
    member = register()
    base = f"/api/v1/workspaces/{member.workspace_id}"
    r = client.post("/api/v1/auth/tokens", json={"email": member.email, "password": member.password, "label": "far",
                                                 "expires_at": "9998-12-31T09:59:59-14:00"})
    assert r.status_code == 201, r.get_json()
    r = client.get(f"{base}/posts", query_string={"from": "1900-01-01T00:00:00+00:00",
                                                  "to": "9998-12-31T09:59:59-14:00"}, headers=member.headers)
    assert r.status_code == 200
    r = client.get(f"{base}/ai/usage", query_string={"from": "9998-06-01", "to": "9998-12-31"}, headers=member.headers)
    assert r.status_code == 200, r.get_json()
    account = _account(runtime, member.workspace_id, "facebook")
    r = client.post(f"{base}/posts", json={"account_ids": [account], "text": "far away",
                                           "scheduled_at": "9998-12-31T23:59:59+00:00"}, headers=member.headers)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["scheduled_at"] == "9998-12-31T23:59:59+00:00"


def _account(runtime: Any, wid: int, platform: str) -> int:
    with runtime.db.transaction() as s:
        acc = SocialAccount(workspace_id=wid, platform=platform, external_id=uuid.uuid4().hex,
                            display_name=platform, status="connected")
        store_credentials(s, runtime.vault, acc, Credentials(access_token="secret-" + uuid.uuid4().hex))
        s.flush()
        return acc.id


# -- 5: credentials an HTTP header cannot carry ------------------------------------------------------

@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"sandbox": True}  # the connectors are configured, pointed at their sandboxes


@pytest.mark.parametrize("token", ["\U0001F600", "SECRET-tok\n", "SECRET tok", "SECRET\u00e9"])
def test_a_token_an_http_header_cannot_carry_is_422_and_never_echoed(
    client: Any, register: Any, token: str, caplog: pytest.LogCaptureFixture,
) -> None:
    member = register()
    for field in ("access_token", "refresh_token"):
        credentials = {"access_token": "ok-token", field: token}
        r = client.post(f"/api/v1/workspaces/{member.workspace_id}/accounts", headers=member.headers,
                        json={"platform": "twitter", "credentials": credentials})
        _assert_names(r, f"credentials.{field}", "HTTP header")
        assert token not in r.get_data(as_text=True) and "SECRET" not in r.get_data(as_text=True)
    assert "SECRET" not in caplog.text


# -- 9: a JSON body with another content type -------------------------------------------------

@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_every_json_route_answers_415_to_another_content_type(
    client: Any, register: Any, spec: dict[str, Any], content_type: str | None,
) -> None:
    member = register()
    tried = 0
    for method, path, op in _operations(spec):
        if _json_body(spec, op) is None or "webhooks" in path:
            continue
        assert "415" in op["responses"], (method, path)
        headers = dict(member.headers)
        if content_type:
            headers["Content-Type"] = content_type
        r = client.open(_url(path, member), method=method.upper(), data=b'{"text": "hello"}', headers=headers)
        assert r.status_code == 415, (method, path, r.status_code, r.get_json())
        body = r.get_json()
        assert body["code"] == 415 and "application/json" in body["message"]
        tried += 1
    assert tried >= 15


def test_an_empty_body_with_no_content_type_is_still_a_validation_error(client: Any, register: Any) -> None:
    member = register()
    r = client.post(f"/api/v1/workspaces/{member.workspace_id}/posts", headers=member.headers)
    _assert_names(r, "account_ids", "Missing data")


def test_every_blueprint_parses_with_the_shared_parser() -> None:
    from clientnest.api.extensions import Blueprint

    for name in BLUEPRINTS:
        blp = importlib.import_module(f"clientnest.api.{name}.routes").blp
        assert isinstance(blp, Blueprint), name


# -- 10: idempotency compares the request as loaded ----------------------------------------------

def test_idempotency_treats_defaults_spelt_out_as_the_same_request(client: Any, register: Any, runtime: Any) -> None:
    member = register()
    account = _account(runtime, member.workspace_id, "facebook")
    url = f"/api/v1/workspaces/{member.workspace_id}/posts"
    headers = {**member.headers, "Idempotency-Key": "same-request"}
    first = client.post(url, json={"account_ids": [account], "text": "hi",
                                   "scheduled_at": "2031-01-01T10:00:00+01:00"}, headers=headers)
    assert first.status_code == 201, first.get_json()
    again = client.post(url, json={"account_ids": [account], "text": "hi", "media_ids": [], "thread": [],
                                   "publish_now": False, "scheduled_at": "2031-01-01T09:00:00Z"}, headers=headers)
    assert again.status_code == 201, again.get_json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json() == first.get_json()
    other = client.post(url, json={"account_ids": [account], "text": "hi!"}, headers=headers)
    assert other.status_code == 409
    with runtime.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Post)) == 1


# -- 11: the database unreachable -------------------------------------------------------------------

@pytest.fixture
def database_down(runtime: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the app at a database that cannot be reached: a closed port on
    PostgreSQL, a file in a folder that does not exist on SQLite."""
    if runtime.db.dialect == "postgresql":
        url = runtime.db.engine.url.set(port=1)
        engine = create_engine(url, connect_args={"connect_timeout": 2})
    else:
        engine = create_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")
    from sqlalchemy.orm import sessionmaker

    monkeypatch.setattr(runtime.db, "engine", engine)
    monkeypatch.setattr(runtime.db, "Session", sessionmaker(engine, expire_on_commit=False))


def test_database_down_is_503_with_retry_after(client: Any, register: Any, runtime: Any, request: Any) -> None:
    member = register()
    account = _account(runtime, member.workspace_id, "facebook")
    url = f"/api/v1/workspaces/{member.workspace_id}/posts"
    assert client.get(url, headers=member.headers).status_code == 200
    request.getfixturevalue("database_down")
    for r in (client.get(url, headers=member.headers),
              client.post(url, json={"account_ids": [account], "text": "x"}, headers=member.headers)):
        assert r.status_code == 503, r.get_json()
        assert r.headers["Retry-After"].isdigit()
        body = r.get_json()
        assert body["code"] == 503 and body["status"] == "Service Unavailable"
        assert "database" in body["message"]
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.headers["Retry-After"].isdigit()
    assert ready.get_json()["checks"]["database"].startswith("error")
