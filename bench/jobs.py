"""Jobs used only by the benchmarks."""
from __future__ import annotations

__all__ = ["noop"]


def noop(i: int) -> None:
    """Does nothing: the throughput ceiling of RQ itself on this machine."""
    return None
