"""The WSGI app gunicorn serves in the API benchmark: the real app factory,
plus the fake platform's connector so posts can target its accounts."""
from __future__ import annotations

from clientnest.api import create_app
from clientnest.runtime import build_runtime
from clientnest.settings import load_settings
from clientnest.testing import fake_platform

app = create_app(runtime=build_runtime(load_settings(), extra_plugins=[("fake", fake_platform.plugin)]))
