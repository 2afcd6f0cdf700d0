"""The key-findings page: every headline figure of results.json with its IQR or CI and its caveats.

Each row is ``{topic, estimate, test, refs}``; ``refs`` cites the numbered caveats whose scope is on the
path of a figure in the row. Every number comes from results.json through :mod:`reports.formatting`, so
the page and the file agree.
"""

from __future__ import annotations

from typing import Any

from config.study import StudyDefinition
from reports import formatting as fmt
from reports import labels
from reports.caveats import Caveats
from reports.formatting import DASH, as_float
from reports.inputs import dig
from reports.sections import NOT_ESTIMABLE, describe_test
from reports.survival import count_of, median_text, reverse_km_text

ARROW = " → "
PAIRED_FIGURES = ("n", "mean_pre", "sd_pre", "mean_post", "sd_post", "t", "df", "p")


def _row(topic: str, estimate: str | list[str], test: str, refs: str) -> dict[str, Any]:
    """``estimate`` as a list: parts that must not break across lines, printed joined by arrows."""
    parts = estimate if isinstance(estimate, list) else [estimate]
    return {"topic": topic, "estimate": ARROW.join(parts), "parts": parts, "test": test, "refs": refs}


def _followup(results: dict[str, Any], caveats: Caveats) -> dict[str, str]:
    fu = results.get("followup") or {}
    reverse = reverse_km_text(fu)
    return _row(
        "Follow-up, months",
        f"median {fmt.months(fu.get('median_months'))} (range {fmt.months(fu.get('min_months'))}{DASH}"
        f"{fmt.months(fu.get('max_months'))}), mean {fmt.months(fu.get('mean_months'))}",
        f"reverse Kaplan–Meier median {reverse}",
        caveats.refs("followup"),
    )


def _trend(results: dict[str, Any], name: str, study: StudyDefinition, caveats: Caveats) -> dict[str, str]:
    path = f"repeated_measures.{name}"
    node = dig(results, path) or {}
    points = []
    for tp in study.analysis.repeated_timepoints:
        s = dig(node, f"timepoints.{tp}") or {}
        points.append(f"{labels.timepoint(tp)} {fmt.median_iqr(s.get('median'), s.get('q1'), s.get('q3'))}")
    fr = node.get("friedman") or {}
    adjusted = [as_float(p.get("p_adjusted")) for p in node.get("pairwise") or [] if isinstance(p, dict)]
    known = [p for p in adjusted if p is not None]
    below = sum(p < study.analysis.alpha for p in known)
    pairwise = (
        f"; pairwise Wilcoxon (Bonferroni): {below} of {len(adjusted)} pairs with adjusted p < "
        f"{study.analysis.alpha:g}, smallest adjusted {fmt.p_equation(min(known))}"
        if known else ""
    )
    instrument = study.instruments.get(name)
    return _row(
        f"{instrument.label if instrument else name}, median (IQR)",
        points,
        describe_test("Friedman χ²", fr.get("statistic"), fr.get("df"), fr.get("p"), fr.get("n")) + pairwise,
        caveats.refs(f"{path}.timepoints", f"{path}.friedman", f"{path}.pairwise"),
    )


def _paired(results: dict[str, Any], path: str, topic: str, unit: str, caveats: Caveats) -> dict[str, str]:
    node = dig(results, path) or {}
    suffix = f" {unit}" if unit else ""
    before = fmt.mean_sd(node.get("mean_pre"), node.get("sd_pre"))
    after = fmt.mean_sd(node.get("mean_post"), node.get("sd_post"))
    return _row(
        topic,
        [before, f"{after}{suffix} (n = {fmt.integer(node.get('n'))})"],
        "paired " + describe_test("t", node.get("t"), node.get("df"), node.get("p")),
        caveats.refs(*(f"{path}.{key}" for key in PAIRED_FIGURES)),
    )


def _survival(results: dict[str, Any], name: str, caveats: Caveats) -> dict[str, str]:
    path = f"survival.{name}"
    node = dig(results, path) or {}
    logrank = node.get("logrank") or {}
    tests = ", ".join(
        f"{labels.covariate_inline(k)} {fmt.pvalue((v or {}).get('p'))}" for k, v in logrank.items()
    )
    return _row(
        f"{labels.ENDPOINTS.get(name, name)}, median",
        f"{median_text(node)} ({count_of(node.get('events'), 'event')} in {fmt.integer(node.get('n'))})",
        f"log-rank p: {tests}" if tests else NOT_ESTIMABLE,
        caveats.refs(f"{path}.median_months", f"{path}.n", f"{path}.events", f"{path}.logrank"),
    )


def _cox(results: dict[str, Any], caveats: Caveats) -> dict[str, str]:
    parts, paths = [], []
    for name in ("os", "pfs"):
        model = dig(results, f"survival.{name}.cox.multivariable") or {}
        paths.append(f"survival.{name}.cox.multivariable")
        estimable = bool(model.get("estimable")) and bool(model.get("terms"))
        parts.append(f"{name.upper()}: {'estimated, see Survival' if estimable else NOT_ESTIMABLE}")
    covariates = "covariates: sex, tumour category, resection margin, zone IV"
    return _row("Cox model, multivariable", "; ".join(parts), covariates, caveats.refs(*paths))


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def key_findings(results: dict[str, Any], study: StudyDefinition, caveats: Caveats) -> dict[str, Any]:
    msts_t = " to ".join(labels.timepoint(t) for t in study.analysis.msts_timepoints)
    sij_t = " to ".join(labels.timepoint(t) for t in study.analysis.sij_timepoints)
    sij = "paired.sij_contralateral_mm"
    rows: list[dict[str, Any]] = [
        _followup(results, caveats),
        *(_trend(results, name, study, caveats) for name in study.analysis.repeated_instruments),
        _paired(results, "paired.msts93", f"MSTS 93, mean ± SD, {msts_t}", "", caveats),
        _paired(results, f"{sij}.zone_iv", f"SIJ space, zone IV, {sij_t}", "mm", caveats),
        _paired(results, f"{sij}.no_zone_iv", f"SIJ space, no zone IV, {sij_t}", "mm", caveats),
        _survival(results, "os", caveats),
        _survival(results, "pfs", caveats),
        _cox(results, caveats),
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


def claims(results: dict[str, Any]) -> list[dict[str, str]]:
    """The abstract's inferential claims and whether the data support them, when results.json lists them.

    Read from an optional ``claims[]`` of ``{claim, verdict | supported, evidence | reason}``.
    """
    rows = []
    for item in results.get("claims") or []:
        if not isinstance(item, dict):
            continue
        verdict = item.get("verdict")
        if verdict is None and "supported" in item:
            verdict = "supported" if item["supported"] else "not supported"
        rows.append({
            "claim": str(item.get("claim") or item.get("text") or ""),
            "verdict": str(verdict or fmt.MISSING),
            "evidence": str(item.get("evidence") or item.get("reason") or ""),
        })
    return rows
