"""The conformance kit's pytest plugin.

Opt in with one line in the test module (or the root ``conftest.py``)::

    pytest_plugins = ["clientnest.testing.pytest_plugin"]

It provides the fixtures the classes made by
:func:`clientnest.testing.get_connector_test_class` use:

* ``clientnest_kit`` (per class): the sandbox served on a local port, the
  configured connector, the hook relay and a connected account;
* ``connector_kit`` (per test): the same, with every armed fault cleared
  before and after the test, so one failing check cannot leave a fault behind.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from .kit import REDIS_ENV, KitContext, KitSpec

__all__ = ["clientnest_kit", "connector_kit"]


def pytest_report_header(config: Any) -> str:
    where = os.environ.get(REDIS_ENV)
    return f"clientnest conformance kit: RQ worker checks {'on ' + where if where else f'skipped ({REDIS_ENV} unset)'}"


@pytest.fixture(scope="class")
def clientnest_kit(request: pytest.FixtureRequest) -> Iterator[KitContext]:
    spec = getattr(request.cls, "_clientnest_kit", None)
    if not isinstance(spec, KitSpec):
        pytest.fail("clientnest_kit serves the classes made by clientnest.testing.get_connector_test_class")
    with KitContext.open(spec) as ctx:
        yield ctx


@pytest.fixture
def connector_kit(clientnest_kit: KitContext) -> Iterator[KitContext]:
    clientnest_kit.sandbox.clear_faults()
    yield clientnest_kit
    clientnest_kit.sandbox.clear_faults()
