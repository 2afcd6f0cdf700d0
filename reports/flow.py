"""Patient flow (STROBE): from the patients in the source to those analysed for each outcome, and what the
data-quality records did to the cohort.

Built only from what the report is given: the run manifest's counts of Patient resources, the public
``data_quality.json`` (its Patient-level reasons say who left and why), ``cohort.csv`` (surgery dates, last
contact, deaths) and results.json (the n of every analysis). Nothing here re-does the mapping.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from config.study import StudyDefinition
from config.units import DAYS_PER_MONTH
from reports import formatting as fmt
from reports import labels
from reports.formatting import as_float
from reports.inputs import dig
from reports.sections import comparisons, endpoints, paired_results

DEATH = "death"
"""The cohort.csv column of every study: 1 if the patient died during follow-up."""
LOST_MONTHS = 6.0
"""Alive patients without contact for longer than this before the data cut-off count as lost to follow-up."""

# Patient-level reasons of the mapping's log (docs/mapping.md), by the words that end them.
NOT_ELIGIBLE = ("no index procedure",)
AFTER_CUTOFF = ("surgery after the data cut-off",)
UNUSABLE_PATIENT = ("Patient not used", "cannot be linked", "Patient is invalid", "could not be mapped")


@dataclass(frozen=True)
class Effect:
    """What a data-quality reason did to the cohort tables."""

    kind: str  # "patient", "event", "date", "value", "none"
    words: str


DEFAULT_EFFECT_VALUE = Effect("value", "a value not used")
EFFECTS = (  # first match wins; matched against the reason in lower case
    (("patient not in the cohort", "patient not used", "cannot be linked"), Effect("patient", "patient left out")),
    (("not a death within follow-up",), Effect("event", "a death not counted")),
    (("not counted", "cannot be placed after surgery"), Effect("event", "an event not counted")),
    (("death date set to", "last contact is the death date", "not used as last contact", "date ignored"),
     Effect("date", "a date of death or last contact changed")),
    (("earliest is the index", "index procedure dated after"), Effect("date", "the surgery date chosen")),
    (("too imprecise",), DEFAULT_EFFECT_VALUE),
    (("partial date",), Effect("date", "a date completed by assumption")),
    (("age unknown",), Effect("value", "age not known")),
    (("converted", "assumed", "used", "kept", "first is used", "nearest surgery is used"),
     Effect("none", "value used after a correction")),
)
DEFAULT_EFFECT = DEFAULT_EFFECT_VALUE


def effect_of(reason: str) -> Effect:
    text = reason.lower()
    for words, found in EFFECTS:
        if any(w.lower() in text for w in words):
            return found
    return DEFAULT_EFFECT


def _detail(quality: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(resource type, reason, count) of the public mapping log (schema 2), or of an older log's entries."""
    mapping = quality.get("mapping") if isinstance(quality.get("mapping"), dict) else {}
    rows = mapping.get("detail") if isinstance(mapping, dict) else None
    if not isinstance(rows, list):
        rows = [{"resource_type": e.get("resource_type"), "reason": e.get("reason"), "count": 1}
                for e in quality.get("entries") or [] if isinstance(e, dict)]
    out = []
    for row in rows:
        if isinstance(row, dict):
            count = as_float(row.get("count"))
            out.append((str(row.get("resource_type") or ""), str(row.get("reason") or ""), int(count or 0)))
    return out


def _patients_with(detail: list[tuple[str, str, int]], words: tuple[str, ...]) -> int:
    return sum(n for rtype, reason, n in detail if rtype == "Patient" and any(w in reason for w in words))


def cutoff_date(run: dict[str, Any]) -> date | None:
    source = run.get("source")
    text = str(source.get("extracted_at") or "") if isinstance(source, dict) else ""
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def last_contact_gap(cohort: pd.DataFrame, cutoff: date | None) -> pd.Series:
    """Months from each patient's last contact to the data cut-off (NaN where unknown)."""
    if cutoff is None or "surgery_date" not in cohort or "followup_months" not in cohort:
        return pd.Series(float("nan"), index=cohort.index)
    surgery = pd.to_datetime(cohort["surgery_date"], errors="coerce")
    potential = (pd.Timestamp(cutoff) - surgery).dt.days / DAYS_PER_MONTH
    return potential - pd.to_numeric(cohort["followup_months"], errors="coerce")


