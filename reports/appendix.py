"""The appendix: data-quality summary, per-patient listings (study ids only) and the change-log detail.

Nothing here prints a FHIR resource id, a name or an MRN: the data-quality log is summarised by reason
(and resource type and field), and patients appear only under their study id.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pandas as pd

from config.study import StudyDefinition
from reports import formatting as fmt
from reports import labels
from reports.changes import ChangeLog, ValueChange

ENTRY_KEYS = ("entries", "problems", "items", "log")
COUNT_KEYS = ("counts_by_reason", "by_reason", "counts")
DEATH = "death"
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


def _status(time: Any, event: Any, mark: str) -> str:
    months = fmt.months(time)
    flag = fmt.as_float(event)
    if flag is None or not mark:
        return months
    return f"{months} {mark}" if flag == 1 else months


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


DEATH_MARK = "†"
EVENT_MARKS = ("▲", "■", "◆", "●")
TEXT_WIDTH_MM = 174.0  # A4 less 18 mm margins
FIXED_MM = {"study_id": 22.0, "surgery": 11.0, "sex_age": 8.0}
TIME_MM = 10.0
FLAGS_MM = 20.0  # at least, for the complications and events
PADDING_MM = 2.5
LISTING_PT = 6.5  # table.patients in report.css
WRAP_MIN_MM = 20.0


def listing_facts(study: StudyDefinition) -> list[str]:
    """The facts of the patient listing: those of Table 1 but the 0/1 flags (rules over a listed fact) and a
    diagnosis group when its detail is listed (the detail names it)."""
    names = [n for n in (study.analysis.table1_facts or tuple(study.facts)) if n in study.facts]
    detail = any(study.facts[n].source == "diagnosis_detail" for n in names)
    return [n for n in names if not study.facts[n].is_flag
            and not (detail and study.facts[n].source == "diagnosis_group")]


def endpoint_marks(study: StudyDefinition) -> dict[str, str]:
    """A mark per endpoint of the listing: † for death alone, then ▲, ■ … for the others' events."""
    marks, others = {}, iter(EVENT_MARKS)
    for name, endpoint in study.endpoints.items():
        marks[name] = DEATH_MARK if tuple(endpoint.events) == (DEATH,) else next(others, "*")
    return marks


def _text_mm(text: str, bold: bool = False) -> float:
    """The printed width of a text in the listing's font (DejaVu Sans, the report's fallback and the wider)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    font = FontProperties(family="DejaVu Sans", size=LISTING_PT, weight="bold" if bold else "normal")
    width, _, _ = TextToPath().get_text_width_height_descent(text, font, ismath=False)
    return float(width) * 25.4 / 72


def listing_columns(cohort: pd.DataFrame, study: StudyDefinition) -> list[dict[str, Any]]:
    """The patient listing's columns ``{key, header, width, nowrap, num}``: fixed widths for study id, month,
    sex and age and each endpoint's time; each fact as wide as its longest value (its header may wrap between
    words), the widest fact wrapping when they do not all fit beside the complications."""
    words = labels.Labels(study)
    facts = listing_facts(study)
    marks = endpoint_marks(study)
    columns: list[dict[str, Any]] = [
        {"key": "study_id", "header": "Study id", "width": FIXED_MM["study_id"], "nowrap": True, "num": False},
        {"key": "surgery", "header": "Surgery", "width": FIXED_MM["surgery"], "nowrap": True, "num": False},
        {"key": "sex_age", "header": "Sex, age", "width": FIXED_MM["sex_age"], "nowrap": True, "num": False},
    ]
    needs = {}
    for name in facts:
        values = {str(v) for v in cohort[name].dropna()} if name in cohort else set()
        header = [_text_mm(word, bold=True) for word in words.fact_short(name).split()]
        needs[name] = max([_text_mm(v) for v in values] + header + [0.0]) + PADDING_MM
    room = TEXT_WIDTH_MM - sum(FIXED_MM.values()) - TIME_MM * len(marks) - FLAGS_MM
    wraps: set[str] = set()
    if needs and sum(needs.values()) > room:
        widest = max(needs, key=lambda n: needs[n])
        rest = sum(v for n, v in needs.items() if n != widest)
        if room - rest >= WRAP_MIN_MM:
            needs[widest], wraps = room - rest, {widest}
        else:
            needs = {n: v * room / sum(needs.values()) for n, v in needs.items()}
            wraps = set(needs)
    columns += [{"key": name, "header": words.fact_short(name), "width": math.floor(10 * needs[name]) / 10,
                 "nowrap": name not in wraps, "num": False} for name in facts]
    columns += [{"key": name, "header": f"{words.endpoint_short(name)}, months", "width": TIME_MM, "nowrap": False,
                 "num": True} for name in marks]
    columns.append({"key": "flags", "header": "Complications and events", "width": None, "nowrap": False,
                    "num": False})
    return columns


def listing_caption(study: StudyDefinition) -> str:
    """What the endpoint columns and their marks mean."""
    words = labels.Labels(study)
    marks = endpoint_marks(study)
    if not marks:
        return "Surgery: year and month."
    shorts = [words.endpoint_short(name) for name in marks]
    names = ", ".join(shorts[:-1]) + f" and {shorts[-1]}" if len(shorts) > 1 else shorts[0]
    meaning = []
    for name, mark in marks.items():
        events = list(study.endpoints[name].events)
        if events == [DEATH]:
            meaning.append(f"{mark} died")
            continue
        said = [DEATH if e == DEATH else labels.flag(e).lower() for e in events]
        joined = ", ".join(said[:-1]) + f" or {said[-1]}" if len(said) > 1 else said[0]
        meaning.append(f"{mark} {joined} (the {words.endpoint_short(name)} event)")
    return (f"Surgery: year and month. {names}: months from surgery to the event or to the last contact; "
            f"{', '.join(meaning)}.")


def patient_listing(cohort: pd.DataFrame, study: StudyDefinition) -> list[dict[str, Any]]:
    """One compact row per patient, in order of surgery: study id, month of surgery, sex and age, the listed
    facts (their values as cohort.csv has them), each endpoint's time (with its mark at an event), complications
    and events."""
    facts = listing_facts(study)
    marks = endpoint_marks(study)
    rows = []
    for _, p in by_surgery_date(cohort).iterrows():
        flagged = [labels.abbreviation(f) for f in study.flag_columns if f in p.index and fmt.as_float(p[f]) == 1]
        cells = [str(p.get(name)) if pd.notna(p.get(name)) else "" for name in facts]  # as in cohort.csv
        cells += [_status(p.get(f"{name}_months"), p.get(f"{name}_event"), mark) for name, mark in marks.items()]
        rows.append({
            "study_id": str(p["study_id"]),
            "surgery": _month(p.get("surgery_date")),
            "sex_age": _sex_age(p),
            "cells": cells,
            "flags": ", ".join(flagged) or "none",
        })
    return rows


def measure_columns(study: StudyDefinition) -> list[tuple[str, str]]:
    """(instrument, timepoint) pairs of the measure listing, in plan order: the repeated instruments at their
    timepoints, then the paired comparisons' instruments at theirs."""
    a = study.analysis
    pairs = [(r.instrument, t) for r in a.repeated for t in r.timepoints]
    pairs += [(p.instrument, t) for p in a.paired for t in (p.before, p.after)]
    return list(dict.fromkeys(pairs))


