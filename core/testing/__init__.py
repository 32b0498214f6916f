"""Testing helpers for ClientNest and its plugins.

* :func:`get_connector_test_class`: the connector conformance kit (opt in with
  ``pytest_plugins = ["clientnest.testing.pytest_plugin"]``; see
  ``docs/writing-a-connector.md``);
* :mod:`clientnest.testing.server`: ``serve(wsgi_app)`` runs a WSGI app (a
  sandbox, a fake platform) on a local port in a thread;
* :mod:`clientnest.testing.faults`: the control interface every sandbox
  implements (fault injection, reset, comments, metrics, tokens);
* :mod:`clientnest.testing.template`: ``create_connector_plugin`` writes a new,
  working connector plugin to start from.

Sandboxes import :mod:`.faults` at run time (the embedded mode mounts them),
so this package imports nothing that needs pytest until the kit is asked for.
"""
from __future__ import annotations

from typing import Any

__all__ = ["get_connector_test_class"]


def __getattr__(name: str) -> Any:
    if name == "get_connector_test_class":
        from .kit import get_connector_test_class

        return get_connector_test_class
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
