"""The key-findings page: every headline figure of results.json with its IQR or CI and its caveats, and the
abstract's claims with their verdicts.

Each row is ``{topic, estimate, test, refs}``; ``refs`` cites the numbered caveats whose scope is on the
path of a figure in the row. Every number comes from results.json through :mod:`reports.formatting`, so
the page and the file agree.
"""

from __future__ import annotations

from typing import Any

from config.study import RepeatedSpec, StudyDefinition
from reports import formatting as fmt
from reports import labels
from reports.caveats import Caveats
from reports.formatting import DASH, as_float
from reports.inputs import dig
from reports.labels import Labels
from reports.sections import (
    NOT_AVAILABLE,
    NOT_ESTIMABLE,
    comparisons,
    describe_test,
    effect,
    endpoints,
    paired_results,
)
from reports.survival import completeness, count_of, landmark_cells, median_with_ci, one_event_note, reverse_km_text

ARROW = " → "
PAIRED_FIGURES = ("n", "mean_pre", "sd_pre", "mean_post", "sd_post", "t", "df", "p", "mean_difference",
                  "hodges_lehmann")


def _row(topic: str, estimate: str | list[str], test: str, refs: str, joiner: str = ARROW) -> dict[str, Any]:
    """``estimate`` as a list: parts that must not break across lines, printed joined by ``joiner`` (arrows
    for a course over time)."""
    parts = estimate if isinstance(estimate, list) else [estimate]
    return {"topic": topic, "estimate": joiner.join(parts), "parts": parts, "joiner": joiner, "test": test,
            "refs": refs}


def _followup(results: dict[str, Any], caveats: Caveats) -> dict[str, Any]:
    fu = results.get("followup") or {}
    reverse = reverse_km_text(fu)
    complete = completeness(fu)
    return _row(
        "Follow-up, months",
        f"median {fmt.months(fu.get('median_months'))} (range {fmt.months(fu.get('min_months'))}{DASH}"
        f"{fmt.months(fu.get('max_months'))}), mean {fmt.months(fu.get('mean_months'))}",
        f"reverse Kaplan–Meier median {reverse}; completeness (Clark's C) {complete}",
        caveats.refs("followup"),
    )


def _trend(results: dict[str, Any], spec: RepeatedSpec, study: StudyDefinition, caveats: Caveats,
           digits: int) -> dict[str, Any]:
    words = Labels(study)
    name = spec.instrument
    path = f"repeated_measures.{name}"
    node = dig(results, path) or {}
    points = []
    for tp in spec.timepoints:
        s = dig(node, f"timepoints.{tp}") or {}
        points.append(f"{words.timepoint(tp)} {fmt.median_iqr(s.get('median'), s.get('q1'), s.get('q3'), digits)}")
    fr = node.get("friedman") or {}
    pairs = [p for p in node.get("pairwise") or [] if isinstance(p, dict)]
    adjusted = [as_float(p.get("p_adjusted")) for p in pairs]
    known = [p for p in adjusted if p is not None]
    below = sum(p < study.analysis.alpha for p in known)
    pairwise = (
        f"; pairwise Wilcoxon (Bonferroni): {below} of {len(adjusted)} pairs with adjusted p < "
        f"{study.analysis.alpha:g}, smallest adjusted {fmt.p_equation(min(known))}"
        if known else ""
    )
    first, last = spec.timepoints[0], spec.timepoints[-1]
    overall = next((p for p in pairs if p.get("a") == first and p.get("b") == last), None)
    change = ""
    if overall is not None:
        hl = effect(overall, "hodges_lehmann", digits + 1)
        if hl not in (NOT_AVAILABLE, NOT_ESTIMABLE):
            change = f"; {words.timepoint(first)} to {words.timepoint(last)}, Hodges–Lehmann median change {hl}"
    return _row(
        f"{words.instrument_label(name)}, median (IQR)",
        points,
        describe_test("Friedman χ²", fr.get("statistic"), fr.get("df"), fr.get("p"), fr.get("n")) + pairwise + change,
        caveats.refs(f"{path}.timepoints", f"{path}.friedman", f"{path}.pairwise"),
    )


def _paired(node: dict[str, Any], path: str, topic: str, caveats: Caveats, *, unit: str,
            digits: int, words: Labels) -> dict[str, Any]:
    suffix = f" {unit}" if unit else ""
    times = [words.timepoint(str(node.get(k))) + " " if node.get(k) else "" for k in ("before", "after")]
    before = times[0] + fmt.mean_sd(node.get("mean_pre"), node.get("sd_pre"), digits + 1)
    after = times[1] + fmt.mean_sd(node.get("mean_post"), node.get("sd_post"), digits + 1)
    difference = effect(node, "mean_difference", digits + 1)
    test = "paired " + describe_test("t", node.get("t"), node.get("df"), node.get("p"))
    if difference not in (NOT_AVAILABLE, NOT_ESTIMABLE, fmt.MISSING):
        test = f"mean difference {difference}{suffix}; {test}"
    return _row(
        topic,
        [before, f"{after}{suffix} (n = {fmt.integer(node.get('n'))})"],
        test,
        caveats.refs(*(f"{path}.{key}" for key in PAIRED_FIGURES)),
    )


