"""Retention: old run folders (raw snapshots with identifiable data) are removed from the private folder.

A run folder is kept while it is among the newest ``keep_runs`` and, when ``keep_days`` is set, younger
than ``keep_days`` days. The runs in ``keep`` (the run in progress, the published last good run) are
never removed, whatever their age.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

from service.layout import Layout, is_run_id


def _started(run_id: str) -> datetime:
    return datetime.strptime(run_id[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def prune_runs(layout: Layout, keep: set[str], now: datetime | None = None) -> list[str]:
    """Remove the run folders past the retention limits; returns the run ids removed, oldest first."""
    if not layout.runs_dir.is_dir():
        return []
    runs = sorted((p.name for p in layout.runs_dir.iterdir() if p.is_dir() and is_run_id(p.name)), reverse=True)
    oldest_kept = (now or datetime.now(UTC)) - timedelta(days=layout.keep_days) if layout.keep_days else None
    removed = []
    for rank, run_id in enumerate(runs):
        too_many = rank >= layout.keep_runs
        too_old = oldest_kept is not None and _started(run_id) < oldest_kept
        if (too_many or too_old) and run_id not in keep:
            shutil.rmtree(layout.runs_dir / run_id)
            removed.append(run_id)
    return sorted(removed)
