"""The connector conformance kit, run against the Instagram sandbox."""
from __future__ import annotations

from clientnest.testing import get_connector_test_class
from clientnest_instagram import InstagramConnector

pytest_plugins = ["clientnest.testing.pytest_plugin"]

TestInstagramConformance = get_connector_test_class(InstagramConnector)
