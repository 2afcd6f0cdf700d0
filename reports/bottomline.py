"""The bottom line: three or four plain sentences a tumour board reads first, generated from the results.

Every sentence is hedged by what the data can carry: the number of patients and of events. A comparison
that found no difference on a few events is "inconclusive", never "no effect"; estimates from a small
cohort are called imprecise. Names come from the study definition and the results, never from code.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from config.study import StudyDefinition
from reports import formatting as fmt
from reports import labels
from reports.formatting import as_float
from reports.inputs import dig
from reports.sections import NOT_AVAILABLE, comparisons, endpoints, paired_results
from reports.survival import completeness

DEATH = "death"
"""The cohort.csv column of every study: 1 if the patient died during follow-up."""


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _who(n: int, period: str, results: dict[str, Any]) -> str:
    fu = results.get("followup") or {}
    median = fmt.months(fu.get("median_months"))
    span = fmt.interval(fu.get("min_months"), fu.get("max_months"), 1)
    complete = completeness(fu)
    if " to " in period:
        first, last = period.split(" to ", 1)
        sentence = f"{_count(n, 'patient')} operated between {first} and {last}"
    elif period != fmt.MISSING:
        sentence = f"{_count(n, 'patient')} operated in {period}"
    else:
        sentence = _count(n, "patient")
    if median != fmt.MISSING:
        sentence += f" were followed for a median of {median} months (range {span})"
    else:
        sentence += " are in the cohort"
    if complete != NOT_AVAILABLE:
        sentence += f"; follow-up to the data cut-off is {complete} complete (Clark's C)"
    return sentence + "."


def _direction(before: float, after: float) -> str:
    return "rose" if after > before else "fell" if after < before else "stayed"


def _change(node: dict[str, Any], digits: int) -> str:
    """``, mean change 12.9 (95% CI 8.9 to 16.8)`` from results.json, or nothing."""
    value = node.get("mean_difference")
    record = value if isinstance(value, dict) else {"estimate": value, "ci_lower": node.get("ci_lower"),
                                                    "ci_upper": node.get("ci_upper")}
    estimate = as_float(record.get("estimate"))
    if estimate is None:
        return ""
    ci = fmt.ci(record.get("ci_lower"), record.get("ci_upper"), digits)
    return f", mean change {fmt.number(estimate, digits)}" + (f" (95% CI {ci})" if ci != fmt.MISSING else "")


def _outcomes(results: dict[str, Any], study: StudyDefinition, digits: dict[str, int]) -> str:
    words = labels.Labels(study)
    spans: dict[tuple[str, str], list[str]] = {}  # (first, last timepoint) -> the medians' sentences
    for spec in study.analysis.repeated:
        name, tps = spec.instrument, spec.timepoints
        first, last = (tps[0], tps[-1]) if tps else ("", "")
        node = dig(results, f"repeated_measures.{name}.timepoints") or {}
        a, b = as_float((node.get(first) or {}).get("median")), as_float((node.get(last) or {}).get("median"))
        if a is None or b is None:
            continue
        d = digits.get(name, 1)
        moved = f"from {fmt.exact(a, d)} to {fmt.exact(b, d)}" if a != b else f"at {fmt.exact(a, d)}"
        spans.setdefault((first, last), []).append(f"median {words.instrument(name)} {_direction(a, b)} {moved}")
    parts = [" and ".join(found) + f" ({words.timepoint(first).lower()} to {words.timepoint(last)})"
             for (first, last), found in spans.items()]
    for name, node in paired_results(study, results):
        overall = next((sub for key, sub in comparisons(node) if key in ("", "overall")), None)
        if overall is None:
            continue
        a, b = as_float(overall.get("mean_pre")), as_float(overall.get("mean_post"))
        if a is None or b is None:
            continue
        d = digits.get(name, 1) + 1
        parts.append(f"mean {words.instrument(name)} {_direction(a, b)} from {fmt.number(a, d)} to "
                     f"{fmt.number(b, d)} at {words.timepoint(str(overall.get('after', '')))}{_change(overall, d)}")
    if not parts:
        return ""
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + ". These are changes within patients, without a comparison group."


def _events(results: dict[str, Any], cohort: pd.DataFrame, study: StudyDefinition) -> str:
    found = {str(e.get("name")): e for e in results.get("events") or [] if isinstance(e, dict)}
    complications = [(as_float(found[c].get("count")) or 0, c) for c in study.complications if c in found]
    complications = [(k, c) for k, c in complications if k > 0]
    n = len(cohort)
    progressed = 0
    events = [e for e in study.events if e in cohort.columns]
    if events:
        flags = cohort[events].apply(pd.to_numeric, errors="coerce").fillna(0)
        progressed = int((flags == 1).any(axis=1).sum())
    died = int((pd.to_numeric(cohort.get(DEATH, pd.Series(dtype=float)), errors="coerce") == 1).sum())
    clauses = []
    if complications:
        k, name = max(complications)
        clauses.append(f"the most frequent complication was {labels.flag(name).lower()} ({int(k)} of {n})")
    elif study.complications:
        clauses.append("no complication was recorded")
    event_words = " or ".join(labels.flag(e).lower() for e in events) or "a study event"
    clauses.append(f"{_count(progressed, 'patient')} had {event_words} and {died} died during follow-up")
    implant = results.get("implant")
    for item in (implant.get("reoperations") or []) if isinstance(implant, dict) else []:
        if isinstance(item, dict) and as_float(item.get("n")):
            k = int(as_float(item.get("count")) or 0)
            what = labels.flag(str(item.get("name"))).lower()
            clauses.append(f"no implant needed a {what}" if k == 0 else f"{k} of {fmt.integer(item.get('n'))} "
                                                                        f"needed a {what}")
    text = "; ".join(clauses)
    return text[:1].upper() + text[1:] + "."


def _most_events(results: dict[str, Any], study: StudyDefinition) -> tuple[str, int]:
    """The survival endpoint with the most events (the later one of a tie: a composite comes after its parts)."""
    found = [(int(as_float(node.get("events")) or 0), i, name)
             for i, (name, node) in enumerate(endpoints(study, results))]
    events, _, name = max(found, default=(0, 0, ""))
    return name, events


def _hedge(results: dict[str, Any], study: StudyDefinition, counts: list[tuple[str, int]]) -> str:
    n = int(as_float(results.get("n_patients")) or 0)
    endpoint, events = _most_events(results, study)
    few = events < study.analysis.min_events_per_covariate
    small = n < study.analysis.min_n_for_test
    parts = []
    if small or few:
        what = f"{labels.inline(labels.Labels(study).endpoint(endpoint))} event" if endpoint else "event"
        parts.append(
            f"With {_count(n, 'patient')} and {_count(events, what)}, estimates are imprecise and "
            "the subgroup comparisons are inconclusive: they can neither show nor rule out a difference"
        )
    if counts:
        total = sum(k for _, k in counts)
        listed = ", ".join(f"{k} {verdict}" for verdict, k in counts)
        parts.append(f"of the abstract's {total} claims checked: {listed}")
    if not parts:
        return ""
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "."


def bottom_line(results: dict[str, Any], cohort: pd.DataFrame, study: StudyDefinition, *, period: str,
                claim_counts: list[tuple[str, int]], digits: dict[str, int]) -> list[str]:
    """Three or four sentences: who and how long; how the outcomes moved; what happened; how sure we are."""
    n = int(as_float(results.get("n_patients")) or len(cohort))
    if n == 0:
        return ["No patient is in the cohort at the data cut-off: there is nothing to report yet."]
    sentences = [_who(n, period, results), _outcomes(results, study, digits), _events(results, cohort, study),
                 _hedge(results, study, claim_counts)]
    return [s for s in sentences if s]
