"""The appendix: data-quality summary, per-patient listings (study ids only) and the change-log detail.

Nothing here prints a FHIR resource id, a name or an MRN: the data-quality log is summarised by reason
(and resource type and field), and patients appear only under their study id.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd

from config.study import StudyDefinition
from reports import formatting as fmt
from reports import labels
from reports.changes import ChangeLog, ValueChange

ENTRY_KEYS = ("entries", "problems", "items", "log")
COUNT_KEYS = ("counts_by_reason", "by_reason", "counts")


def _entries(quality: dict[str, Any]) -> list[dict[str, Any]]:
    for key in ENTRY_KEYS:
        value = quality.get(key)
        if isinstance(value, list):
            return [e for e in value if isinstance(e, dict)]
    return []


def _reason_counts(quality: dict[str, Any], entries: list[dict[str, Any]]) -> Counter[str]:
    for key in COUNT_KEYS:
        value = quality.get(key)
        if isinstance(value, dict) and all(isinstance(v, int | float) for v in value.values()):
            return Counter({str(k): int(v) for k, v in value.items()})
    return Counter(str(e.get("reason", "unspecified")) for e in entries)


def quality_summary(quality: dict[str, Any]) -> dict[str, Any]:
    """Counts by reason, by resource type and field, and the extraction problems by reason."""
    entries = _entries(quality)
    by_reason = _reason_counts(quality, entries)
    detail = Counter(
        (str(e.get("resource_type") or e.get("resourceType") or "—"), str(e.get("field") or "—"),
         str(e.get("reason", "unspecified")))
        for e in entries
    )
    extraction = quality.get("extraction_problems")
    problems = Counter(
        str(p.get("reason", "unspecified")) for p in (extraction if isinstance(extraction, list) else [])
        if isinstance(p, dict)
    )
    return {
        "total": sum(by_reason.values()),
        "by_reason": [{"reason": r, "count": n} for r, n in by_reason.most_common()],
        "detail": [
            {"resource_type": t, "field": f, "reason": r, "count": n}
            for (t, f, r), n in sorted(detail.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        "extraction": [{"reason": r, "count": n} for r, n in problems.most_common()],
    }


def _status(time: Any, event: Any, word: str) -> str:
    months = fmt.months(time)
    flag = fmt.as_float(event)
    if flag is None:
        return months
    return f"{months} ({word})" if flag == 1 else f"{months} (censored)"


def patient_listing(cohort: pd.DataFrame, study: StudyDefinition) -> list[dict[str, str]]:
    """One row per patient by study id; complications and events named where flagged."""
    rows = []
    for _, p in cohort.sort_values("study_id").iterrows():
        flagged = [labels.flag(f) for f in study.flag_columns if f in p.index and fmt.as_float(p[f]) == 1]
        rows.append({
            "study_id": str(p["study_id"]),
            "sex": str(p.get("sex", "")),
            "age": fmt.integer(p.get("age_at_surgery")),
            "diagnosis": str(p.get("diagnosis", "")),
            "zones": str(p.get("enneking_zones", "")),
            "margin": str(p.get("resection_margin", "")),
            "reconstruction": str(p.get("reconstruction", "")),
            "os": _status(p.get("os_months"), p.get("os_event"), "died"),
            "pfs": _status(p.get("pfs_months"), p.get("pfs_event"), "progressed"),
            "flags": ", ".join(flagged) or "none",
        })
    return rows


def measure_columns(study: StudyDefinition) -> list[tuple[str, str]]:
    """(instrument, timepoint) pairs of the measure listing, in analysis order."""
    a = study.analysis
    pairs = [(i, t) for i in a.repeated_instruments for t in a.repeated_timepoints]
    pairs += [("msts93", t) for t in a.msts_timepoints] + [("sij_contralateral_mm", t) for t in a.sij_timepoints]
    return pairs


def measure_listing(measures: pd.DataFrame, cohort: pd.DataFrame, study: StudyDefinition) -> list[dict[str, Any]]:
    """Per patient, the value at every analysed instrument and timepoint (— where none was in the window)."""
    values = measures.drop_duplicates(["study_id", "instrument", "timepoint"]).set_index(
        ["study_id", "instrument", "timepoint"]
    )["value"]
    columns = measure_columns(study)
    whole = measures.groupby("instrument")["value"].apply(lambda v: bool((v.dropna() % 1 == 0).all()))
    digits = {i: 0 if whole.get(i, False) else 1 for i, _ in columns}
    rows = []
    for sid in sorted(cohort["study_id"].astype(str)):
        cells = [fmt.number(values.get((sid, i, t)), digits[i]) for i, t in columns]
        rows.append({"study_id": sid, "cells": cells})
    return rows


def _change_rows(changes: list[ValueChange], study: StudyDefinition) -> list[dict[str, str]]:
    """Changes by study id, cohort fields first, then measures in the study's instrument and timepoint order."""
    instruments, timepoints = list(study.instruments), list(study.timepoints)

    def rank(items: list[str], item: str) -> int:
        return items.index(item) if item in items else len(items)

    def key(c: ValueChange) -> tuple[str, bool, int, str, int]:
        return (c.study_id, bool(c.timepoint), rank(instruments, c.what), c.what, rank(timepoints, c.timepoint))

    def what(c: ValueChange) -> str:
        return f"{labels.instrument(c.what)}, {labels.timepoint(c.timepoint)}" if c.timepoint else labels.flag(c.what)

    return [
        {"study_id": c.study_id, "what": what(c), "before": c.before, "after": c.after}
        for c in sorted(changes, key=key)
    ]


def change_detail(log: ChangeLog, study: StudyDefinition) -> dict[str, Any]:
    return {
        "any": log.any,
        "new_patients": log.new_patients,
        "removed_patients": log.removed_patients,
        "new_events": [
            {"study_id": sid, "event": labels.flag(flag), "new_patient": new} for sid, flag, new in log.new_events
        ],
        "retracted_events": [{"study_id": sid, "event": labels.flag(flag)} for sid, flag in log.retracted_events],
        "changed_values": _change_rows(log.changed_values, study),
        "new_measures": _change_rows(log.new_measures, study),
        "removed_measures": _change_rows(log.removed_measures, study),
    }
