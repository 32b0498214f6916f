"""CPU time per component, from /proc: where the time goes during a run."""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["CpuMeter"]

_TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def _pids_named(name: str) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "comm").read_text().strip() == name:
                    out.append(int(d.name))
            except OSError:
                pass
    return out


def _total_busy() -> float:
    """Busy CPU seconds of the whole machine (all cores)."""
    parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    vals = [int(x) for x in parts]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return (sum(vals[:8]) - idle) / _TICK


class CpuMeter:
    """CPU seconds spent by named groups of processes between start and stop.

    ``groups`` maps a label to pids; ``postgres`` and ``redis-server`` are
    found by name (their server processes, connection backends included while
    they live).
    """

    def __init__(self, groups: dict[str, Iterable[int]]) -> None:
        self.groups = {k: list(v) for k, v in groups.items()}
        self._start: dict[str, float] = {}
        self._pg_start: dict[int, float] = {}

    def _snapshot(self) -> tuple[dict[str, float], dict[int, float]]:
        snap = {k: sum(_proc_cpu(p) for p in pids) for k, pids in self.groups.items()}
        snap["redis"] = sum(_proc_cpu(p) for p in _pids_named("redis-server"))
        snap["machine"] = _total_busy()
        snap["bench process"] = _proc_cpu(os.getpid())
        pg = {p: _proc_cpu(p) for p in _pids_named("postgres")}
        return snap, pg

    def start(self) -> CpuMeter:
        self._start, self._pg_start = self._snapshot()
        return self

    def stop(self) -> dict[str, float]:
        end, pg_end = self._snapshot()
        out = {k: round(end[k] - self._start.get(k, 0.0), 2) for k in end}
        # backends that started during the run count from zero
        out["postgres"] = round(sum(v - self._pg_start.get(p, 0.0) for p, v in pg_end.items()), 2)
        return out
