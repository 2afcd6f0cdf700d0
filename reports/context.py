"""The template context: everything the templates print, as display strings built from the run's files.

Templates only lay this out. Data strings stay plain ``str`` (autoescaped by Jinja); only our own SVG
charts and our own stylesheet are marked safe, in :mod:`reports.render`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import urlsplit

from config.study import StudyDefinition
from config.units import DAYS_PER_MONTH
from reports import appendix, bottomline, figures, findings, flow, labels, sections, survival
from reports import formatting as fmt
from reports.caveats import Caveats
from reports.changes import ChangeLog
from reports.inputs import RunFiles
from reports.labels import Labels
from reports.table1 import halves, table1

IMPLANT = figures.IMPLANT
"""The name of the implant-survival endpoint among the report's endpoints (its chart is ``km_implant``)."""
DEMO_LOCATION = "bundled demo cohort"
DEMO_BANNER = ("These patients are invented (the bundled demo cohort): nothing in this report describes real "
               "patients or may inform a clinical decision.")


def is_demo(run: dict[str, Any]) -> bool:
    """The run read the bundled demo cohort (run.json ``source.location``)."""
    source = run.get("source")
    return isinstance(source, dict) and str(source.get("location") or "").strip().lower() == DEMO_LOCATION


def source_label(location: str, kind: str) -> str:
    """The host of a URL (never its credentials, path or query), or the last component of a local path."""
    parts = urlsplit(location)
    if parts.scheme in {"http", "https"}:
        host = parts.hostname or "unknown host"
        return f"{host}:{parts.port}" if parts.port else host
    name = PureWindowsPath(location).name if "\\" in location else PurePosixPath(location).name
    return f"local files ({name})" if name else (kind or "unknown source")


def cutoff(extracted_at: str) -> tuple[str, str]:
    """(full, date) display forms of the data cut-off: ``2024-06-30 02:00 UTC`` and ``2024-06-30``."""
    try:
        moment = datetime.fromisoformat(extracted_at)
    except ValueError:
        return (extracted_at or "unknown", extracted_at[:10] or "unknown")
    offset = moment.utcoffset()
    zone = "" if offset is None else " UTC" if not offset.total_seconds() else moment.strftime(" UTC%z")
    return moment.strftime("%Y-%m-%d %H:%M") + zone, moment.strftime("%Y-%m-%d")


def change_summary(log: ChangeLog) -> list[dict[str, str]]:
    """The cover's counts of what changed since the previous run."""
    if not log.compared:
        return []
    by_flag = ", ".join(f"{labels.flag(k).lower()} {v}" for k, v in sorted(log.events_by_flag.items()))
    return [
        {"label": "New patients", "value": str(len(log.new_patients))},
        {"label": "Patients no longer in the cohort", "value": str(len(log.removed_patients))},
        {"label": "New events", "value": f"{len(log.new_events)}" + (f" ({by_flag})" if by_flag else "")},
        {"label": "Retracted events (1 → 0)", "value": str(len(log.retracted_events))},
        {"label": "Changed values", "value": str(len(log.changed_values))},
        {"label": "New / removed measurements", "value": f"{len(log.new_measures)} / {len(log.removed_measures)}"},
        {"label": "Patients with updated follow-up", "value": str(log.followup_updated)},
    ]


def _read_and_unusable(quality: dict[str, Any], counts: dict[str, Any]) -> dict[str, str]:
    """What the source gave and how much of it could not be used: from data_quality.json (schema 2: units
    read, unusable at extraction or mapping), else from the manifest's counts of an older run (resources)."""
    if appendix.is_v2(quality):
        return {"resources": fmt.integer(quality.get("read")), "unmappable": fmt.integer(quality.get("unusable")),
                "read_unit": "units read"}
    return {"resources": fmt.integer(counts.get("resources")), "unmappable": fmt.integer(counts.get("unmappable")),
            "read_unit": "resources"}


KEY_CHANGED = ("The pseudonym key changed since the previous run: the study ids in this report are new and cannot "
               "be compared with those of earlier reports.")
DEVELOPMENT_KEY = ("Study ids were made with the development pseudonym key, which is public: for demonstration and "
                   "testing only, never for patient data.")


def pseudonym_flag(run: dict[str, Any], name: str) -> bool:
    """``run["pseudonym"][name] is True`` (``key_changed``, ``development_key``), for any shape of manifest."""
    record = run.get("pseudonym")
    return isinstance(record, dict) and record.get(name) is True


def pseudonym_notices(run: dict[str, Any]) -> list[str]:
    """What the cover must say about the study ids, from the manifest's ``pseudonym`` record."""
    flags = ((KEY_CHANGED, "key_changed"), (DEVELOPMENT_KEY, "development_key"))
    return [notice for notice, name in flags if pseudonym_flag(run, name)]