def measure_listing(measures: pd.DataFrame, cohort: pd.DataFrame, study: StudyDefinition) -> list[dict[str, Any]]:
    """Per patient (in order of surgery), the value at every analysed instrument and timepoint (— where none was
    in the window), with the instrument's own decimals."""
    values = measures.drop_duplicates(["study_id", "instrument", "timepoint"]).set_index(
        ["study_id", "instrument", "timepoint"]
    )["value"]
    columns = measure_columns(study)
    digits = {i: fmt.decimals_of(measures.loc[measures["instrument"] == i, "value"]) for i, _ in columns}
    digits.update({name: inst.decimals for name, inst in study.instruments.items() if inst.decimals is not None})
    rows = []
    for sid in by_surgery_date(cohort)["study_id"].astype(str):
        cells = [fmt.number(values.get((sid, i, t)), digits[i]) for i, t in columns]
        rows.append({"study_id": sid, "cells": cells})
    return rows


CODEBOOK_TABLES = {"cohort.csv": "cohort.csv: one row per patient", "measures.csv": "measures.csv: one row per "
                   "patient, instrument and timepoint"}


def codebook(study: StudyDefinition) -> dict[str, Any]:
    """The codebook of cohort.csv and measures.csv from the study file (``mapping.codebook``, also written as
    codebook.csv with every run), grouped by table: name, label, type, unit, allowed values, derivation."""
    from mapping.codebook import codebook as rows_of

    try:
        rows = rows_of(study)
    except Exception as exc:  # the report must not fail for its appendix; it says why the codebook is missing
        return {"tables": [], "error": f"{type(exc).__name__}: {exc}"}
    tables: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        name = str(row.get("name") or "")
        instrument = row.get("kind") == "instrument"
        tables.setdefault(str(row.get("table") or ""), []).append({
            "name": f"value, instrument = {name}" if instrument else name,
            "label": str(row.get("label") or ""),
            "type": str(row.get("type") or ""),
            "unit": str(row.get("unit") or ""),
            "allowed": str(row.get("values") or ""),
            "derivation": str(row.get("derivation") or ""),
        })
    return {"tables": [{"title": CODEBOOK_TABLES.get(t, t), "rows": r} for t, r in tables.items()], "error": ""}


def _change_rows(changes: list[ValueChange], study: StudyDefinition) -> list[dict[str, str]]:
    """Changes by study id, cohort fields first, then measures in the study's instrument and timepoint order."""
    instruments, timepoints = list(study.instruments), list(study.timepoints)
    words = labels.Labels(study)

    def rank(items: list[str], item: str) -> int:
        return items.index(item) if item in items else len(items)

    def key(c: ValueChange) -> tuple[str, bool, int, str, int]:
        return (c.study_id, bool(c.timepoint), rank(instruments, c.what), c.what, rank(timepoints, c.timepoint))

    def what(c: ValueChange) -> str:
        if c.timepoint:
            return f"{words.instrument(c.what)}, {words.timepoint(c.timepoint)}"
        return words.fact(c.what) if words.known(c.what) else labels.flag(c.what)

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