def lost_to_followup(cohort: pd.DataFrame, cutoff: date | None) -> int | None:
    """Alive patients whose last contact lies more than :data:`LOST_MONTHS` before the cut-off."""
    gap = last_contact_gap(cohort, cutoff)
    if gap.isna().all():
        return None
    died = pd.to_numeric(cohort.get(DEATH, pd.Series(0, index=cohort.index)), errors="coerce").fillna(0) == 1
    return int(((gap > LOST_MONTHS) & ~died).sum())


def study_period(cohort: pd.DataFrame) -> str:
    """``June 2022 to December 2023``: the months of the first and the last surgery."""
    surgery = pd.to_datetime(cohort.get("surgery_date", pd.Series(dtype=str)), errors="coerce").dropna()
    if surgery.empty:
        return fmt.MISSING
    first, last = surgery.min(), surgery.max()
    return f"{first:%B %Y}" if (first.year, first.month) == (last.year, last.month) \
        else f"{first:%B %Y} to {last:%B %Y}"


def _analysed(results: dict[str, Any], study: StudyDefinition, included: int) -> list[dict[str, str]]:
    """One line per outcome: the patients its analysis used, and how many it could not use."""
    rows = []
    words = labels.Labels(study)
    for spec in study.analysis.repeated:
        node = dig(results, f"repeated_measures.{spec.instrument}.friedman") or {}
        times = ", ".join(words.timepoint(t) for t in spec.timepoints)
        rows.append(_analysed_row(f"{words.instrument_title(spec.instrument)}: values at every timepoint ({times})",
                                  node.get("n"), included))
    for name, node in paired_results(study, results):
        found = comparisons(node)
        groups = [sub for key, sub in found if key != "overall"] or [sub for _, sub in found]
        if not groups:
            continue
        n = sum(as_float(g.get("n")) or 0 for g in groups)
        first = groups[0]
        title = words.instrument_title(name)
        times_pair = " and ".join(words.timepoint(str(first.get(k))) for k in ("before", "after") if first.get(k))
        rows.append(_analysed_row(f"{title}: {times_pair}" if times_pair else title, n, included))
    for name, node in endpoints(study, results):
        rows.append(_analysed_row(f"{words.endpoint(name)}: time and status known", node.get("n"), included))
    return rows


def _analysed_row(what: str, n: Any, included: int) -> dict[str, str]:
    count = as_float(n)
    missing = "" if count is None else str(max(included - int(count), 0))
    return {"what": what, "n": fmt.integer(n), "missing": missing}


def measurement_completeness(results: dict[str, Any], study: StudyDefinition) -> dict[str, Any]:
    """Measurements done of those due, per instrument and timepoint (results.json ``followup_completeness[]``
    ``{instrument, timepoint, done, expected, percent, previous_percent}``, written by service runs); the
    previous run's percentage beside it when it differs. Empty when results.json has none."""
    items = [c for c in results.get("followup_completeness") or [] if isinstance(c, dict)]
    words = labels.Labels(study)
    if not items:
        return {"timepoints": [], "rows": []}
    order = list(study.timepoints)
    timepoints = sorted({str(c.get("timepoint")) for c in items},
                        key=lambda t: order.index(t) if t in order else len(order))
    instruments = list(dict.fromkeys(str(c.get("instrument")) for c in items))
    found = {(str(c.get("instrument")), str(c.get("timepoint"))): c for c in items}
    rows = []
    for name in instruments:
        cells = []
        for tp in timepoints:
            c = found.get((name, tp))
            if c is None or not as_float(c.get("expected")):
                cells.append(fmt.MISSING if c is None else "none due")
                continue
            share = fmt.percent(c.get("percent"))
            before = as_float(c.get("previous_percent"))
            if before is not None and fmt.percent(before) != share:
                share += f", was {fmt.percent(before)}"
            cells.append(f"{fmt.integer(c.get('done'))}/{fmt.integer(c.get('expected'))} ({share})")
        rows.append({"instrument": words.instrument_title(name), "cells": cells})
    return {"timepoints": [words.timepoint(t) for t in timepoints], "rows": rows}


