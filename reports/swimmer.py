"""The swimmer plot: one lane per patient (study id), months from surgery on the x-axis.

Each lane runs from the surgery (0) to the last contact; a dotted tail runs on to the data cut-off, so a
gap in follow-up shows at a glance. Progression (a study event of the study file's [events], at the time of
the first endpoint that counts it), death and the last contact of a living patient are marked. Complication
dates are not in cohort.csv: a complication is marked on its lane at its time when the cohort table has a
``<flag>_months`` or ``<flag>_days`` column, and otherwise listed by abbreviation at the end of the lane.
The figure's height is bounded, so a cohort of hundreds of patients still fits on one page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import matplotlib
import numpy as np
import pandas as pd

from config.study import StudyDefinition
from config.units import DAYS_PER_MONTH
from reports import labels
from reports.charts import ACCENT, BAND, INK, PATIENT, RC, new_figure, no_data, to_svg

LANE_IN = 0.2
MAX_HEIGHT_IN = 8.6
MAX_LABELLED = 80
DEATH = "death"


@dataclass(frozen=True)
class Lane:
    study_id: str
    followup: float
    potential: float | None  # months from surgery to the data cut-off
    progression: float | None
    death: float | None
    complications: tuple[tuple[str, float | None], ...]  # (flag, months or None when not timed)
    reoperations: tuple[float, ...] = ()  # months to a reoperation (``<flag>_months`` of cohort.csv)


def _number(row: pd.Series, column: str) -> float | None:
    value = pd.to_numeric(pd.Series([row.get(column)]), errors="coerce").iloc[0]
    return None if pd.isna(value) else float(value)


def _complication_time(row: pd.Series, name: str) -> float | None:
    months = _number(row, f"{name}_months")
    if months is not None:
        return months
    days = _number(row, f"{name}_days")
    return None if days is None else days / DAYS_PER_MONTH


@dataclass(frozen=True)
class LaneEndpoints:
    """The cohort.csv columns the lanes read: the endpoint a progression ends (``<name>_months``,
    ``<name>_event``; None: no progression is marked) and the 0/1 death column."""

    progression: tuple[str, str] | None = None
    death: str = DEATH


def lane_endpoints(study: StudyDefinition) -> LaneEndpoints:
    """The first endpoint of the study file whose events include a study event (a progression)."""
    found = next((e for e in study.endpoints.values() if set(e.events) & set(study.events)), None)
    return LaneEndpoints(found.columns if found else None)


def lanes(cohort: pd.DataFrame, cutoff: date | None, complications: Sequence[str],
          events: Sequence[str], reoperations: Sequence[str] = (), *,
          endpoints: LaneEndpoints | None = None) -> list[Lane]:
    """The lanes, earliest surgery first; patients without a follow-up time are left out. ``reoperations``:
    0/1 columns with a ``<flag>_months`` time (a revision), marked on the lane at that time. A death is
    marked at the last contact (the date of death); a progression at the time of ``endpoints.progression``
    (:func:`lane_endpoints`; none without it)."""
    endpoints = endpoints or LaneEndpoints()
    frame = cohort.copy()
    dates = frame["surgery_date"] if "surgery_date" in frame else pd.Series(pd.NaT, index=frame.index)
    frame["_surgery"] = pd.to_datetime(dates, errors="coerce")
    frame = frame.sort_values(["_surgery", "study_id"], na_position="last")
    out = []
    for _, row in frame.iterrows():
        followup = _number(row, "followup_months")
        if followup is None:
            continue
        surgery = row["_surgery"]
        potential = (
            None if cutoff is None or pd.isna(surgery) else (pd.Timestamp(cutoff) - surgery).days / DAYS_PER_MONTH
        )
        progression = None
        if endpoints.progression is not None:
            months, event = endpoints.progression
            if _number(row, event) == 1 and any(_number(row, e) == 1 for e in events):
                progression = _number(row, months)
        died = _number(row, endpoints.death) == 1
        flagged = tuple((c, _complication_time(row, c)) for c in complications if _number(row, c) == 1)
        times = [_number(row, f"{r}_months") for r in reoperations if _number(row, r) == 1]
        redone = tuple(t for t in times if t is not None)
        out.append(Lane(
            study_id=str(row["study_id"]),
            followup=followup,
            potential=potential,
            progression=progression,
            death=followup if died else None,
            complications=flagged,
            reoperations=redone,
        ))
    return out


def ticks_for(horizon: float) -> np.ndarray:
    """Every 3 months up to three years, then every 6 or 12."""
    step = 3.0 if horizon <= 36 else 6.0 if horizon <= 72 else 12.0
    return np.arange(0.0, horizon + step, step)


def swimmer_chart(lanes_: list[Lane]) -> str:
    """The swimmer plot as SVG (see the module docstring)."""
    n = len(lanes_)
    labelled = n <= MAX_LABELLED
    height = min(MAX_HEIGHT_IN, 0.95 + LANE_IN * max(n, 2)) if labelled else MAX_HEIGHT_IN
    horizon = max([1.0, *(lane.followup for lane in lanes_), *(lane.potential or 0.0 for lane in lanes_)])
    untimed = any(t is None for lane in lanes_ for _, t in lane.complications)
    right = horizon * (1.22 if untimed and labelled else 1.02)
    with matplotlib.rc_context(RC):
        fig = new_figure(height)
        ax = fig.subplots()
        thickness = 0.55 if labelled else 0.9
        for y, lane in enumerate(lanes_):
            _draw_lane(ax, y, lane, thickness=thickness, labelled=labelled, horizon=horizon)
        ax.set_ylim(n - 0.5 if n else 0.5, -0.6)
        if labelled:
            ax.set_yticks(range(n), [lane.study_id for lane in lanes_], fontsize=7 if n <= 25 else 6 if n <= 45 else 5)
        else:
            ax.set_yticks([])
            ax.set_ylabel(f"{n} patients, earliest surgery at the top")
        ticks = ticks_for(horizon)
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.set_xlim(-0.02 * horizon, right)
        ax.set_xlabel("Months after surgery")
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)
        ax.grid(axis="x", color="#e5e5e5", lw=0.5)
        ax.set_axisbelow(True)
        _legend(ax, any(lane.reoperations for lane in lanes_), any(lane.progression is not None for lane in lanes_))
        if not n:
            no_data(ax, "No patients")
        return to_svg(fig, "swimmer")


def _draw_lane(ax: Any, y: int, lane: Lane, *, thickness: float, labelled: bool, horizon: float) -> None:
    colour = INK if lane.death is None else "#555555"
    ax.barh(y, lane.followup, left=0, height=thickness, color=BAND, edgecolor=colour, lw=0.6)
    if lane.potential is not None and lane.death is None and lane.potential > lane.followup:
        ax.plot([lane.followup, lane.potential], [y, y], color=PATIENT, lw=0.9, ls=(0, (1.5, 1.5)))
    if lane.potential is not None and lane.death is None:
        ax.plot([lane.potential], [y], ls="none", marker="|", ms=7 if labelled else 3, mew=1.2, color="#333333")
    if lane.death is None:
        ax.plot([lane.followup], [y], ls="none", marker="o", ms=4 if labelled else 2, mfc="white", mec=INK, mew=0.9)
    else:
        ax.plot([lane.death], [y], ls="none", marker="X", ms=6 if labelled else 3, color="#111111")
    for redone in lane.reoperations:
        ax.plot([redone], [y], ls="none", marker="s", ms=4.5 if labelled else 2.5, mfc="white", mec=ACCENT, mew=1.1)
    if lane.progression is not None:
        ax.plot([lane.progression], [y], ls="none", marker="^", ms=5.5 if labelled else 3, color=ACCENT)
    untimed = []
    for name, onset in lane.complications:
        if onset is None:
            untimed.append(labels.abbreviation(name))
        else:
            ax.plot([onset], [y], ls="none", marker="D", ms=3.5 if labelled else 2, color=INK)
    if untimed and labelled:
        end = max(lane.followup, lane.potential or 0.0)
        ax.text(end + 0.015 * horizon, y, ", ".join(untimed), va="center", ha="left", fontsize=6, color="#333333")


def _legend(ax: Any, reoperation: bool, progression: bool = True) -> None:
    handles = [
        *([ax.plot([], [], ls="none", marker="s", ms=4.5, mfc="white", mec=ACCENT, mew=1.1,
                   label="Reoperation")[0]] if reoperation else []),
        *([ax.plot([], [], ls="none", marker="^", ms=5.5, color=ACCENT, label="Progression")[0]]
          if progression else []),
        ax.plot([], [], ls="none", marker="X", ms=6, color="#111111", label="Death")[0],
        ax.plot([], [], ls="none", marker="o", ms=4, mfc="white", mec=INK, label="Last contact (alive)")[0],
        ax.plot([], [], color=PATIENT, lw=0.9, ls=(0, (1.5, 1.5)), label="No contact yet")[0],
        ax.plot([], [], ls="none", marker="|", ms=7, mew=1.2, color="#333333", label="Data cut-off")[0],
    ]
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=5, borderaxespad=0.2,
              handletextpad=0.3, columnspacing=1.0)
