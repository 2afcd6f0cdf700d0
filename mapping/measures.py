"""Repeated measures: one value per instrument and timepoint window (see docs/mapping.md).

1. Same instrument, same local day: one value is kept. Equal values are a duplicate; different values are
   a conflict: the higher status wins (amended/corrected > final > unknown > preliminary), then the later
   time of day, then the resource id. Every dropped value is logged.
2. Each timepoint takes, among the kept values in its window (days from surgery), the latest (rule
   ``latest``) or the one closest to its target day (rule ``closest``; a tie goes to the earlier day).
   Other values in the window are logged as not selected; values in no window are logged too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import date
from typing import NamedTuple

from config.study import TimepointWindow
from mapping import reasons

Log = Callable[[str, str, str], None]  # (resource id, field, reason)
PRELIMINARY = 0


class Candidate(NamedTuple):
    rid: str
    day: date
    minute: int
    rank: int  # status rank, see mapping.statuses.OBSERVATION_RANK
    value: float


class Selected(NamedTuple):
    timepoint: str
    candidate: Candidate
    days: int


def select(
    candidates: list[Candidate], surgery: date, windows: Mapping[str, TimepointWindow], log: Log
) -> list[Selected]:
    """The value of each timepoint for one patient and instrument, in window order."""
    kept = _one_per_day(candidates, log)
    out: list[Selected] = []
    placed: set[str] = set()
    for window in windows.values():
        inside = [(c, (c.day - surgery).days) for c in kept if window.low <= (c.day - surgery).days <= window.high]
        if not inside:
            continue
        if window.rule == "latest":
            best = max(inside, key=lambda item: (item[1], item[0].minute))
        else:
            target = window.target or 0
            best = min(inside, key=lambda item: (abs(item[1] - target), item[1], item[0].minute))
        out.append(Selected(window.name, best[0], best[1]))
        placed.update(c.rid for c, _ in inside)
        for other, _ in inside:
            if other is not best[0]:
                log(other.rid, "effective[x]", reasons.NOT_SELECTED.format(window.name))
        if best[0].rank == PRELIMINARY:
            log(best[0].rid, "status", reasons.PRELIMINARY_USED)
    for candidate in kept:
        if candidate.rid not in placed:
            log(candidate.rid, "effective[x]", reasons.OUTSIDE_WINDOWS)
    return out


def _one_per_day(candidates: list[Candidate], log: Log) -> list[Candidate]:
    by_day: dict[date, list[Candidate]] = defaultdict(list)
    for candidate in candidates:
        by_day[candidate.day].append(candidate)
    kept: list[Candidate] = []
    for day in sorted(by_day):
        group = sorted(by_day[day], key=lambda c: (-c.rank, -c.minute, c.rid))
        best = group[0]
        kept.append(best)
        for other in group[1:]:
            log(other.rid, "value[x]", _dropped_reason(best, other))
    return kept


def _dropped_reason(best: Candidate, other: Candidate) -> str:
    if other.value == best.value:
        return reasons.DUPLICATE_VALUE
    if other.rank < best.rank:
        return reasons.SUPERSEDED
    return reasons.SAME_DAY_CONFLICT