def reconciliation(quality: dict[str, Any]) -> dict[str, Any]:
    """Each reason of the mapping's log with what it did to the cohort, and a sentence per kind of change."""
    detail = _detail(quality)
    rows = []
    totals: dict[str, int] = {}
    for rtype, reason, n in sorted(detail, key=lambda r: (-r[2], r[1])):
        found = effect_of(reason)
        totals[found.kind] = totals.get(found.kind, 0) + n
        rows.append({"resource_type": rtype or fmt.MISSING, "reason": reason, "count": str(n), "effect": found.words})
    events, dates = totals.get("event", 0), totals.get("date", 0)
    sentences = [
        f"{events} data-quality record(s) left an event uncounted" if events else
        "No data-quality record changed an event",
        f"{dates} changed or completed a date" if dates else "none changed a date",
    ]
    statement = "; ".join(sentences) + "."
    if events:
        statement += (" Where a record left an event out (for example a disease status 'worsened' without saying "
                      "local or distant), progression or complications may be under-counted: check these records "
                      "in the private data-quality log.")
    return {"rows": rows, "statement": statement, "events": events, "dates": dates}


def patient_flow(cohort: pd.DataFrame, results: dict[str, Any], quality: dict[str, Any], run: dict[str, Any],
                 study: StudyDefinition) -> dict[str, Any]:
    """The STROBE flow: source → index procedure → included / excluded (reasons) → analysed → lost."""
    detail = _detail(quality)
    source = run.get("source") if isinstance(run.get("source"), dict) else {}
    in_source = as_float((source.get("counts") or {}).get("Patient")) if isinstance(source, dict) else None
    included = len(cohort)
    unusable = _patients_with(detail, UNUSABLE_PATIENT)
    no_index = _patients_with(detail, NOT_ELIGIBLE)
    after_cutoff = _patients_with(detail, AFTER_CUTOFF)
    cutoff = cutoff_date(run)
    lost = lost_to_followup(cohort, cutoff)
    died = int((pd.to_numeric(cohort.get(DEATH, pd.Series(dtype=float)), errors="coerce") == 1).sum())
    procedures = ", ".join(study.index_procedure) or "the index procedure"
    return {
        "in_source": fmt.integer(in_source) if in_source is not None else fmt.MISSING,
        "unusable": str(unusable),
        "no_index": str(no_index),
        "with_index": str(included + after_cutoff),
        "after_cutoff": str(after_cutoff),
        "included": str(included),
        "analysed": _analysed(results, study, included),
        "died": str(died),
        "lost": fmt.MISSING if lost is None else str(lost),
        "lost_months": f"{LOST_MONTHS:g}",
        "period": study_period(cohort),
        "cutoff": cutoff.isoformat() if cutoff else fmt.MISSING,
        "eligibility": (f"patients with an index procedure ({procedures}) dated on or before the data cut-off; "
                        "the earliest index procedure is the surgery date"),
        "reconciliation": reconciliation(quality),
        "measurements": measurement_completeness(results, study),
        "abbreviations": _abbreviations(cohort, study),
        "progression": _progression(study),
        "complications_timed": any(f"{c}_months" in cohort or f"{c}_days" in cohort for c in study.complications),
    }


def _progression(study: StudyDefinition) -> str:
    """The endpoint a progression (a study event) ends, in a sentence (``progression-free survival``), or ""."""
    found = next((e for e in study.endpoints.values() if set(e.events) & set(study.events)), None)
    return labels.inline(found.label) if found else ""


def _abbreviations(cohort: pd.DataFrame, study: StudyDefinition) -> str:
    """``DI deep infection; Dis dislocation``: the swimmer plot's labels of the complications seen."""
    seen = [c for c in study.complications
            if c in cohort and (pd.to_numeric(cohort[c], errors="coerce") == 1).any()]
    return "; ".join(f"{labels.abbreviation(c)} {labels.flag(c).lower()}" for c in seen) or "none recorded"
