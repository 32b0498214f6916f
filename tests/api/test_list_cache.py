"""The in-process posts list cache is bounded by bytes and lets pages go
when their TTL has passed (the report: 600 MB from 64 query strings of one
workspace, kept past the TTL). A fake clock: no sleeping, no timing."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from clientnest.api.posts.list_cache import MemoryListCache, list_cache
from clientnest.settings import load_settings

KB = 1024


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bounded_by_bytes_oldest_page_first() -> None:
    c = MemoryListCache(60, max_bytes=100 * KB, clock=Clock())
    page = b"x" * (10 * KB)
    for i in range(64):  # the report's 64 query strings of one workspace
        c.put(1, f"q={i}", page)
        assert c.size <= 100 * KB
    assert c.size == 100 * KB and len(c) == 10
    assert c.get(1, "q=53") is None and c.get(1, "q=54") == page and c.get(1, "q=63") == page
    c.put(2, "a", b"y" * (25 * KB))  # another workspace's page pushes out the oldest three
    assert c.size == 95 * KB and c.get(1, "q=56") is None and c.get(1, "q=57") == page
    c.put(1, "q=63", b"z")  # the same page again replaces, never doubles
    assert c.get(1, "q=63") == b"z" and c.size == 85 * KB + 1
    c.put(3, "huge", b"h" * (101 * KB))  # larger than the whole budget: not kept, nothing evicted
    assert c.get(3, "huge") is None and c.size == 85 * KB + 1
    c.forget(1)
    assert c.size == 25 * KB and len(c) == 1 and c.get(2, "a") is not None


def test_pages_leave_when_their_ttl_passes() -> None:
    clock = Clock()
    c = MemoryListCache(1.0, max_bytes=10 * 1024 * KB, clock=clock)
    for i in range(64):
        c.put(1, f"q={i}", b"p" * KB)
    clock.now += 0.5
    c.put(2, "fresh", b"f" * KB)
    assert c.get(1, "q=0") is not None and len(c) == 65
    clock.now += 0.6  # workspace 1's pages are 1.1 s old, workspace 2's 0.6 s
    assert c.get(1, "q=0") is None
    assert len(c) == 1 and c.size == KB  # released, not just hidden
    assert c.get(2, "fresh") == b"f" * KB
    clock.now += 2
    c.put(3, "other", b"o")  # any use drops what expired
    assert len(c) == 1 and c.size == 1


def test_runtime_cache_takes_the_byte_budget_from_settings(runtime: Any) -> None:
    assert load_settings(env={"CLIENTNEST_POSTS_LIST_CACHE_MAX_BYTES": "12345"}).posts_list_cache_max_bytes == 12345
    if runtime.settings.redis_url:
        return  # Redis keeps the pages (each workspace's hash expires with its TTL)
    runtime.settings = replace(runtime.settings, posts_list_cache_max_bytes=4096)
    runtime.extras.pop("posts_list_cache", None)
    cache = list_cache(runtime)
    assert isinstance(cache, MemoryListCache) and cache.max_bytes == 4096
