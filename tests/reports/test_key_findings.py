"""The key-findings page says exactly what results.json says, under the report's formatting rules.

Two directions: every headline figure of results.json is on the page (formatted by the documented rule),
and every number printed on the page traces back to a value in results.json.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from config.study import StudyDefinition
from reports import formatting as fmt
from reports import render_report
from tests.reports.conftest import FIXTURES, make_run_dir, manifest, pdf_pages

TIMEPOINTS = ("pre", "1m", "3m", "6m")
TIMEPOINT_WORDS = {"pre": "Pre-op", "1m": "1 month", "3m": "3 months", "6m": "6 months"}


def findings_page(pages: list[str]) -> str:
    """The key-findings page without its running header and footer."""
    page = next(p for p in pages if p.startswith("Key findings"))
    page = re.sub(r"Pelvic prosthesis outcomes Data cut-off \S+ \S+ UTC", "", page)
    return re.sub(r"Run \S+ Page \d+ of \d+", "", page)


def digits() -> dict[str, int]:
    """Each instrument's decimals in the fixture's measures.csv: KPS and MSTS 93 whole, VAS and SIJ 1."""
    measures = pd.read_csv(FIXTURES / "measures.csv")
    return {str(name): fmt.decimals_of(values) for name, values in measures.groupby("instrument")["value"]}


def expected_strings(results: dict[str, Any]) -> list[str]:
    """Every headline figure, formatted by the rules of reports.formatting (medians with the measure's decimals,
    means and SDs with one more)."""
    d = digits()
    fu = results["followup"]
    completeness = fu.get("completeness")
    out = [
        *([f"completeness (Clark's C) {100 * completeness:.1f}%"] if completeness is not None else []),
        f"{results['n_patients']} patients",
        f"median {fmt.months(fu['median_months'])} (range {fmt.months(fu['min_months'])}–"
        f"{fmt.months(fu['max_months'])}), mean {fmt.months(fu['mean_months'])}",
        f"reverse Kaplan–Meier median {fmt.months(fu['reverse_km_median_months'])}",
    ]
    for name in ("vas", "kps"):
        node = results["repeated_measures"][name]
        for tp in TIMEPOINTS:
            s = node["timepoints"][tp]
            out.append(f"{TIMEPOINT_WORDS[tp]} {fmt.median_iqr(s['median'], s['q1'], s['q3'], d[name])}")
        fr = node["friedman"]
        out.append(f"Friedman χ² = {fmt.statistic(fr['statistic'])}, df = {fr['df']}, "
                   f"{fmt.p_equation(fr['p'])}, n = {fr['n']}")
        smallest = min(p["p_adjusted"] for p in node["pairwise"])
        out.append(f"smallest adjusted {fmt.p_equation(smallest)}")
    paired = results["paired"]
    sij = paired["sij_contralateral_mm"]
    for name, node in (("msts93", paired["msts93"]), ("sij_contralateral_mm", sij["zone_iv"]),
                       ("sij_contralateral_mm", sij["no_zone_iv"])):
        before = fmt.mean_sd(node["mean_pre"], node["sd_pre"], d[name] + 1)
        after = fmt.mean_sd(node["mean_post"], node["sd_post"], d[name] + 1)
        when = [f"{TIMEPOINT_WORDS[node[k]]} " if k in node else "" for k in ("before", "after")]
        out.append(f"{when[0]}{before} → {when[1]}{after}")
        out.append(f"(n = {node['n']})")
        out.append(f"paired t = {fmt.statistic(node['t'])}, df = {node['df']}, {fmt.p_equation(node['p'])}")
    for event in results["events"]:
        scale = 100 if event["ci_upper"] <= 1 else 1  # results.json may give the CI as a proportion
        ci = f"{event['ci_lower'] * scale:.1f} to {event['ci_upper'] * scale:.1f}"
        out.append(f"{event['count']}/{event['n']} {event['percent']:.1f}% ({ci})")
    for name in ("os", "pfs"):
        node = results["survival"][name]
        word = "event" if node["events"] == 1 else "events"
        median = "not reached"
        if "median_ci_lower" in node:  # schema 2: the median's CI; "not reached" where its curve stays above 0.5
            low = fmt.months(node["median_ci_lower"]) if node["median_ci_lower"] is not None else "not estimable"
            high = fmt.months(node["median_ci_upper"]) if node["median_ci_upper"] is not None else "not reached"
            median += f" (95% CI {low} to {high})"
        out.append(f"{median}; {node['events']} {word} in {node['n']}")
        year = next((p for p in node.get("landmarks") or [] if p["months"] == 12), None)
        if year and year["survival"] is not None:
            ci = f"{100 * year['ci_lower']:.1f} to {100 * year['ci_upper']:.1f}"
            out.append(f"at 12 months {100 * year['survival']:.1f}% ({ci})")
        for covariate, test in node["logrank"].items():
            label = {"sex": "sex", "tumor_category": "tumour category", "resection_margin": "resection margin",
                     "zone_iv": "zone IV involvement"}[covariate]
            out.append(f"{label} {fmt.pvalue(test['p'])}")
    return out


def test_every_headline_figure_of_results_json_is_on_the_key_findings_page(
    pages: list[str], results: dict[str, Any]
) -> None:
    page = findings_page(pages)
    for text in expected_strings(results):
        assert text in page, text


def test_key_findings_match_the_abstract_shaped_fixture_literally(pages: list[str]) -> None:
    page = findings_page(pages)
    for text in ("7 patients", "Pre-op 7.0 (6.0–8.5)", "1 month 4.0 (3.5–5.0)", "6 months 2.5 (2.0–3.25)",
                 "Pre-op 60 (40–60)", "Pre-op 11.0 ± 4.1 → 3 months 23.9 ± 3.9", "57.1% (18.4 to 90.1)",
                 "14.3% (0.4 to 57.9)", "0/7 0.0% (0.0 to 41.0)",
                 "not reached (95% CI 7.3 to not reached); 1 event in 7", "at 12 months 80.0% (20.4 to 96.9)",
                 "completeness (Clark's C) 69.6%", "p < 0.001", "VAS 7/7 at 6 months, 100.0% (59.0 to 100.0)",
                 "any failure type 3/7, 42.9% (9.9 to 81.6); revision 1/7"):
        assert text in page, text


def _numbers(node: Any) -> list[float]:
    if isinstance(node, bool) or node is None:
        return []
    if isinstance(node, int | float):
        return [float(node)]
    if isinstance(node, dict):
        return [x for value in node.values() for x in _numbers(value)]
    if isinstance(node, list):
        return [x for value in node for x in _numbers(value)]
    return []


def test_every_number_printed_on_the_key_findings_page_traces_to_results_json(
    pages: list[str], results: dict[str, Any], study: StudyDefinition
) -> None:
    page = findings_page(pages).split(" Caveats ")[0]  # caveat texts are results.json messages, quoted
    page = re.sub(r"data cut-off \S+ \S+ UTC", "", page)
    page = re.sub(r"\[[\d, ]+\]", "", page)  # citations of caveats
    page = re.sub(r"\d+% CI|\(0-10\)|\(0-100\)|MSTS 93|\d+ months?|\d+ of \d+ pairs with adjusted p < 0\.05|type \d",
                  "", page)
    candidates = _numbers(results["repeated_measures"]) + _numbers(results["paired"]) + _numbers(results["events"])
    candidates += _numbers(results["followup"]) + _numbers(results["survival"]) + [results["n_patients"]]
    candidates += _numbers(results.get("responders")) + _numbers(results.get("implant"))
    percent = _numbers(results["events"]) + _numbers(results["survival"]) + _numbers(results["followup"])
    candidates += [100 * c for c in percent + _numbers(results.get("responders")) + _numbers(results.get("implant"))]
    checked = 0
    for token in re.findall(r"[−-]?\d+(?:\.\d+)?", page):
        digits = len(token.split(".")[1]) if "." in token else 0
        shown = token.replace("−", "-")
        assert any(f"{c:.{digits}f}" == shown or (shown == "0.001" and c < 0.001) for c in candidates), token
        checked += 1
    assert checked > 80


def test_minimal_results_with_percent_cis_and_unscoped_warnings_render_the_same_figures(
    tmp_path: Path, study: StudyDefinition
) -> None:
    run_dir = make_run_dir(tmp_path / "run", results="results_minimal.json")
    render_report(run_dir, study=study, run=manifest(), previous=None)
    results = json.loads((FIXTURES / "results_minimal.json").read_text(encoding="utf-8"))
    page = findings_page(pdf_pages(run_dir / "report.pdf"))
    for text in expected_strings(results):
        assert text in page, text
    assert "57.1% (18.4 to 90.1)" in page
    assert "[1]" in page  # "VAS: Friedman and Wilcoxon tests on n = 7 …" tied to the VAS row by its words


def test_a_null_figure_reads_not_estimable_and_cites_the_warning_that_says_why(
    tmp_path: Path, study: StudyDefinition
) -> None:
    results = json.loads((FIXTURES / "results.json").read_text(encoding="utf-8"))
    results["repeated_measures"]["vas"]["friedman"].update(statistic=None, p=None)
    results["warnings"] = [{"code": "not_computable", "message": "Friedman test needs two complete cases",
                            "scope": "repeated_measures.vas.friedman"}]
    run_dir = make_run_dir(tmp_path / "run")
    (run_dir / "results.json").write_text(json.dumps(results), encoding="utf-8")
    render_report(run_dir, study=study, run=manifest(), previous=None)
    page = findings_page(pdf_pages(run_dir / "report.pdf"))
    vas_row = page.split("Pain, VAS (0-10), median (IQR)")[1].split("Karnofsky")[0]
    assert "not estimable" in vas_row and "[1]" in vas_row
    assert "[1] Friedman test needs two complete cases" in page