def _paired_rows(results: dict[str, Any], study: StudyDefinition, caveats: Caveats,
                 digits: dict[str, int]) -> list[dict[str, Any]]:
    words = Labels(study)
    rows = []
    for name, node in paired_results(study, results):
        instrument = study.instruments.get(words.instrument_key(name))
        unit = instrument.unit if instrument else ""
        title = words.instrument_short(name)
        for key, sub in comparisons(node):
            group = "" if key in ("", "overall") else words.subgroup(name, key)
            topic = ", ".join(part for part in (title, group, "mean ± SD") if part)
            path = f"paired.{name}.{key}" if key else f"paired.{name}"
            rows.append(_paired(sub, path, topic, caveats, unit=unit, digits=digits.get(name, 1), words=words))
    return rows


def _logrank_text(node: dict[str, Any], words: Labels) -> str:
    logrank = node.get("logrank") or {}
    tests = ", ".join(
        f"{words.fact_inline(k)} {fmt.pvalue((v or {}).get('p'))}" for k, v in logrank.items()
    )
    if not tests:
        return NOT_ESTIMABLE
    caveat = one_event_note(node)
    return f"log-rank p ({caveat}): {tests}" if caveat else f"log-rank p: {tests}"


def _survival(results: dict[str, Any], name: str, caveats: Caveats, words: Labels) -> dict[str, Any]:
    path = f"survival.{name}"
    node = dig(results, path) or {}
    year = next((c for c in landmark_cells(node) if c["months"] == "12"), None)
    parts = [median_with_ci(node), f"{count_of(node.get('events'), 'event')} in {fmt.integer(node.get('n'))}"]
    if year and year["estimate"] != NOT_AVAILABLE:
        parts.append(f"at 12 months {year['estimate']}")
    return _row(
        f"{words.endpoint(name)}, median",
        parts,
        _logrank_text(node, words),
        caveats.refs(f"{path}.median_months", f"{path}.n", f"{path}.events", f"{path}.logrank",
                     f"{path}.landmarks"),
        joiner="; ",
    )


def _cox(results: dict[str, Any], study: StudyDefinition, caveats: Caveats, words: Labels) -> dict[str, Any]:
    parts, paths, covariates = [], [], []
    for name, node in endpoints(study, results):
        model = dig(node, "cox.multivariable")
        if not isinstance(model, dict):
            continue
        paths.append(f"survival.{name}.cox.multivariable")
        estimable = bool(model.get("estimable")) and bool(model.get("terms"))
        parts.append(f"{words.endpoint_short(name)}: "
                     f"{'estimated, see Survival' if estimable else NOT_ESTIMABLE}")
        for term in dig(node, "cox.univariable") or []:
            covariate = str(term.get("covariate") or str(term.get("term", "")).partition("=")[0])
            if covariate and words.fact_inline(covariate) not in covariates:
                covariates.append(words.fact_inline(covariate))
    return _row("Cox model, multivariable", "; ".join(parts) or NOT_ESTIMABLE,
                f"covariates: {', '.join(covariates)}" if covariates else "", caveats.refs(*paths))


def _responders(results: dict[str, Any], caveats: Caveats, words: Labels) -> list[dict[str, Any]]:
    """One row: per instrument with an MCID, the share of patients reaching it at its last timepoint."""
    parts, mcids, baselines = [], [], set()
    for name, node in (results.get("responders") or {}).items():
        points = [p for p in node.get("timepoints") or [] if isinstance(p, dict)] if isinstance(node, dict) else []
        if not points:
            continue
        last = points[-1]
        count, n = fmt.integer(last.get("count")), fmt.integer(last.get("n"))
        low, high = fmt.ci_percent(last.get("percent"), last.get("ci_lower"), last.get("ci_upper"), last.get("n"))
        parts.append(f"{words.instrument(name)} {count}/{n} at {words.timepoint(str(last.get('timepoint')))}, "
                     f"{fmt.percent_ci(last.get('percent'), low, high)}")  # may wrap: not an arrow row
        better = "−" if node.get("better") == "lower" else "+"
        mcids.append(f"{words.instrument(name)} {better}{fmt.exact(node.get('mcid'), 0, 2)}")
        baselines.add(words.timepoint(str(node.get("baseline") or next(iter(words.timepoints), ""))).lower())
    if not parts:
        return []
    test = f"change from {' / '.join(sorted(baselines))} of at least the MCID: {', '.join(mcids)}; exact 95% CI"
    return [_row("Responders (reaching the MCID)", parts, test, caveats.refs("responders"), joiner="; ")]


