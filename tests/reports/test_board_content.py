"""What issue 12 asks the report to say: the bottom line first, honest verdicts, patient flow, the swimmer plot,
survival as clinicians read it, effect sizes beside every p, responders, the implant's failures, clinical words.

Figures are checked against the fixture's results.json (written by the analysis, tests/reports/fixtures) and
formatted by the documented rules; the text is read from the rendered PDF.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from config.study import StudyDefinition
from reports import charts, findings, flow, labels, render_report, sections, survival, swimmer
from reports import formatting as fmt
from reports.context import DEMO_BANNER, is_demo
from tests.reports.conftest import FIXTURES, make_run_dir, manifest, pdf_pages


def flat(text: str) -> str:
    return " ".join(text.split())


# --------------------------------------------------------------------------- what the board sees first


def bottom_line(page: str) -> str:
    return page.split("Bottom line", 1)[1].split("Notices", 1)[0]


def test_the_cover_opens_with_a_bottom_line_hedged_by_patients_and_events(pages: list[str]) -> None:
    text = bottom_line(pages[0])
    assert "7 patients operated between June 2022 and December 2023 were followed for a median of 10.1 months" in text
    assert "Median VAS fell from 7.0 to 2.5 and median KPS rose from 60 to 80 (pre-op to 6 months)" in text
    assert "With 7 patients and 3 progression-free survival events, estimates are imprecise" in text
    assert "inconclusive: they can neither show nor rule out a difference" in text
    assert "no effect" not in text.lower() and "does not affect" not in text
    assert 3 <= text.count(". ") + 1 <= 6  # three or four sentences, not a page


def test_the_key_table_follows_on_page_2(pages: list[str]) -> None:
    assert pages[1].startswith("Key findings")


def test_a_synthetic_demo_banner_only_when_the_source_is_the_bundled_demo(tmp_path: Path,
                                                                          study: StudyDefinition) -> None:
    run = manifest()
    assert not is_demo(run)
    run["source"]["location"] = "bundled demo cohort"
    assert is_demo(run)
    run_dir = make_run_dir(tmp_path / "run")
    render_report(run_dir, study=study, run=run, previous=None)
    cover = pdf_pages(run_dir / "report.pdf")[0]
    assert f"Synthetic demo data. {flat(DEMO_BANNER)}" in cover


def test_a_hospital_source_has_no_demo_banner(pages: list[str]) -> None:
    assert "Synthetic demo data" not in " ".join(pages)


# --------------------------------------------------------------------------- claims


def test_each_claim_shows_one_of_five_verdicts_with_its_reason_styled_apart(
    rendered: tuple[Path, dict[str, float]], pages: list[str], results: dict[str, Any]
) -> None:
    html = (rendered[0] / "report.html").read_text(encoding="utf-8")
    styles = {"reproduced": "reproduced", "contradicted": "contradicted", "unattainable": "unattainable",
              "inconclusive": "inconclusive", "arithmetic error": "arithmetic-error"}
    verdicts = {c["verdict"] for c in results["claims"]}
    assert verdicts == set(styles)  # the fixture has all five
    for style in styles.values():
        assert f'class="verdict {style}"' in html
    text = " ".join(pages)
    for claim in results["claims"]:
        assert flat(f"{claim['verdict']} {claim['reason']}") in text or claim["verdict"] in text
    assert "✓ reproduced" in text and "≠ arithmetic error" in text and "⊘ unattainable" in text


def test_claims_of_an_older_run_keep_their_words_with_the_matching_style() -> None:
    rows = findings.claims({"claims": [{"claim": "a", "supported": True},
                                       {"claim": "b", "verdict": "not supported"}]})
    assert [(r["verdict"], r["style"]) for r in rows] == [("supported", "reproduced"),
                                                          ("not supported", "contradicted")]
    assert findings.claim_counts(rows) == [("supported", 1), ("not supported", 1)]


# --------------------------------------------------------------------------- patient flow


def quality(*rows: tuple[str, str, int]) -> dict[str, Any]:
    detail = [{"resource_type": t, "field": "x", "reason": r, "count": n} for t, r, n in rows]
    return {"schema_version": 2, "mapping": {"detail": detail}}


def test_patient_flow_counts_exclusions_by_reason_and_analysed_patients_per_outcome(
    study: StudyDefinition, results: dict[str, Any]
) -> None:
    cohort = pd.read_csv(FIXTURES / "cohort.csv", dtype={"study_id": str})
    run = manifest()
    run["source"]["counts"]["Patient"] = 11
    log = quality(("Patient", "no index procedure: patient not in the cohort", 2),
                  ("Patient", "surgery after the data cut-off: patient not in the cohort", 1),
                  ("Patient", "duplicate study identifier: Patient not used", 1))
    found = flow.patient_flow(cohort, results, log, run, study)
    assert (found["in_source"], found["no_index"], found["unusable"]) == ("11", "2", "1")
    assert (found["with_index"], found["after_cutoff"], found["included"]) == ("8", "1", "7")
    assert found["period"] == "June 2022 to December 2023" and found["died"] == "1"
    analysed = {row["what"]: (row["n"], row["missing"]) for row in found["analysed"]}
    assert analysed["Pain, VAS: values at every timepoint (Pre-op, 1 month, 3 months, 6 months)"] == ("7", "0")
    assert analysed["Contralateral sacroiliac joint space: Pre-op and 6 months"] == ("7", "0")
    assert analysed["Overall survival: time and status known"] == ("7", "0")


def test_lost_to_follow_up_are_the_living_without_contact_in_the_six_months_before_the_cut_off() -> None:
    cohort = pd.DataFrame({
        "study_id": ["a", "b", "c"], "surgery_date": ["2023-01-01", "2023-01-01", "2023-01-01"],
        "followup_months": [17.0, 8.0, 8.0], "death": [0, 0, 1],
    })
    assert flow.lost_to_followup(cohort, date(2024, 6, 30)) == 1  # b: 10 months without contact; c died
    assert flow.lost_to_followup(cohort, None) is None


@pytest.mark.parametrize("reason, kind", [
    ("disease status worsened without a local or distant qualifier: not counted", "event"),
    ("date not after surgery: not counted as an event", "event"),
    ("death date after the data cut-off: not a death within follow-up", "event"),
    ("deceased without a usable date: death date set to last contact", "date"),
    ("partial date (month precision): 1st assumed", "date"),
    ("partial date (year precision): too imprecise for a timepoint window", "value"),
    ("outside every timepoint window", "value"),
    ("VAS on a 0-100 mm scale (unit mm) converted to 0-10", "none"),
    ("no index procedure: patient not in the cohort", "patient"),
])
def test_each_data_quality_reason_says_what_it_did_to_the_cohort(reason: str, kind: str) -> None:
    assert flow.effect_of(reason).kind == kind


def test_the_reconciliation_says_whether_records_changed_an_event_or_a_date() -> None:
    found = flow.reconciliation(quality(("Observation", "disease status worsened without a local or distant "
                                                        "qualifier: not counted", 7)))
    assert found["statement"].startswith("7 data-quality record(s) left an event uncounted; none changed a date.")
    assert flow.reconciliation(quality())["statement"] == ("No data-quality record changed an event; none changed "
                                                           "a date.")


def test_the_flow_page_shows_eligibility_period_and_the_counts(pages: list[str]) -> None:
    text = " ".join(pages)
    assert "Eligibility: patients with an index procedure (standard, screw-connected) dated on or before" in text
    assert "Study period (first to last surgery): June 2022 to December 2023" in text
    assert "Included in the cohort: 7" in text and "Completeness (Clark's C)" in text


# --------------------------------------------------------------------------- swimmer plot


def test_swimmer_lanes_in_order_of_surgery_mark_progression_death_revision_and_the_cut_off(
    study: StudyDefinition
) -> None:
    cohort = pd.read_csv(FIXTURES / "cohort.csv", dtype={"study_id": str})
    lanes = swimmer.lanes(cohort, date(2024, 6, 30), list(study.complications), list(study.events), ["revision"],
                          endpoints=swimmer.lane_endpoints(study))
    assert swimmer.lane_endpoints(study).progression == ("pfs_months", "pfs_event")  # the endpoint with the events
    assert [lane.study_id for lane in lanes] == list(cohort.sort_values("surgery_date")["study_id"])
    by_id = {lane.study_id: lane for lane in lanes}
    assert by_id["PO-A41E07"].progression == 5.1 and by_id["PO-A41E07"].reoperations == (8.3,)
    assert by_id["PO-2E6F93"].death == 7.3 and by_id["PO-3F9A1C"].death is None
    assert by_id["PO-3F9A1C"].progression is None
    assert by_id["PO-D07C26"].potential == pytest.approx((pd.Timestamp("2024-06-30") - pd.Timestamp("2023-12-05"))
                                                         .days / 30.4375)
    assert by_id["PO-C5D812"].complications == (("heterotopic_ossification", None), ("dislocation", None))


def test_the_swimmer_plot_of_500_patients_keeps_one_page_height() -> None:
    many = [swimmer.Lane(f"PO-{i:04d}", 6.0 + i % 12, 24.0, None, None, ()) for i in range(500)]
    svg = swimmer.swimmer_chart(many)
    height = float(re.search(r'height="([\d.]+)pt"', svg)[1])  # type: ignore[index]
    assert height <= swimmer.MAX_HEIGHT_IN * 72 + 1
    assert "PO-0001" not in svg and "500 patients" in svg  # no unreadable labels


# --------------------------------------------------------------------------- survival


def test_landmarks_give_survival_with_its_ci_and_the_number_at_risk(results: dict[str, Any]) -> None:
    cells = survival.landmark_cells(results["survival"]["os"])
    assert cells == [
        {"months": "6", "estimate": "100.0%", "at_risk": "7"},  # S = 1: no interval (R gives NA)
        {"months": "12", "estimate": "80.0% (20.4 to 96.9)", "at_risk": "3"},
        {"months": "24", "estimate": "no patient followed this long", "at_risk": "0"},
    ]
    assert [c["estimate"] for c in survival.landmark_cells({})] == ["not available"] * 3  # an older run


def test_the_median_carries_its_ci(results: dict[str, Any]) -> None:
    assert survival.median_with_ci(results["survival"]["pfs"]) == "not reached (95% CI 4.2 to not reached)"
    assert survival.median_with_ci({"median_months": 9.86, "median_ci_lower": 2.3, "median_ci_upper": None,
                                    "events": 3}) == "9.9 months (95% CI 2.3 to not reached)"
    assert survival.median_with_ci({"median_months": 9.86}) == "9.9 months"  # results before schema 2


def test_numbers_at_risk_come_from_results_every_three_months(results: dict[str, Any]) -> None:
    table = survival.risk_table(results["survival"]["pfs"])
    assert list(table) == [0.0, 3.0, 6.0, 9.0, 12.0, 15.0, 18.0] and table[0.0] == 7


def test_every_endpoint_shares_one_time_axis(rendered: tuple[Path, dict[str, float]]) -> None:
    html = (rendered[0] / "report.html").read_text(encoding="utf-8")
    section = html.split('id="survival"', 1)[1].split('id="methods"', 1)[0]
    charts_ = re.findall(r"<svg.*?</svg>", section, flags=re.DOTALL)
    assert len(charts_) == 3  # OS, PFS and implant survival
    ticks = [re.findall(r">(\d+)</text>", svg) for svg in charts_]
    for found in ticks:
        assert {"0", "3", "6", "9", "12", "15", "18"} <= set(found)


def test_a_test_resting_on_one_event_is_shown_with_that_caveat(pages: list[str]) -> None:
    text = " ".join(pages)
    assert "The tests and models of this endpoint rest on 1 event: not interpretable as findings" in text
    assert "0.221 (1 event: not a finding)" in text  # OS, log-rank by sex
    key = next(p for p in pages if p.startswith("Key findings"))
    assert "log-rank p (rests on 1 event: not interpretable as a finding): sex 0.221" in key


# --------------------------------------------------------------------------- effect sizes and responders


def test_hodges_lehmann_and_mean_difference_stand_beside_each_pairwise_p(pages: list[str],
                                                                         results: dict[str, Any]) -> None:
    pair = next(p for p in results["repeated_measures"]["vas"]["pairwise"] if (p["a"], p["b"]) == ("pre", "6m"))
    hl, md = pair["hodges_lehmann"], pair["mean_difference"]
    row = (f"Pre-op vs 6 months 0 {fmt.pvalue(pair['p'])} {fmt.pvalue(pair['p_adjusted'])} "
           f"{fmt.estimate_ci(hl['estimate'], hl['ci_lower'], hl['ci_upper'], 2)} "
           f"{fmt.estimate_ci(md['estimate'], md['ci_lower'], md['ci_upper'], 2)}")
    assert row == "Pre-op vs 6 months 0 0.021 0.128 −4.50 (−5.25 to −3.75) −4.43 (−5.11 to −3.75)"
    assert row in " ".join(pages)


def test_an_interval_below_95_percent_says_its_level() -> None:
    node = {"hodges_lehmann": {"estimate": -0.65, "ci_lower": -0.7, "ci_upper": -0.5, "conf_level": 0.75}}
    assert sections.effect(node, "hodges_lehmann", 2) == "−0.65 (75% CI −0.70 to −0.50)"
    flat_md = {"mean_difference": 12.857, "ci_lower": 8.918, "ci_upper": 16.796}  # paired: schema 1's flat form
    assert sections.effect(flat_md, "mean_difference", 1) == "12.9 (8.9 to 16.8)"
    assert sections.effect({}, "hodges_lehmann", 1) == "not available"


def test_responders_reaching_the_mcid_with_an_exact_ci(results: dict[str, Any], study: StudyDefinition) -> None:
    rows = sections.responders(results, study)
    vas = [r for r in rows if r["instrument"] == "Pain, VAS"]
    assert [r["comparison"] for r in vas] == ["Pre-op to 1 month", "Pre-op to 3 months", "Pre-op to 6 months"]
    assert vas[-1]["mcid"] == "−2" and vas[-1]["direction"] == "lower is better"
    assert vas[-1]["count"] == "7/7" and vas[-1]["share"] == "100.0% (59.0 to 100.0)"


# --------------------------------------------------------------------------- implant and complications


def test_implant_failures_by_henderson_type_and_revisions(results: dict[str, Any], pages: list[str]) -> None:
    found = sections.implant(results)
    assert [f["type"] for f in found["failures"]] == [
        "Type 1, soft-tissue failure", "Type 2, aseptic loosening", "Type 3, structural failure",
        "Type 4, infection", "Type 5, tumour progression"]
    assert found["failures"][0]["detail"] == "dislocation, delayed wound healing"
    assert found["any_failure"]["count"] == "3/7"
    assert found["reoperations"] == [{"what": "Revision", "count": "1/7", "share": "14.3% (0.4 to 57.9)",
                                      "timing": "253"}]
    text = " ".join(pages)
    assert "Type 3, structural failure screw fracture 1/7 14.3% (0.4 to 57.9)" in text
    assert "Implant survival (free of revision)" in text
    assert sections.implant({})["available"] is False


def test_complications_carry_their_timing_in_days_from_surgery(pages: list[str]) -> None:
    text = " ".join(pages)
    assert "Heterotopic ossification complication 4/7 57.1% 18.4 to 90.1 93.5 (88–181)" in text
    assert "Dislocation complication 1/7 14.3% 0.4 to 57.9 17" in text


# --------------------------------------------------------------------------- wording and layout rules


def test_no_column_name_level_code_path_or_library_warning_reaches_the_page(pages: list[str]) -> None:
    text = " ".join(pages).split("F. Codebook of the tables")[0]  # the codebook names the columns, by design
    for raw in ("tumor_category", "zone_iv", "no_zone_iv", "sij_contralateral_mm", "resection_margin",
                "msts93", "= primary", "= 0 ", "lifelines warns", "repeated_measures", "survival.os",
                "p_floor"):
        assert raw not in text, raw


@pytest.mark.parametrize("message, words", [
    ("no events among patients with tumor_category = primary", "no events among patients with tumour category primary"),
    ("no events among patients with zone_iv = 0 (the hazard ratio would be 0 or infinite)",
     "no events among patients with no zone IV involvement (the hazard ratio would be 0 or infinite)"),
    ("lifelines warns: Column resection_margin=intralesional have very low variance when conditioned on death event "
     "present or not. This may harm convergence. This could be a form of 'complete separation'.",
     "almost every patient with resection margin intralesional had the same outcome (near-complete separation), "
     "so the model cannot be fitted reliably"),
    ("1 event(s) for 5 term(s): 0.2 per term", "1 event for 5 terms: 0.2 per term"),
    ("the estimate is zone_iv: HR 1.15", "the estimate is zone IV involvement: HR 1.15"),
])
def test_warnings_are_told_in_clinical_words(message: str, words: str, study: StudyDefinition) -> None:
    assert labels.Labels(study).clinical(message) == words


def test_results_paths_are_told_as_the_figures_they_name(study: StudyDefinition) -> None:
    said = labels.Labels(study)
    assert said.describe_path("paired.sij_contralateral_mm.no_zone_iv.wilcoxon") == \
        "SIJ (mm), no zone IV involvement, signed-rank test"
    assert said.describe_path("survival.pfs.cox.univariable.sex") == \
        "Progression-free survival, Cox model, univariable, sex"
    assert said.describe_path("implant.survival.landmarks") == "Implant survival, landmark estimates"
    assert said.describe_path("repeated_measures.vas.timepoints.1m") == "VAS, 1 month"
    assert labels.Labels().describe_path("paired.sij_contralateral_mm.zone_iv") == \
        "Sij contralateral mm, zone iv"  # without a study definition: the keys, in words


def test_decimals_follow_the_measure_and_confidence_intervals_read_low_to_high(pages: list[str]) -> None:
    text = " ".join(pages)
    assert "7.14 ± 1.57 7 60 (40–60) 51.4 ± 14.6" in text  # VAS in half points, KPS whole; means one more
    assert "60.0" not in text.split("Karnofsky Performance Status (0-100)")[1][:60]
    assert "V = 28" in text and "V = 28.00" not in text  # MSTS 93 signed-rank statistic
    assert "57.1% (18.4 to 90.1)" in text and "3.19 (0.29 to 35.46)" in text
    assert not re.search(r"% \(\d+\.\d–", text)  # a percent's CI never with a dash
    assert not re.search(r"\d\.\d\d \(−?\d+\.\d\d–", text)  # nor a hazard ratio's or a difference's


def test_trajectories_use_the_instruments_full_scale_and_mark_who_progressed() -> None:
    results = json.loads((FIXTURES / "results.json").read_text(encoding="utf-8"))
    measures = pd.read_csv(FIXTURES / "measures.csv", dtype={"study_id": str})
    kps = [("kps", "KPS (0-100)")]
    cut = charts.trend_chart(measures, results, kps, ("pre", "1m", "3m", "6m"))
    full = charts.trend_chart(measures, results, kps, ("pre", "1m", "3m", "6m"), scales={"kps": (0.0, 100.0)},
                              progressed=frozenset({"PO-A41E07"}))
    assert ">0</text>" in full and ">100</text>" in full and ">100</text>" not in cut
    assert "Progressed" in full and "Progressed" not in cut


def test_the_appendix_lists_patients_in_order_of_surgery(pages: list[str]) -> None:
    text = " ".join(pages)
    listing = text.split("B. Patients, in order of surgery", 1)[1].split("C. Measurements", 1)[0]
    cohort = pd.read_csv(FIXTURES / "cohort.csv", dtype={"study_id": str}).sort_values("surgery_date")
    positions = [listing.index(sid) for sid in cohort["study_id"]]
    assert positions == sorted(positions)
    assert "PO-3F9A1C 2022-06 M 16 osteosarcoma" in listing


def test_an_older_results_json_renders_with_not_available_in_place_of_the_new_figures(
    tmp_path: Path, study: StudyDefinition
) -> None:
    run_dir = make_run_dir(tmp_path / "run", results="results_minimal.json")
    render_report(run_dir, study=study, run=manifest(), previous=None)
    text = " ".join(pdf_pages(run_dir / "report.pdf"))
    assert "completeness (Clark's C) not available" in text
    assert "Effect sizes (Hodges–Lehmann and mean differences with their CIs): not available" in text
    assert "Not available: this run's results have no responder analysis" in text
    assert "Not available: this run's results have no implant outcome" in text
    assert "not available in this run's results" in text  # landmarks


def test_measurements_done_of_those_due_per_instrument_and_timepoint(study: StudyDefinition) -> None:
    keys = ("instrument", "timepoint", "done", "expected", "percent", "previous_percent")
    results = {"followup_completeness": [dict(zip(keys, values, strict=True)) for values in (
        ("vas", "6m", 6, 7, 85.714, 100.0), ("vas", "pre", 7, 7, 100.0, 100.0), ("kps", "pre", 0, 0, None, None),
    )]}
    found = flow.measurement_completeness(results, study)
    assert found["timepoints"] == ["Pre-op", "6 months"]  # in the study's order
    assert found["rows"] == [
        {"instrument": "Pain, VAS", "cells": ["7/7 (100.0%)", "6/7 (85.7%, was 100.0%)"]},
        {"instrument": "Karnofsky Performance Status", "cells": ["none due", "—"]},
    ]
    assert flow.measurement_completeness({}, study) == {"timepoints": [], "rows": []}
