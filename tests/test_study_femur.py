"""The second bundled study end to end: `pelvic-outcomes run --study config/study-proximal-femur.toml
--source extractor/demo_femur/data`, its figures checked against R.

Expected values: R 4 (stats + survival), tests/reference/make_reference_femur.R run on this study's
cohort.csv and measures.csv (copied into tests/reference/femur/) → tests/reference/reference_femur.json.
Regenerate both after a deliberate change to the demo or the study file:

    pelvic-outcomes run --study config/study-proximal-femur.toml --source extractor/demo_femur/data \\
        --out /tmp/femur-out --no-email
    cp /tmp/femur-out/cohort.csv /tmp/femur-out/measures.csv tests/reference/femur/
    Rscript tests/reference/make_reference_femur.R tests/reference/femur tests/reference/reference_femur.json

Every figure below is compared with R's to 1e-6 relative (R = the reference JSON's ``source``).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest

from config.study import load_study
from service.cli import main

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "config" / "study-proximal-femur.toml"
SOURCE = ROOT / "extractor" / "demo_femur" / "data"
TABLES = ROOT / "tests" / "reference" / "femur"
REFERENCE = ROOT / "tests" / "reference" / "reference_femur.json"
REL = 1e-6
FACTS = ["tumour_group", "tumour_detail", "resection_level", "long_resection", "surgical_margin", "fixation"]
PELVIC_TEXT = ("MSTS 93", "sacroiliac", "Zone IV", "Enneking", "Karnofsky", "SIJ", "zone_iv", "msts93")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def femur_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("femur")
    out = base / "out"
    code = main(["run", "--study", str(STUDY), "--source", str(SOURCE), "--out", str(out),
                 "--data-dir", str(base / "data"), "--no-email"])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def results(femur_run: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((femur_run / "results.json").read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def r() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(REFERENCE.read_text(encoding="utf-8"))
    return loaded


def as_list(value: Any) -> list[Any]:
    """jsonlite writes a length-1 vector as a scalar (auto_unbox); make it a list again."""
    return value if isinstance(value, list) else [value]


def matches_r(ours: Any, expected: Any, where: str) -> None:
    """Ours equals R's to 1e-6 relative; None/NaN only where R has NA (JSON null)."""
    ours_list, r_list = as_list(ours), as_list(expected)
    assert len(ours_list) == len(r_list), f"{where}: {len(ours_list)} values, R has {len(r_list)}"
    for i, (a, b) in enumerate(zip(ours_list, r_list, strict=True)):
        missing = a is None or (isinstance(a, float) and math.isnan(a))
        if b is None:
            assert missing, f"{where}[{i}]: ours {a}, R NA"
            continue
        assert not missing, f"{where}[{i}]: ours missing, R {b}"
        assert a == pytest.approx(b, rel=REL, abs=1e-12), f"{where}[{i}]: ours {a}, R {b} (make_reference_femur.R)"


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


# ------------------------------------------------------------------------------------------ the run


def test_the_run_reads_36_patients_and_writes_every_file(femur_run: Path, results: dict[str, Any]) -> None:
    for name in ("report.pdf", "report.html", "cohort.csv", "measures.csv", "codebook.csv", "results.json"):
        assert (femur_run / name).stat().st_size > 0, name
    run = json.loads((femur_run / "run.json").read_text(encoding="utf-8"))
    assert run["status"] == "succeeded"
    assert results["n_patients"] == 36


def test_the_reference_tables_are_this_runs_tables(femur_run: Path) -> None:
    """R's figures were computed on exactly what the pipeline writes (regenerate both together)."""
    for name in ("cohort.csv", "measures.csv"):
        assert (femur_run / name).read_bytes() == (TABLES / name).read_bytes(), name


