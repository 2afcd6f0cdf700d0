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
PRIVATE_IDS = "Resource ids for the data steward are kept in the service's private data folder, not in this report."


def _entries(quality: dict[str, Any]) -> list[dict[str, Any]]:
    for key in ENTRY_KEYS:
        value = quality.get(key)
        if isinstance(value, list):
            return [e for e in value if isinstance(e, dict)]
    return []


def _count(value: Any) -> int:
    number = fmt.as_float(value)
    return int(number) if number is not None and number > 0 else 0


def _reason_counts(quality: dict[str, Any], entries: list[dict[str, Any]]) -> Counter[str]:
    for key in COUNT_KEYS:
        value = quality.get(key)
        if isinstance(value, dict) and all(isinstance(v, int | float) for v in value.values()):
            return Counter({str(k): int(v) for k, v in value.items()})
    return Counter(str(e.get("reason", "unspecified")) for e in entries)


def _detail_rows(detail: Counter[tuple[str, str, str]]) -> list[dict[str, Any]]:
    return [
        {"resource_type": t, "field": f, "reason": r, "count": n}
        for (t, f, r), n in sorted(detail.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def _extraction_rows(by_file: Any) -> list[dict[str, Any]]:
    """``{file: {reason: count}}`` as rows by file, then most frequent reason first."""
    rows = []
    for name, reasons in sorted((by_file if isinstance(by_file, dict) else {}).items()):
        counts = Counter({str(r): _count(n) for r, n in (reasons if isinstance(reasons, dict) else {}).items()})
        rows += [{"file": str(name), "reason": r, "count": n} for r, n in sorted(counts.items(), key=_by_count) if n]
    return rows


def _by_count(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]


def _part(document: dict[str, Any], key: str) -> dict[str, Any]:
    value = document.get(key)
    return value if isinstance(value, dict) else {}


def _summary_v2(quality: dict[str, Any]) -> dict[str, Any]:
    """``data_quality.json`` schema 2: what was read, used and not used, by stage (docs/results.md)."""
    mapping, extraction = _part(quality, "mapping"), _part(quality, "extraction")
    by_reason = _reason_counts(mapping, [])
    detail: Counter[tuple[str, str, str]] = Counter()
    for row in mapping.get("detail") or []:
        if isinstance(row, dict):
            key = (str(row.get("resource_type") or "—"), str(row.get("field") or "—"), str(row.get("reason") or "—"))
            detail[key] += _count(row.get("count"))
    read, unusable = fmt.integer(quality.get("read")), fmt.integer(quality.get("unusable"))
    problems, unmappable = fmt.integer(extraction.get("problems")), fmt.integer(mapping.get("unmappable"))
    return {
        "total": sum(by_reason.values()),
        "statement": f"{unusable} of {read} units read could not be used ({problems} at extraction, "
                     f"{unmappable} at mapping). A unit is an NDJSON line, a Bundle entry or a resource received "
                     "from the server.",
        "read": read,
        "unusable": unusable,
        "by_reason": [{"reason": r, "count": n} for r, n in sorted(by_reason.items(), key=_by_count)],
        "detail": _detail_rows(detail),
        "extraction": _extraction_rows(extraction.get("by_file")),
    }


def _summary_v1(quality: dict[str, Any], counts: dict[str, Any]) -> dict[str, Any]:
    """The data-quality log of runs before schema 2: entries with ids, counted here; extraction problems listed."""
    entries = _entries(quality)
    by_reason = _reason_counts(quality, entries)
    detail = Counter(
        (str(e.get("resource_type") or e.get("resourceType") or "—"), str(e.get("field") or "—"),
         str(e.get("reason", "unspecified")))
        for e in entries
    )
    extraction = quality.get("extraction_problems")
    by_file: dict[str, Counter[str]] = {}
    for p in extraction if isinstance(extraction, list) else []:
        if isinstance(p, dict):
            by_file.setdefault(str(p.get("file") or "—"), Counter())[str(p.get("reason", "unspecified"))] += 1
    resources, unmappable = fmt.integer(counts.get("resources")), fmt.integer(counts.get("unmappable"))
    statement = f"{sum(by_reason.values())} problem(s) in the data-quality log"
    if unmappable != fmt.MISSING:
        statement += f"; {unmappable} of {resources} resources could not be used"
    return {
        "total": sum(by_reason.values()),
        "statement": statement + ".",
        "read": resources,
        "unusable": unmappable,
        "by_reason": [{"reason": r, "count": n} for r, n in by_reason.most_common()],
        "detail": _detail_rows(detail),
        "extraction": _extraction_rows({name: dict(c) for name, c in by_file.items()}),
    }


def is_v2(quality: dict[str, Any]) -> bool:
    return fmt.as_float(quality.get("schema_version")) == 2 or isinstance(quality.get("mapping"), dict)


def quality_summary(quality: dict[str, Any], counts: dict[str, Any] | None = None) -> dict[str, Any]:
    """The appendix's data-quality section: one statement of what could not be used, the mapping's log by
    reason and by resource type and field, and the extraction problems by file and reason.

    Reads ``data_quality.json`` of schema 2; an older run's log (``counts``/``entries``) is read too, with the
    run manifest's ``counts`` for the statement. Never shows a resource id.
    """
    summary = _summary_v2(quality) if is_v2(quality) else _summary_v1(quality, counts or {})
    summary["ids_note"] = PRIVATE_IDS
    return summary


def _status(time: Any, event: Any, word: str) -> str:
    months = fmt.months(time)
    flag = fmt.as_float(event)
    if flag is None:
        return months
    return f"{months} {word}" if flag == 1 else months


def by_surgery_date(cohort: pd.DataFrame) -> pd.DataFrame:
    """The cohort in order of surgery (then study id): the order of every per-patient listing."""
    dates = cohort["surgery_date"] if "surgery_date" in cohort else pd.Series(pd.NaT, index=cohort.index)
    frame = cohort.assign(_surgery=pd.to_datetime(dates, errors="coerce"),
                          _sid=cohort["study_id"].astype(str))
    return frame.sort_values(["_surgery", "_sid"], na_position="last")


def _month(value: Any) -> str:
    day = pd.to_datetime(value, errors="coerce")
    return fmt.MISSING if pd.isna(day) else f"{day:%Y-%m}"


def _sex_age(p: pd.Series) -> str:
    sex = str(p.get("sex") or "")
    letter = {"male": "M", "female": "F"}.get(sex, sex[:1].upper() or fmt.MISSING)
    return f"{letter} {fmt.integer(p.get('age_at_surgery'))}"


def patient_listing(cohort: pd.DataFrame, study: StudyDefinition) -> list[dict[str, str]]:
    """One compact row per patient, in order of surgery: study id, month of surgery, sex and age, tumour,
    resection and reconstruction, OS and PFS (months; † died, ▲ progressed), complications and events."""
    rows = []
    for _, p in by_surgery_date(cohort).iterrows():
        flagged = [labels.abbreviation(f) for f in study.flag_columns if f in p.index and fmt.as_float(p[f]) == 1]
        rows.append({
            "study_id": str(p["study_id"]),
            "surgery": _month(p.get("surgery_date")),
            "sex_age": _sex_age(p),
            "diagnosis": str(p.get("diagnosis", "")),
            "zones": str(p.get("enneking_zones", "")),
            "margin": str(p.get("resection_margin", "")),
            "reconstruction": str(p.get("reconstruction", "")),
            "os": _status(p.get("os_months"), p.get("os_event"), "†"),
            "pfs": _status(p.get("pfs_months"), p.get("pfs_event"), "▲"),
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
    """Per patient (in order of surgery), the value at every analysed instrument and timepoint (— where none was
    in the window), with the instrument's own decimals."""
    values = measures.drop_duplicates(["study_id", "instrument", "timepoint"]).set_index(
        ["study_id", "instrument", "timepoint"]
    )["value"]
    columns = measure_columns(study)
    digits = {i: fmt.decimals_of(measures.loc[measures["instrument"] == i, "value"]) for i, _ in columns}
    rows = []
    for sid in by_surgery_date(cohort)["study_id"].astype(str):
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
