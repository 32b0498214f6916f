"""Analytics: account figures collected daily, rollups maintained as snapshots
arrive, and the reads the analytics API serves.

* :mod:`.definitions`: the one vocabulary and each platform's definitions;
* :mod:`.tables`: snapshots of accounts, the daily collection rows, rollups;
* :mod:`.rollups`: keeps the rollups current as each snapshot is stored;
* :mod:`.collect` / :mod:`.jobs`: the daily collection per account, claimed by
  the follow-up sweep (the dispatcher's round) like every follow-up;
* :mod:`.retention`: raw snapshots kept for ``analytics_raw_retention_days``;
* :mod:`.queries`: summary, time series, top posts, account figures, export;
* :mod:`.best_times`: the best time to post from an account's own history;
* :mod:`.demo`: a deterministic 90-day history for the demo workspace.

This package imports nothing at import time, so :mod:`clientnest.models` can
load :mod:`.tables` without a cycle.
"""
from __future__ import annotations

__all__: list[str] = []