def test_cohort_columns_follow_the_study_file(femur_run: Path) -> None:
    study = load_study(STUDY)
    columns = list(rows(femur_run / "cohort.csv")[0])
    assert columns[:4] == ["study_id", "sex", "age_at_surgery", "surgery_date"]
    assert columns[4:10] == FACTS == list(study.facts)
    for column in ("followup_months", "os_months", "os_event", "revision_free_months", "revision_free_event",
                   *study.complications, *study.events, "death", "revision", "revision_months", "debridement",
                   "debridement_months"):
        assert column in columns, column
    values = rows(femur_run / "cohort.csv")
    assert {row["fixation"] for row in values} == {"cemented", "uncemented"}
    assert {row["tumour_group"] for row in values} == {"sarcoma", "metastatic"}
    assert all(row["long_resection"] == str(int(row["resection_level"] == "diaphyseal")) for row in values)
    assert "metastatic carcinoma of unknown primary" in {row["tumour_detail"] for row in values}


def test_the_r_script_uses_the_study_files_plan(r: dict[str, Any]) -> None:
    study = load_study(STUDY)
    plan, settings = study.analysis, r["settings"]
    assert {s.instrument: list(s.timepoints) for s in plan.repeated} == settings["repeated"]
    by = {p.name: p for p in plan.paired if p.by}
    plain = {p.name: p for p in plan.paired if not p.by}
    assert {n: [p.instrument, p.before, p.after] for n, p in plain.items()} == {
        n: [s["instrument"], s["before"], s["after"]] for n, s in settings["paired"].items()}
    assert {n: [p.instrument, p.before, p.after, p.by] for n, p in by.items()} == {
        n: [s["instrument"], s["before"], s["after"], s["by"]] for n, s in settings["by"].items()}
    assert list(plan.survival.endpoints) == settings["endpoints"]
    assert list(plan.survival.logrank) == settings["logrank"]
    assert [c.fact for c in plan.survival.cox] == list(settings["cox"])
    assert list(plan.landmark_months) == settings["landmark_months"]
    assert plan.risk_table_every_months == settings["risk_table_every_months"]
    assert [*study.complications, *study.events, "death"] == settings["flags"]
    assert list(study.reoperations) == settings["reoperations"]
    assert study.implant.survival_endpoint == settings["implant_endpoint"]
    assert {str(k): list(v) for k, v in study.implant.failure_types.items()} == {
        k: as_list(v) for k, v in settings["henderson"].items()}
    assert {k: {"points": i.mcid, "better": i.better} for k, i in study.instruments.items() if i.mcid} == \
        settings["mcid"]


# ------------------------------------------------------------------------------------------ figures against R


def test_table1_counts_match_r(results: dict[str, Any], r: dict[str, Any]) -> None:
    table1, expected = results["table1"], r["table1"]
    assert table1["n"] == expected["n"] == 36
    for fact in ("sex", "tumour_group", "tumour_detail", "resection_level", "surgical_margin", "fixation"):
        ours = {row["level"]: row["count"] for row in table1[fact] if row["count"]}
        assert ours == {row["level"]: row["count"] for row in expected[fact]}, fact
    assert table1["long_resection"]["count"] == expected["long_resection"]["count"]
    age = expected["age"]
    matches_r([table1["age"][k] for k in ("n", "mean", "sd", "median", "q1", "q3", "min", "max")],
              [age[k] for k in ("n", "mean", "sd", "median", "q1", "q3", "min", "max")], "table1.age")