def cover(files: RunFiles, study: StudyDefinition, run: dict[str, Any], log: ChangeLog) -> dict[str, Any]:
    source = run.get("source") or {}
    counts = run.get("counts") or {}
    full, day = cutoff(str(source.get("extracted_at") or ""))
    previous_cutoff = cutoff(log.previous_cutoff)[0] if log.previous_cutoff else ""
    return {
        "title": study.title,
        "short_title": study.short_title,
        "cutoff": full,
        "cutoff_date": day,
        "source": source_label(str(source.get("location") or ""), str(source.get("kind") or "")),
        "source_kind": str(source.get("kind") or ""),
        "run_id": str(run.get("run_id") or ""),
        "version": str((run.get("versions") or {}).get("pelvic-outcomes", "unknown")),
        "n_patients": fmt.integer(files.results.get("n_patients", len(files.cohort))),
        "n_measures": str(len(files.measures)),
        **_read_and_unusable(files.quality, counts),
        "previous_run_id": log.previous_run_id,
        "previous_cutoff": previous_cutoff,
        "changes": change_summary(log),
        "changes_note": log.note,
        "run_warnings": [str(w) for w in run.get("warnings") or []
                         if not (pseudonym_flag(run, "development_key") and "development" in str(w)
                                 and "key" in str(w))],  # said once, by the notice
        "notices": pseudonym_notices(run),
        "demo": DEMO_BANNER if is_demo(run) else "",
    }


def _window(study: StudyDefinition, name: str) -> dict[str, str]:
    w = study.timepoints[name]
    span = f"{fmt.number(w.low, 0)} to {fmt.number(w.high, 0)}"
    rule = "latest value in the window" if w.rule == "latest" else f"value closest to day {w.target}"
    return {"name": w.label, "code": name, "window": span, "rule": rule}


METHOD_TOPICS = {
    "quantiles": "Quantiles", "sd": "Standard deviation", "friedman": "Friedman test",
    "pairwise": "Pairwise comparisons", "paired_t": "Paired comparisons", "between_groups": "Between groups",
    "p_floor": "p-value floor", "proportions": "Proportions", "kaplan_meier": "Kaplan–Meier",
    "followup": "Follow-up", "logrank": "Log-rank", "cox": "Cox models", "ph_test": "Proportional hazards",
    "honesty": "Warnings",
}


def statements(raw: Any, words: Labels | None = None) -> list[dict[str, str]]:
    """The analysis' own statements of its methods (results.json ``methods``), in its order."""
    if not isinstance(raw, dict):
        return []
    words = words or Labels()
    return [
        {"topic": METHOD_TOPICS.get(str(k), labels.flag(str(k))), "text": words.clinical(str(v)).rstrip(".")}
        for k, v in raw.items() if v
    ]


def _joined(items: list[str], word: str = "and") -> str:
    return ", ".join(items[:-1]) + f" {word} {items[-1]}" if len(items) > 1 else "".join(items)


def planned_methods(study: StudyDefinition, wilcoxon_methods: list[str]) -> list[dict[str, str]]:
    """The methods as the plan defines them, for results that do not state their own (results.json before
    ``methods``)."""
    a, words = study.analysis, Labels(study)
    found = []
    for spec in a.repeated:
        n = len(spec.timepoints) * (len(spec.timepoints) - 1) // 2
        how = "; p-values: " + "; ".join(wilcoxon_methods) if wilcoxon_methods else ""
        found.append({"topic": f"{words.instrument_short(spec.instrument)} over time", "text": (
            "Friedman test on patients with all timepoints (complete cases); pairwise Wilcoxon signed-rank tests "
            f"for all {n} pairs of timepoints with Bonferroni adjustment (p × {n}, capped at 1){how}")})
    for pair in a.paired:
        within = f" within each subgroup of {words.fact_inline(pair.by)}; between-group comparison of the change " \
                 "(Welch t, rank-sum test)" if pair.by else ""
        overall = ", also over all patients" if pair.by and pair.overall else ""
        found.append({"topic": f"{words.instrument_short(pair.name)}, {words.timepoint(pair.before).lower()} to "
                               f"{words.timepoint(pair.after)}",
                      "text": "two-sided paired t-test, Wilcoxon signed-rank test as a sensitivity analysis"
                              f"{within}{overall}"})
    found.append({"topic": "Complications and events", "text": "proportion of patients with an exact "
                  "(Clopper–Pearson) 95% confidence interval"})
    found.append({"topic": "Follow-up", "text": "mean, median and range of follow-up; median follow-up by the "
                  "reverse Kaplan–Meier method (death censors, censoring is the event)"})
    survival = a.survival
    logrank = f"; log-rank tests by {_joined([words.fact_inline(f) for f in survival.logrank])}" \
        if survival.logrank else ""
    references = [f"{words.fact_inline(c.fact)} {words.level_label(c.fact, c.reference)}" for c in survival.cox
                  if c.reference] + [f"no {words.fact_inline(c.fact)}" for c in survival.cox if not c.reference]
    cox = (f"; Cox proportional-hazards models, univariable for each covariate and multivariable with all "
           f"{len(survival.cox)}, Efron ties, hazard ratios with 95% Wald intervals; proportional hazards checked "
           f"with scaled Schoenfeld residuals where estimable. Reference levels: {_joined(references)}"
           if survival.cox else "")
    found.append({"topic": "Survival", "text": "Kaplan–Meier estimates (lifelines) with 95% pointwise confidence "
                  f"intervals (Greenwood variance, log(−log) transform){logrank}{cox}"})
    return found


