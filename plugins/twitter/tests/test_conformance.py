"""The X connector passes the conformance kit against its sandbox."""
from __future__ import annotations

from clientnest.testing import get_connector_test_class
from clientnest_twitter import TwitterConnector
from clientnest_twitter.sandbox import TwitterSandbox

pytest_plugins = ["clientnest.testing.pytest_plugin"]

TestTwitterConformance = get_connector_test_class(TwitterConnector, sandbox=TwitterSandbox)
