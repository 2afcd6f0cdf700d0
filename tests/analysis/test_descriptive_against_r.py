"""Descriptive figures against R (expected values: tests/reference/make_reference.R → reference_<cohort>.json)."""

from __future__ import annotations

import dataclasses

import pytest

from analysis import AnalysisPlan, analyse, plan_from_study
from analysis.descriptive import quantiles
from config.study import load_study
from tests.analysis.conftest import ReferenceCohort, assert_matches_r

TIMEPOINTS = ("pre", "1m", "3m", "6m")


@pytest.mark.parametrize("instrument", ["vas", "kps"])
def test_timepoint_summaries_match_r_quantile_type_7(reference_cohort: ReferenceCohort, instrument: str) -> None:
    for tp in TIMEPOINTS:
        ours = reference_cohort.results["repeated_measures"][instrument]["timepoints"][tp]
        r = reference_cohort.r["repeated_measures"][instrument]["timepoints"][tp]  # R describe(): quantile(type=7)
        where = f"repeated_measures.{instrument}.timepoints.{tp}"
        assert ours["n"] == r["n"]
        assert_matches_r([ours["q1"], ours["median"], ours["q3"]], r["type7"], f"{where}.type7", reference_cohort)
        assert_matches_r(ours["median"], r["median"], f"{where}.median", reference_cohort)
        assert_matches_r([ours["mean"], ours["sd"]], [r["mean"], r["sd"]], f"{where}.mean_sd", reference_cohort)


@pytest.mark.parametrize("instrument", ["vas", "kps"])
def test_quantile_type_6_is_configurable_and_matches_r(reference_cohort: ReferenceCohort, instrument: str) -> None:
    plan = dataclasses.replace(plan_from_study(load_study()), quantile_type=6)
    results = analyse(reference_cohort.patients, reference_cohort.measures, plan).to_dict()
    for tp in TIMEPOINTS:
        ours = results["repeated_measures"][instrument]["timepoints"][tp]
        r = reference_cohort.r["repeated_measures"][instrument]["timepoints"][tp]["type6"]  # R quantile(type=6)
        assert_matches_r([ours["q1"], ours["median"], ours["q3"]], r, f"{instrument}.{tp}.type6", reference_cohort)


def test_methods_name_the_quantile_rule() -> None:
    from analysis.methods import methods

    assert "Hyndman–Fan type 7" in methods(AnalysisPlan())["quantiles"]
    assert "type = 6" in methods(AnalysisPlan(quantile_type=6))["quantiles"]


def test_quantiles_of_nothing_are_none() -> None:
    assert quantiles([], (0.25, 0.5, 0.75), 7) == [None, None, None]


def test_age_summary_matches_r(reference_cohort: ReferenceCohort) -> None:
    ours, r = reference_cohort.results["table1"]["age"], reference_cohort.r["age"]
    assert ours["n"] == r["n"]
    assert_matches_r([ours["mean"], ours["sd"], ours["median"]], [r["mean"], r["sd"], r["median"]], "age",
                     reference_cohort)


def test_table1_counts_every_patient_once(reference_cohort: ReferenceCohort) -> None:
    table = reference_cohort.results["table1"]
    patients = reference_cohort.patients
    assert table["n"] == len(patients) == reference_cohort.r["n_patients"]
    for key in ("sex", "diagnosis", "tumor_category", "enneking_zones", "resection_margin", "reconstruction"):
        counts = {row["level"]: row["count"] for row in table[key]}
        assert counts == patients[key].value_counts().to_dict()
        assert sum(row["percent"] for row in table[key]) == pytest.approx(100.0)
    assert table["zone_iv"]["count"] == int(patients["zone_iv"].sum())


def test_table1_has_sex_age_and_the_plans_facts_in_order(small: ReferenceCohort) -> None:
    facts = [f.name for f in plan_from_study(load_study()).table1]
    assert list(small.results["table1"]) == ["n", "sex", "age", *facts]


def test_table1_lists_reference_level_first(small: ReferenceCohort) -> None:
    table = small.results["table1"]
    assert [row["level"] for row in table["sex"]] == ["male", "female"]
    assert [row["level"] for row in table["resection_margin"]] == ["wide", "marginal", "intralesional"]
    assert [(row["level"], row["count"]) for row in table["tumor_category"]] == [("primary", 4), ("secondary", 3)]
    assert [row["level"] for row in table["reconstruction"]] == ["standard", "screw-connected"]


def test_a_multi_valued_body_site_is_listed_by_count_then_name(generated: ReferenceCohort) -> None:
    """Enneking zones joined by "+" are combinations: the zones' own order does not apply to them."""
    rows = generated.results["table1"]["enneking_zones"]
    assert [r["level"] for r in rows] == [r["level"] for r in sorted(rows, key=lambda r: (-r["count"], r["level"]))]
    assert rows[0]["level"] != "I"  # "I" alone is not first for being the first zone
