from __future__ import annotations

from importlib import metadata

from clientnest.plugins import build_plugin_host
from clientnest.settings import Settings


def test_entry_point_loads_the_linkedin_connector() -> None:
    eps = [ep for ep in metadata.entry_points(group="clientnest") if ep.name == "linkedin"]
    assert len(eps) == 1
    host = build_plugin_host(Settings(plugins=("linkedin",)))
    assert host.platforms() == ["linkedin"]
    info = host.plugins["linkedin"]
    assert info.enabled and info.error is None
    assert info.kind == "connector"
    assert info.distribution == "clientnest-linkedin"
    assert "clientnest_register_connectors" in info.hooks
