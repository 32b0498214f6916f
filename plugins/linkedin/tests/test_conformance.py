"""The LinkedIn connector passes the conformance kit against its sandbox."""
from __future__ import annotations

from clientnest.testing import get_connector_test_class
from clientnest_linkedin import LinkedInConnector
from clientnest_linkedin.sandbox import LinkedInSandbox

pytest_plugins = ["clientnest.testing.pytest_plugin"]

# a fresh sandbox per class; video status is polled quickly
TestLinkedInConformance = get_connector_test_class(
    LinkedInConnector, sandbox=LinkedInSandbox, config={"video_poll_seconds": 0.01})