def _implant(results: dict[str, Any], caveats: Caveats) -> list[dict[str, Any]]:
    """One row: any Henderson failure type, each type seen, and the reoperations."""
    node = results.get("implant")
    if not isinstance(node, dict) or not (node.get("failure_types") or node.get("reoperations")):
        return []
    parts = []
    anything = node.get("any_failure")
    if isinstance(anything, dict):
        low, high = fmt.ci_percent(anything.get("percent"), anything.get("ci_lower"), anything.get("ci_upper"),
                                   anything.get("n"))
        parts.append(f"any failure type {fmt.integer(anything.get('count'))}/{fmt.integer(anything.get('n'))}, "
                     f"{fmt.percent_ci(anything.get('percent'), low, high)}")
    for item in node.get("reoperations") or []:
        if isinstance(item, dict):
            parts.append(f"{labels.flag(str(item.get('name'))).lower()} "
                         f"{fmt.integer(item.get('count'))}/{fmt.integer(item.get('n'))}")
    seen = [f"type {fmt.integer(t.get('type'))} {fmt.integer(t.get('count'))}"
            for t in node.get("failure_types") or [] if isinstance(t, dict) and as_float(t.get("count"))]
    test = f"Henderson types seen: {', '.join(seen)}" if seen else "no Henderson failure type seen"
    return [_row("Implant failure and reoperation", parts or [NOT_ESTIMABLE], test, caveats.refs("implant"),
                 joiner="; ")]


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def key_findings(results: dict[str, Any], study: StudyDefinition, caveats: Caveats,
                 digits: dict[str, int] | None = None) -> dict[str, Any]:
    digits = digits or {}
    words = Labels(study)
    rows: list[dict[str, Any]] = [
        _followup(results, caveats),
        *(_trend(results, spec, study, caveats, digits.get(spec.instrument, 1)) for spec in study.analysis.repeated),
        *_paired_rows(results, study, caveats, digits),
        *_responders(results, caveats, words),
        *(_survival(results, name, caveats, words) for name, _ in endpoints(study, results)),
        *_implant(results, caveats),
        _cox(results, study, caveats, words),
    ]
    events = [
        {
            "name": labels.flag(str(e.get("name", ""))),
            "count": f"{fmt.integer(e.get('count'))}/{fmt.integer(e.get('n'))}",
            "estimate": fmt.percent_ci(
                e.get("percent"), *fmt.ci_percent(e.get("percent"), e.get("ci_lower"), e.get("ci_upper"), e.get("n"))
            ),
        }
        for e in results.get("events") or []
        if isinstance(e, dict)
    ]
    events_refs = caveats.refs("events")
    return {
        "n_patients": fmt.integer(results.get("n_patients")),
        "notice": _sentence(caveats.reason("n_patients", fallback="")),
        "rows": rows,
        "events": events,
        "events_refs": events_refs,
        "caveats": caveats.cited([r["refs"] for r in rows] + [events_refs]),
        "n_caveats": len(caveats.all),
    }


VERDICTS = {
    "reproduced": ("✓", "reproduced"),
    "contradicted": ("✗", "contradicted"),
    "unattainable": ("⊘", "unattainable"),
    "inconclusive": ("?", "inconclusive"),
    "arithmetic error": ("≠", "arithmetic-error"),
    "supported": ("✓", "reproduced"),  # results.json before the five verdicts
    "not supported": ("✗", "contradicted"),
}


def claims(results: dict[str, Any], words: Labels | None = None) -> list[dict[str, str]]:
    """The abstract's claims, each with its verdict (one of five), the reason and the evidence.

    Read from ``claims[]`` of ``{claim, verdict, reason, evidence, path}``; an older run's ``supported`` /
    ``not supported`` are shown as they were, with the same styles as reproduced / contradicted.
    """
    words = words or Labels()
    rows = []
    for item in results.get("claims") or []:
        if not isinstance(item, dict):
            continue
        verdict = item.get("verdict")
        if verdict is None and "supported" in item:
            verdict = "supported" if item["supported"] else "not supported"
        text = str(verdict or fmt.MISSING)
        symbol, style = VERDICTS.get(text, ("", "other"))
        reason = words.clinical(str(item.get("reason") or ""))
        evidence = words.clinical(str(item.get("evidence") or ""))
        rows.append({
            "claim": str(item.get("claim") or item.get("text") or ""),
            "verdict": text,
            "symbol": symbol,
            "style": style,
            "reason": reason,
            "evidence": "" if evidence == reason else evidence,
        })
    return rows


def claim_counts(rows: list[dict[str, str]]) -> list[tuple[str, int]]:
    """How many claims got each verdict, in the order of :data:`VERDICTS`."""
    order = [v for v in VERDICTS]
    counts = {v: sum(r["verdict"] == v for r in rows) for v in order}
    others = sorted({r["verdict"] for r in rows} - set(order))
    counts.update({v: sum(r["verdict"] == v for r in rows) for v in others})
    return [(v, n) for v, n in counts.items() if n]
