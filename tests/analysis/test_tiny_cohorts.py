"""Empty and tiny cohorts (issue 11, point 9): every step of ``analyse`` runs, and says what is not estimable.

Cohorts of 0, 1 and 2 patients are cut from the hand-written ``small`` reference cohort; an empty group is
made by giving every patient the same zone IV flag or sex. Nothing here is a reference value: the checks are
that no exception escapes, that ``results.json`` stays strict JSON, and that each missing figure is ``null``
with a warning on its path.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pandas as pd
import pytest

from analysis import analyse, assess_claims, plan_from_study
from config.study import load_study
from tests.analysis.conftest import read_cohort


def first(patients: pd.DataFrame, measures: pd.DataFrame, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    kept = patients.iloc[:n]
    return kept, measures[measures["study_id"].isin(kept["study_id"])]


def analysed(patients: pd.DataFrame, measures: pd.DataFrame) -> dict[str, Any]:
    results = analyse(patients, measures, plan_from_study(load_study())).to_dict()
    json.dumps(results, allow_nan=False)  # results.json is written with allow_nan=False
    return results


def warned(results: dict[str, Any], scope: str, code: str | None = None) -> list[str]:
    return [w["message"] for w in results["warnings"]
            if w["scope"].startswith(scope) and (code is None or w["code"] == code)]


@pytest.fixture(scope="module")
def small() -> tuple[pd.DataFrame, pd.DataFrame]:
    return read_cohort("small")


def test_an_empty_cohort_is_analysed_with_every_figure_null_and_a_reason(small) -> None:
    patients, measures = first(*small, 0)
    results = analysed(patients, measures)
    assert results["n_patients"] == 0
    assert warned(results, "n_patients", "not_computable") == [
        "the cohort has no patients: every figure is empty or not estimable"]
    for name in ("os", "pfs"):
        node = results["survival"][name]
        assert (node["n"], node["events"], node["km"], node["median_months"]) == (0, 0, [], None)
        assert warned(results, f"survival.{name}.km", "not_computable")[0].startswith("Kaplan–Meier not estimable")
        assert all(test["p"] is None for test in node["logrank"].values())
        assert node["cox"]["multivariable"]["estimable"] is False
    assert results["followup"]["reverse_km_median_months"] is None
    assert "not estimable" in warned(results, "followup.reverse_km_median_months")[0]
    assert all(e["n"] == 0 and e["percent"] is None for e in results["events"])
    assert results["repeated_measures"]["vas"]["friedman"]["p"] is None
    assert results["paired"]["msts93"]["n"] == 0 and results["paired"]["msts93"]["p"] is None


def test_an_empty_cohort_as_the_service_writes_and_reads_it_back_is_analysed(small) -> None:
    """cohort.csv with a header only: pandas reads every column as text, not as numbers."""
    patients, measures = first(*small, 0)
    read_back = [pd.read_csv(io.StringIO(frame.to_csv(index=False))) for frame in (patients, measures)]
    results = analysed(*read_back)
    assert results["survival"]["os"]["n"] == 0


@pytest.mark.parametrize("n", [1, 2])
def test_one_or_two_patients_are_analysed_with_small_n_warnings_and_no_cox_model(small, n: int) -> None:
    patients, measures = first(*small, n)
    results = analysed(patients, measures)
    assert results["n_patients"] == n and results["table1"]["n"] == n
    assert warned(results, "repeated_measures.vas", "small_n")
    assert warned(results, "paired.msts93", "small_n")
    if n == 1:  # a test needs two patients; with two, R computes Friedman and t (with a small-n warning)
        assert results["repeated_measures"]["vas"]["friedman"]["p"] is None
        assert results["paired"]["msts93"]["p"] is None
    for name in ("os", "pfs"):
        node = results["survival"][name]
        assert node["n"] == n and isinstance(node["km"], list) and len(node["km"]) <= n + 1
        assert node["cox"]["multivariable"]["estimable"] is False
        assert warned(results, f"survival.{name}.cox", "not_estimable")


def test_one_patient_who_died_has_a_curve_that_drops_to_zero(small) -> None:
    patients, measures = first(*small, 1)
    patients = patients.assign(os_event=1, death=1)
    results = analysed(patients, measures)
    os_ = results["survival"]["os"]
    assert [(p["survival"], p["at_risk"], p["ci_lower"]) for p in os_["km"]] == [(0.0, 1, None)]
    assert os_["median_months"] == pytest.approx(float(patients["os_months"].iloc[0]))


def test_an_empty_zone_iv_group_leaves_its_comparisons_not_computable(small) -> None:
    patients, measures = small
    results = analysed(patients.assign(zone_iv=0), measures)
    sij = results["paired"]["sij_contralateral_mm"]
    assert sij["zone_iv"]["n"] == 0 and sij["zone_iv"]["p"] is None
    assert sij["no_zone_iv"]["n"] > 0
    between = sij["between_groups"]
    assert between["groups"] == ["zone_iv", "no_zone_iv"]
    assert between["n"] == {"zone_iv": 0, "no_zone_iv": sij["no_zone_iv"]["n"]} and between["p"] is None
    assert between["mean_change"]["zone_iv"] is None and between["mean_change"]["no_zone_iv"] is not None
    assert warned(results, "paired.sij_contralateral_mm.between_groups.rank_sum") == ["a group has no patients"]
    pfs = results["survival"]["pfs"]
    assert pfs["logrank"]["zone_iv"]["p"] is None and pfs["logrank"]["zone_iv"]["groups"] == ["0"]
    zone = [t for t in pfs["cox"]["univariable"] if t["covariate"] == "zone_iv"]
    assert zone and not zone[0]["estimable"] and "single level" in zone[0]["reason"]


def test_a_group_without_events_and_a_cohort_without_events_are_not_estimable(small) -> None:
    patients, measures = small
    results = analysed(patients.assign(os_event=0, pfs_event=0, death=0), measures)
    for name in ("os", "pfs"):
        node = results["survival"][name]
        assert node["events"] == 0 and node["median_months"] is None and node["median_reached"] is False
        assert all(test["p"] is None for test in node["logrank"].values())
        assert node["cox"]["multivariable"]["reason"] == "no events"
    only_men = analysed(patients.assign(sex="male"), measures)
    assert only_men["survival"]["pfs"]["logrank"]["sex"]["p"] is None


def test_claims_on_an_empty_cohort_are_unattainable_except_a_claims_own_arithmetic_error(small) -> None:
    patients, measures = first(*small, 0)
    verdicts = assess_claims(analysed(patients, measures), load_study().claims)
    assert verdicts and {v.verdict for v in verdicts} == {"unattainable", "arithmetic error"}
    assert all("42.8%" in v.claim for v in verdicts if v.verdict == "arithmetic error")
