"""The change log: what is different in this run's cohort and measures from the previous successful run.

Patients are matched by study id (the pseudonym is stable from night to night). Each difference is put
in one bucket, so nothing is counted twice:

* new / removed patients;
* new events: a complication or event flag (or death) that is 1 now and was not 1 before, new patients
  included; retracted events: a flag that went from 1 to 0 (a correction in the source, worth a look);
* follow-up updated: the time columns (``*_months``: follow-up, each endpoint's and reoperation's time) moved,
  which happens every night as patients are seen; the endpoints' indicators (``*_event``) follow their sources;
* changed values: any other cohort field of a continuing patient, and any measure value at the same
  instrument and timepoint; new and removed measures are counted apart.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from config.errors import ReportError
from reports.inputs import COHORT, MEASURES, read_run_manifest

TIME_SUFFIX = "_months"
"""Time columns (follow-up, each endpoint's and reoperation's months) move every night as patients are seen."""
DERIVED_SUFFIX = "_event"
"""An endpoint's event indicator follows its sources (the flags and death)."""
MEASURE_KEY = ["study_id", "instrument", "timepoint"]


@dataclass(frozen=True)
class ValueChange:
    study_id: str
    what: str  # a cohort column, or an instrument
    before: str
    after: str
    timepoint: str = ""  # set for a measure


@dataclass
class ChangeLog:
    previous_run_id: str = ""
    previous_cutoff: str = ""
    compared: bool = False
    note: str = ""
    new_patients: list[str] = field(default_factory=list)
    removed_patients: list[str] = field(default_factory=list)
    new_events: list[tuple[str, str, bool]] = field(default_factory=list)  # study id, flag, is new patient
    retracted_events: list[tuple[str, str]] = field(default_factory=list)
    changed_values: list[ValueChange] = field(default_factory=list)
    new_measures: list[ValueChange] = field(default_factory=list)
    removed_measures: list[ValueChange] = field(default_factory=list)
    followup_updated: int = 0

    @property
    def events_by_flag(self) -> dict[str, int]:
        return dict(Counter(flag for _, flag, _ in self.new_events))

    @property
    def any(self) -> bool:
        return bool(
            self.new_patients or self.removed_patients or self.new_events or self.retracted_events
            or self.changed_values or self.new_measures or self.removed_measures
        )


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _same(a: Any, b: Any) -> bool:
    try:
        x, y = float(a), float(b)
    except (TypeError, ValueError):
        return _text(a) == _text(b)
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9)


def _flag(value: Any) -> bool:
    try:
        return float(value) == 1.0
    except (TypeError, ValueError):
        return False


def _cohort_changes(log: ChangeLog, now: pd.DataFrame, before: pd.DataFrame, flags: tuple[str, ...]) -> None:
    now_ix = now.set_index("study_id")
    before_ix = before.drop_duplicates("study_id").set_index("study_id")
    log.new_patients = sorted(set(now_ix.index) - set(before_ix.index))
    log.removed_patients = sorted(set(before_ix.index) - set(now_ix.index))
    flag_cols = [c for c in flags if c in now_ix.columns]
    for sid in now_ix.index:
        old = before_ix.loc[sid] if sid in before_ix.index else None
        for flag in flag_cols:
            was = old is not None and flag in before_ix.columns and _flag(old[flag])
            if _flag(now_ix.loc[sid, flag]) and not was:
                log.new_events.append((sid, flag, old is None))
            elif old is not None and was and not _flag(now_ix.loc[sid, flag]):
                log.retracted_events.append((sid, flag))
    both = [c for c in now_ix.columns if c in before_ix.columns]
    times = [c for c in both if c.endswith(TIME_SUFFIX)]
    shared = [c for c in both if c not in {*flag_cols, *times} and not c.endswith(DERIVED_SUFFIX)]
    for sid in sorted(set(now_ix.index) & set(before_ix.index)):
        a, b = before_ix.loc[sid], now_ix.loc[sid]
        log.changed_values += [ValueChange(sid, c, _text(a[c]), _text(b[c])) for c in shared if not _same(a[c], b[c])]
        log.followup_updated += any(not _same(a[c], b[c]) for c in times)


