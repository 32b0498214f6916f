"""The OpenAPI document is valid, and what the probes answer is what it says."""
from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from clientnest.api.health.schemas import AliveSchema, ReadySchema


@pytest.fixture
def spec(client: Any) -> dict[str, Any]:
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    return r.get_json()


def test_the_openapi_document_is_valid(spec: dict[str, Any]) -> None:
    validate(spec)  # raises, naming the offending node, when it is not


def test_decimal_bounds_are_numbers(spec: dict[str, Any]) -> None:
    budget = spec["components"]["schemas"]["WorkspacePatch"]["properties"]["ai_budget_usd"]
    assert budget["minimum"] == 0 and isinstance(budget["maximum"], int | float)


def test_readyz_answers_what_its_documented_schema_allows(client: Any, spec: dict[str, Any]) -> None:
    op = spec["paths"]["/readyz"]["get"]
    for status in ("200", "503"):
        ref = op["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith("/Ready")
    assert "checks" in spec["components"]["schemas"]["Ready"]["properties"]
    assert "Retry-After" in op["responses"]["503"]["headers"]
    r = client.get("/readyz")
    assert r.status_code == 200
    assert ReadySchema().load(r.get_json()) == r.get_json()  # exactly the documented keys
    assert AliveSchema().load(client.get("/healthz").get_json()) == {"status": "ok"}
