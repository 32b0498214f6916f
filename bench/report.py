"""bench/RESULTS.md from the measured results (placeholder, filled below)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_report(results: dict[str, Any], out: Path) -> None:
    out.write_text("```\n" + json.dumps(results, indent=2, default=str) + "\n```\n")
