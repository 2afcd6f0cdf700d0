"""The follow-up worklist: for every patient and every scheduled instrument × time point, its state today.

Pure: the cohort's tables, the study's time-point windows and a date in; plain rows out. A window is
the days ``[low, high]`` after surgery (both ends included) that the study definition gives the time point.

States, for a measurement that has no value yet:

``due``             the window is open today
``overdue``         the window has closed
``upcoming``        the window opens within ``upcoming_days`` days
``not applicable``  the patient died before the window closed (or was withdrawn)

and ``done`` when the measures table has a value. A window opening later than ``upcoming_days`` from
today is left out: nothing to do yet. Completeness per time point is done ÷ (done + overdue): windows
still open do not count against it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd

DONE, DUE, OVERDUE, UPCOMING, NOT_APPLICABLE = "done", "due", "overdue", "upcoming", "not applicable"
STATES = (OVERDUE, DUE, UPCOMING, NOT_APPLICABLE, DONE)  # the order a coordinator works in


@dataclass(frozen=True)
class Window:
    timepoint: str
    low: int  # days after surgery the window opens (negative: before surgery)
    high: int  # days after surgery it closes


@dataclass(frozen=True)
class WorkItem:
    study_id: str
    site: str
    instrument: str
    timepoint: str
    opens: str  # ISO dates
    closes: str
    state: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Completeness:
    instrument: str
    timepoint: str
    done: int
    expected: int  # done + overdue

    @property
    def percent(self) -> float | None:
        return 100.0 * self.done / self.expected if self.expected else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "percent": self.percent}


def _state(opens: date, closes: date, today: date, *, done: bool, death: date | None, upcoming_days: int) -> str | None:
    if done:
        return DONE
    if death is not None and death <= closes:
        return NOT_APPLICABLE
    if today > closes:
        return OVERDUE
    if today >= opens:
        return DUE
    if (opens - today).days <= upcoming_days:
        return UPCOMING
    return None


def worklist(
    patients: pd.DataFrame,
    measures: pd.DataFrame,
    schedule: Sequence[tuple[str, Window]],
    *,
    today: date,
    deaths: Mapping[str, date] | None = None,
    withdrawn: frozenset[str] = frozenset(),
    upcoming_days: int = 14,
) -> list[WorkItem]:
    """Every (patient, instrument, time point) of ``schedule`` whose state is not "later", by window close.

    ``patients`` needs ``study_id`` and ``surgery_date`` (ISO) and may have ``site``; ``measures`` the
    measures.csv layout; ``deaths`` maps study ids to death dates.
    """
    deaths = deaths or {}
    measured = set(zip(measures["study_id"], measures["instrument"], measures["timepoint"], strict=True)) \
        if not measures.empty else set()
    items = []
    for row in patients.itertuples(index=False):
        study_id = str(row.study_id)
        surgery = date.fromisoformat(str(row.surgery_date)[:10])
        site = str(getattr(row, "site", "") or "")
        for instrument, window in schedule:
            opens, closes = surgery + timedelta(days=window.low), surgery + timedelta(days=window.high)
            done = (study_id, instrument, window.timepoint) in measured
            state = NOT_APPLICABLE if study_id in withdrawn and not done else _state(
                opens, closes, today, done=done, death=deaths.get(study_id), upcoming_days=upcoming_days
            )
            if state is not None:
                items.append(WorkItem(study_id, site, instrument, window.timepoint, opens.isoformat(),
                                      closes.isoformat(), state))
    return sorted(items, key=lambda i: (STATES.index(i.state), i.closes, i.study_id, i.instrument))


def completeness(items: Sequence[WorkItem], schedule: Sequence[tuple[str, Window]]) -> list[Completeness]:
    """Done ÷ (done + overdue) per instrument × time point, in schedule order."""
    result = []
    for instrument, window in schedule:
        mine = [i for i in items if (i.instrument, i.timepoint) == (instrument, window.timepoint)]
        done = sum(i.state == DONE for i in mine)
        result.append(Completeness(instrument, window.timepoint, done, done + sum(i.state == OVERDUE for i in mine)))
    return result