@pytest.mark.parametrize("instrument", ["tess", "msts"])
def test_friedman_and_pairwise_signed_rank_match_r(results: dict[str, Any], r: dict[str, Any],
                                                    instrument: str) -> None:
    ours, expected = results["repeated_measures"][instrument], r["repeated_measures"][instrument]
    for tp, described in expected["timepoints"].items():
        described_keys = ("n", "mean", "sd", "median", "q1", "q3")
        matches_r([ours["timepoints"][tp][k] for k in described_keys], [described[k] for k in described_keys],
                  f"{instrument}.{tp}")
    keys = ("statistic", "df", "p", "n")
    matches_r([ours["friedman"][k] for k in keys], [expected["friedman"][k] for k in keys],
              f"{instrument}.friedman")
    assert len(ours["pairwise"]) == len(expected["pairwise"])
    for mine, theirs in zip(ours["pairwise"], expected["pairwise"], strict=True):
        assert (mine["a"], mine["b"]) == (theirs["a"], theirs["b"])
        where = f"{instrument}.pairwise.{mine['a']}-{mine['b']}"
        matches_r([mine["statistic"], mine["p"], mine["p_adjusted"]],
                  [theirs["statistic"], theirs["p"], theirs["p_adjusted"]], where)
        matches_r(mine["mean_difference"]["estimate"], theirs["mean_difference"]["estimate"], where)


PAIRED_FIELDS = ("n", "mean_pre", "sd_pre", "mean_post", "sd_post", "mean_difference", "ci_lower", "ci_upper",
                 "t", "df", "p")


def check_paired(ours: dict[str, Any], expected: dict[str, Any], where: str) -> None:
    assert (ours["before"], ours["after"]) == (expected["before"], expected["after"])
    matches_r([ours[k] for k in PAIRED_FIELDS], [expected[k] for k in PAIRED_FIELDS], where)
    matches_r([ours["wilcoxon"]["statistic"], ours["wilcoxon"]["p"]],
              [expected["wilcoxon"]["statistic"], expected["wilcoxon"]["p"]], f"{where}.wilcoxon")
    matches_r(ours["hodges_lehmann"]["estimate"], expected["hodges_lehmann"]["estimate"], f"{where}.hl")


def test_harris_hip_pre_to_12_months_matches_r(results: dict[str, Any], r: dict[str, Any]) -> None:
    check_paired(results["paired"]["harris_hip"], r["paired"]["harris_hip"], "paired.harris_hip")


@pytest.mark.parametrize("group", ["cemented", "uncemented", "overall"])
def test_tess_by_fixation_within_each_group_matches_r(results: dict[str, Any], r: dict[str, Any],
                                                       group: str) -> None:
    check_paired(results["paired"]["tess_by_fixation"][group], r["paired"]["tess_by_fixation"][group],
                 f"paired.tess_by_fixation.{group}")


def test_tess_gain_between_stem_fixations_matches_r(results: dict[str, Any], r: dict[str, Any]) -> None:
    ours = results["paired"]["tess_by_fixation"]["between_groups"]
    expected = r["paired"]["tess_by_fixation"]["between_groups"]  # R t.test(x, y); wilcox.test(x, y)
    assert ours["groups"] == expected["groups"] == ["cemented", "uncemented"]
    assert ours["n"] == expected["n"]
    for group in expected["groups"]:
        matches_r([ours["mean_change"][group], ours["sd_change"][group]],
                  [expected["mean_change"][group], expected["sd_change"][group]], f"between.{group}")
    matches_r([ours["t"], ours["df"], ours["p"]], [expected["t"], expected["df"], expected["p"]], "between.welch")
    matches_r([ours["rank_sum"]["statistic"], ours["rank_sum"]["p"]],
              [expected["rank_sum"]["statistic"], expected["rank_sum"]["p"]], "between.rank_sum")
    matches_r([ours["mean_difference"]["estimate"], ours["mean_difference"]["ci_lower"],
               ours["mean_difference"]["ci_upper"]],
              [expected["mean_difference"]["estimate"], expected["mean_difference"]["ci_lower"],
               expected["mean_difference"]["ci_upper"]], "between.mean_difference")
    matches_r(ours["hodges_lehmann"]["estimate"], expected["hodges_lehmann"]["estimate"], "between.hl")


