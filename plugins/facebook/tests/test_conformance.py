"""The connector conformance kit, run against the Facebook sandbox."""
from __future__ import annotations

from clientnest.testing import get_connector_test_class
from clientnest_facebook import FacebookConnector

pytest_plugins = ["clientnest.testing.pytest_plugin"]

TestFacebookConformance = get_connector_test_class(FacebookConnector)
