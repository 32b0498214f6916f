"""The analytics job functions: module-level, taking ids (RQ and the embedded runner)."""
from __future__ import annotations

from typing import Any

from ..queue import job_runtime

__all__ = ["collect_account_metrics"]


def collect_account_metrics(collection_id: int) -> dict[str, Any]:
    """Fetch one account's own figures (``clientnest_fetch_account_metrics``) and store a snapshot."""
    from .collect import run_collection

    return run_collection(job_runtime(), int(collection_id))