def test_event_rates_match_r(results: dict[str, Any], r: dict[str, Any]) -> None:
    ours = {e["name"]: e for e in results["events"]}
    for expected in r["events"]:
        mine = ours[expected["name"]]
        assert (mine["count"], mine["n"]) == (expected["count"], expected["n"]), expected["name"]
        matches_r([mine["ci_lower"], mine["ci_upper"]], [expected["ci_lower"], expected["ci_upper"]],
                  f"events.{expected['name']}")


def check_km(ours: dict[str, Any], expected: dict[str, Any], where: str) -> None:
    assert (ours["n"], ours["events"]) == (expected["n"], expected["events"])
    steps = ours["km"]
    matches_r([s["time_months"] for s in steps], as_list(expected["time"]) if expected["events"] else [],
              f"{where}.time")
    if expected["events"]:
        matches_r([s["survival"] for s in steps], expected["surv"], f"{where}.surv")
        matches_r([s["ci_lower"] for s in steps], expected["lower"], f"{where}.lower")
        matches_r([s["ci_upper"] for s in steps], expected["upper"], f"{where}.upper")
    matches_r([ours["median_months"], ours["median_ci_lower"], ours["median_ci_upper"]],
              [expected["median"], expected["median_lower"], expected["median_upper"]], f"{where}.median")
    marks = {m["months"]: m for m in ours["landmarks"]}
    expected_marks = expected["landmarks"]
    for i, month in enumerate(as_list(expected_marks["months"])):
        mark = marks[float(month)]
        matches_r([mark["survival"], mark["ci_lower"], mark["ci_upper"], mark["at_risk"]],
                  [as_list(expected_marks[k])[i] for k in ("surv", "lower", "upper", "n_risk")],
                  f"{where}.landmark.{month}")


@pytest.mark.parametrize("endpoint", ["os", "revision_free"])
def test_kaplan_meier_medians_and_landmarks_match_r(results: dict[str, Any], r: dict[str, Any],
                                                     endpoint: str) -> None:
    check_km(results["survival"][endpoint], r["survival"][endpoint]["km"], f"survival.{endpoint}")


@pytest.mark.parametrize("endpoint", ["os", "revision_free"])
def test_logrank_by_each_factor_matches_r(results: dict[str, Any], r: dict[str, Any], endpoint: str) -> None:
    ours = results["survival"][endpoint]["logrank"]
    for factor, expected in r["survival"][endpoint]["logrank"].items():
        matches_r([ours[factor]["statistic"], ours[factor]["df"], ours[factor]["p"]],
                  [expected["statistic"], expected["df"], expected["p"]], f"{endpoint}.logrank.{factor}")


COX_FIELDS = ("coef", "se", "hr", "ci_lower", "ci_upper", "p")


def check_cox(terms: list[dict[str, Any]], expected: dict[str, Any], where: str) -> None:
    assert [t["term"] for t in terms] == as_list(expected["terms"]), where
    for field in COX_FIELDS:
        matches_r([t[field] for t in terms], expected[field], f"{where}.{field}")


@pytest.mark.parametrize("endpoint", ["os", "revision_free"])
def test_cox_models_match_r(results: dict[str, Any], r: dict[str, Any], endpoint: str) -> None:
    cox, expected = results["survival"][endpoint]["cox"], r["survival"][endpoint]
    univariable = {row["covariate"]: row for row in cox["univariable"]}
    for covariate, model in expected["cox_univariable"].items():
        row = univariable[covariate]
        assert row["estimable"], f"{endpoint}.{covariate}: {row['reason']}"
        check_cox([row], model, f"{endpoint}.cox.{covariate}")
    assert cox["multivariable"]["estimable"], cox["multivariable"]["reason"]
    check_cox(cox["multivariable"]["terms"], expected["cox_multivariable"], f"{endpoint}.cox.multivariable")