def _measure_changes(log: ChangeLog, now: pd.DataFrame, before: pd.DataFrame) -> None:
    def keyed(frame: pd.DataFrame) -> dict[tuple[str, str, str], Any]:
        rows = frame.drop_duplicates(MEASURE_KEY)
        return {(str(r.study_id), str(r.instrument), str(r.timepoint)): r.value for r in rows.itertuples()}

    a, b = keyed(before), keyed(now)
    for key in sorted(set(a) | set(b)):
        sid, instrument, timepoint = key
        if key not in a:
            log.new_measures.append(ValueChange(sid, instrument, "", _text(b[key]), timepoint))
        elif key not in b:
            log.removed_measures.append(ValueChange(sid, instrument, _text(a[key]), "", timepoint))
        elif not _same(a[key], b[key]):
            log.changed_values.append(ValueChange(sid, instrument, _text(a[key]), _text(b[key]), timepoint))


FIRST_RUN = "First run: there is no previous successful run to compare with."
KEY_CHANGED = ("Not compared: the pseudonym key changed since the previous run, so its study ids cannot be matched "
               "with this run's.")
UNREADABLE = "The previous run's tables could not be read ({}); no comparison was made."
NO_MEASURES = "The previous run's measures.csv could not be read ({}); measurements were not compared."
PREVIOUS_ERRORS = (OSError, ValueError, KeyError, AttributeError, TypeError)
"""Missing or unreadable files, malformed CSV (pandas' errors are ValueErrors), missing columns."""


def _previous_manifest(previous: Path) -> tuple[str, str]:
    """(run id, data cut-off) of the previous run; the folder name and "" where run.json says nothing usable."""
    manifest = read_run_manifest(previous)
    source = manifest.get("source")
    cutoff = source.get("extracted_at") if isinstance(source, dict) else None
    return str(manifest.get("run_id") or previous.name), str(cutoff or "")


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"study_id": str})


def compare_runs(
    cohort: pd.DataFrame,
    measures: pd.DataFrame,
    previous: Path | None,
    flags: tuple[str, ...],
    *,
    ids_comparable: bool = True,
) -> ChangeLog:
    """The change log against the run in ``previous`` (None: first run, nothing to compare).

    Robust to what a previous run folder may lack: no run.json (the folder name stands in), no or an
    unreadable cohort.csv (no comparison, with the reason), no or an unreadable measures.csv (patients and
    events compared, measurements not). ``ids_comparable=False`` (the pseudonym key changed) compares nothing.
    """
    if previous is None:
        return ChangeLog(note=FIRST_RUN)
    previous = Path(previous)
    run_id, cutoff = _previous_manifest(previous)
    if not ids_comparable:
        return ChangeLog(run_id, cutoff, note=KEY_CHANGED)
    log = ChangeLog(run_id, cutoff)
    try:
        _cohort_changes(log, cohort, _read(previous / COHORT), flags)
    except PREVIOUS_ERRORS as exc:
        return ChangeLog(run_id, cutoff, note=UNREADABLE.format(type(exc).__name__))
    try:
        measured = ChangeLog()
        _measure_changes(measured, measures, _read(previous / MEASURES))
    except PREVIOUS_ERRORS as exc:
        log.note = NO_MEASURES.format(type(exc).__name__)
    else:
        log.changed_values += measured.changed_values
        log.new_measures, log.removed_measures = measured.new_measures, measured.removed_measures
    log.compared = True
    return log


def require_unique_ids(cohort: pd.DataFrame) -> None:
    """The change log matches patients by study id; duplicated ids would make it wrong."""
    duplicated = cohort["study_id"].duplicated()
    if duplicated.any():
        raise ReportError(f"cohort.csv repeats {int(duplicated.sum())} study id(s); cannot compare runs")