def endpoint_rules(study: StudyDefinition) -> list[dict[str, str]]:
    """Each endpoint's event and censoring, in words."""
    rules = []
    for endpoint in study.endpoints.values():
        events = ["death" if e == appendix.DEATH else labels.flag(e).lower() for e in endpoint.events]
        event = "death with a date" if list(endpoint.events) == [appendix.DEATH] else \
            f"the earliest of {_joined(events, 'or')}" if len(events) > 1 else events[0] if events else "none"
        rules.append({"name": endpoint.label, "text": f"event = {event}; otherwise censored at last contact"})
    return rules


def methods(results: dict[str, Any], study: StudyDefinition, run: dict[str, Any],
            words: Labels | None = None) -> dict[str, Any]:
    a = study.analysis
    pairwise = [
        p for spec in a.repeated
        for p in ((results.get("repeated_measures") or {}).get(spec.instrument) or {}).get("pairwise") or []
        if isinstance(p, dict)
    ]
    wilcoxon = sorted({str(p.get("method")) for p in pairwise if p.get("method")})
    return {
        "quantile_rule": fmt.quantile_rule(a.quantile_type),
        "alpha": f"{a.alpha:g}",
        "min_n": str(a.min_n_for_test),
        "min_epv": str(a.min_events_per_covariate),
        "windows": [_window(study, name) for name in study.timepoints],
        "planned": planned_methods(study, wilcoxon),
        "endpoints": endpoint_rules(study),
        "month_days": f"{DAYS_PER_MONTH:g}",
        "versions": sorted((str(k), str(v)) for k, v in (run.get("versions") or {}).items()),
        "schema_version": str(results.get("schema_version", "unknown")),
        "statements": statements(results.get("methods"), words),
        "study_source": str(run.get("study") or ""),
        "index_procedures": ", ".join(study.index_procedure) or "as defined in the study file",
    }


def build_context(
    files: RunFiles, study: StudyDefinition, run: dict[str, Any], log: ChangeLog, charts: dict[str, Any]
) -> dict[str, Any]:
    results = files.results
    words = Labels(study)
    caveats = Caveats(results.get("warnings"), words)
    digits = sections.instrument_digits(files.measures, study)
    claims = findings.claims(results, words)
    patient_flow = flow.patient_flow(files.cohort, results, files.quality, run, study)
    endpoints = [survival.endpoint(results, name, caveats) for name, _ in sections.endpoints(study, results)]
    implant = sections.implant(results)
    if figures.implant_curve(results, study) is not None:
        endpoints.append(survival.endpoint(results, IMPLANT, caveats, path="implant.survival",
                                           title=f"Implant survival (free of {implant['endpoint']})"))
    return {
        "cover": cover(files, study, run, log),
        "bottom_line": bottomline.bottom_line(results, files.cohort, study, period=patient_flow["period"],
                                              claim_counts=findings.claim_counts(claims), digits=digits),
        "findings": findings.key_findings(results, study, caveats, digits),
        "caveats": caveats.all,
        "claims": claims,
        "claim_counts": findings.claim_counts(claims),
        "flow": patient_flow,
        "table1": table1(files.cohort, study),
        "table1_halves": halves(table1(files.cohort, study)),
        "followup": survival.followup(results),
        "repeated": sections.repeated(results, study, caveats, digits),
        "progress_words": " or ".join(labels.flag(e).lower() for e in study.events),
        "responders": sections.responders(results, study),
        "paired": sections.paired(results, study, caveats, digits),
        "paired_title": sections.section_title(words, [p.name for p in study.analysis.paired], "before and after")
        if study.analysis.paired else "Paired comparisons",
        "events": sections.events(results, study, caveats),
        "events_timing": any(r["timing"] not in ("", sections.NOT_AVAILABLE) for r in sections.events(
            results, study, caveats)),
        "events_caveats": caveats.about("events"),
        "implant": implant,
        "survival": endpoints,
        "risk_every": f"{study.analysis.risk_table_every_months:g}",
        "methods": methods(results, study, run, words),
        "quality": appendix.quality_summary(files.quality, run.get("counts") or {}),
        "patients": appendix.patient_listing(files.cohort, study),
        "patient_columns": appendix.listing_columns(files.cohort, study),
        "patient_caption": appendix.listing_caption(study),
        "codebook": appendix.codebook(study),
        "flag_legend": "; ".join(f"{labels.abbreviation(f)} {labels.flag(f).lower()}" for f in study.flag_columns),
        "measure_columns": [
            {"instrument": words.instrument(i), "timepoint": words.timepoint(t)}
            for i, t in appendix.measure_columns(study)
        ],
        "measure_rows": appendix.measure_listing(files.measures, files.cohort, study),
        "changes": appendix.change_detail(log, study),
        "charts": charts,
    }