def test_implant_failure_types_reoperations_and_survival_match_r(results: dict[str, Any],
                                                                  r: dict[str, Any]) -> None:
    implant, expected = results["implant"], r["implant"]
    types = {t["type"]: t for t in implant["failure_types"]}
    for row in expected["failure_types"]:
        assert (types[row["type"]]["count"], types[row["type"]]["n"]) == (row["count"], row["n"]), row["type"]
    assert implant["any_failure"]["count"] == expected["any_failure"]["count"]
    reoperations = {row["name"]: row for row in implant["reoperations"]}
    for row in expected["reoperations"]:
        assert (reoperations[row["name"]]["count"], reoperations[row["name"]]["n"]) == (row["count"], row["n"])
    assert implant["survival_endpoint"] == "revision"
    check_km(implant["survival"], expected["km"], "implant.survival")


def test_responders_match_r(results: dict[str, Any], r: dict[str, Any]) -> None:
    for instrument, expected in r["responders"].items():
        ours = {row["timepoint"]: row for row in results["responders"][instrument]["timepoints"]}
        for row in as_list(expected):
            mine = ours[row["timepoint"]]
            assert (mine["count"], mine["n"]) == (row["count"], row["n"]), f"{instrument}.{row['timepoint']}"
            matches_r([mine["ci_lower"], mine["ci_upper"]], [row["ci_lower"], row["ci_upper"]],
                      f"responders.{instrument}.{row['timepoint']}")


def test_followup_matches_r(results: dict[str, Any], r: dict[str, Any]) -> None:
    ours, expected = results["followup"], r["followup"]
    matches_r([ours["mean_months"], ours["median_months"], ours["min_months"], ours["max_months"],
               ours["reverse_km_median_months"]],
              [expected["mean"], expected["median"], expected["min"], expected["max"], expected["reverse_km_median"]],
              "followup")


def test_the_claims_get_the_verdicts_the_data_support(results: dict[str, Any]) -> None:
    verdicts = {c["path"]: c["verdict"] for c in results["claims"]}
    assert verdicts == {
        "repeated_measures.tess.friedman.p": "reproduced",
        "repeated_measures.msts.friedman.p": "reproduced",
        "paired.harris_hip.p": "reproduced",
        "paired.tess_by_fixation.between_groups.p": "inconclusive",
        "survival.os.logrank.tumour_group.p": "reproduced",
        "survival.os.cox.multivariable.terms[covariate=tumour_group].p": "contradicted",
        "survival.revision_free.logrank.fixation.p": "inconclusive",
        "events[name=dislocation]": "reproduced",
        "events[name=deep_infection]": "reproduced",
        "events[name=stem_loosening]": "reproduced",
        "implant.reoperations[name=revision]": "reproduced",
    }


# ------------------------------------------------------------------------------------------ report, codebook


def test_the_report_is_this_studys_and_has_no_pelvic_page(femur_run: Path) -> None:
    html = (femur_run / "report.html").read_text(encoding="utf-8")
    for text in PELVIC_TEXT:
        assert text.lower() not in html.lower(), text
    study = load_study(STUDY)
    assert study.short_title in html
    for label in ("TESS", "HHS", "Stem fixation", "Primary bone sarcoma", "Bone metastasis", "12 months",
                  "24 months", "Overall survival", "Implant survival (to revision)", "Long resection"):
        assert label in html, label


def test_the_codebook_lists_this_studys_columns(femur_run: Path) -> None:
    codebook = rows(femur_run / "codebook.csv")
    columns = list(rows(femur_run / "cohort.csv")[0])
    assert [row["name"] for row in codebook if row["table"] == "cohort.csv"] == columns
    labels = {row["name"]: row["label"] for row in codebook if row["table"] == "cohort.csv"}
    assert labels["fixation"] == "Stem fixation"
    assert labels["long_resection"] == "Long resection (into the femoral diaphysis)"
    named = {row["name"] for row in codebook}
    assert {"tess", "msts", "harris_hip"} <= named
    assert not named & {"msts93", "vas", "kps", "zone_iv", "enneking_zones"}
    assert all(row["label"] and row["type"] for row in codebook)
