"""Survival as clinicians read it, against R's survival package: the median's CI, landmark estimates, the
numbers at risk, and the completeness of follow-up.

Expected values: tests/reference/make_reference.R → reference_<cohort>.json, ``survival.<endpoint>.km``:
``median_lower`` / ``median_upper`` (quantile(fit, 0.5)), ``table_lcl`` / ``table_ucl`` (summary(fit)$table),
``landmarks`` (summary(fit, times = c(6, 12, 24)): R leaves out times past the last follow-up, where ours are
null), ``risk_table`` (summary(fit, times = seq(0, max follow-up, 3), extend = TRUE)); ``followup.clark``.
Every fit is survfit(conf.type = "log-log").
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from analysis import analyse
from analysis.kmsummary import median_with_ci
from analysis.plan import plan_from_study
from analysis.survival import fit_km
from analysis.warnings import WarningLog
from config.study import load_study
from tests.analysis.conftest import ReferenceCohort, as_list, assert_matches_r, read_cohort

ENDPOINTS = ["os", "pfs"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_median_ci_matches_r_quantile_and_summary_table(reference_cohort: ReferenceCohort, endpoint: str) -> None:
    ours, r = reference_cohort.results["survival"][endpoint], reference_cohort.r["survival"][endpoint]["km"]
    where = f"survival.{endpoint}.median_ci"
    assert_matches_r([ours["median_ci_lower"], ours["median_ci_upper"]], [r["median_lower"], r["median_upper"]],
                     where, reference_cohort)
    assert_matches_r([ours["median_months"], ours["median_ci_lower"], ours["median_ci_upper"]],
                     [r["table_median"], r["table_lcl"], r["table_ucl"]], f"{where}.table", reference_cohort)


def check_landmarks(ours: list[dict[str, object]], r: dict[str, object], where: str, cohort: ReferenceCohort) -> None:
    reported = as_list(r["months"])
    assert [m["months"] for m in ours] == [6.0, 12.0, 24.0]
    shown = [m for m in ours if m["survival"] is not None]
    assert [m["months"] for m in shown] == reported, f"{where}: R reports {reported}"
    assert all(m["ci_lower"] is None and m["ci_upper"] is None for m in ours if m["survival"] is None)
    assert [m["at_risk"] for m in shown] == as_list(r["n_risk"])
    for key, r_key in (("survival", "surv"), ("ci_lower", "lower"), ("ci_upper", "upper")):
        assert_matches_r([m[key] for m in shown], r[r_key], f"{where}.{key}", cohort)


def check_risk_table(ours: list[dict[str, object]], r: dict[str, object], where: str, cohort: ReferenceCohort) -> None:
    assert_matches_r([row["months"] for row in ours], r["months"], f"{where}.months", cohort)
    assert [row["at_risk"] for row in ours] == as_list(r["n_risk"]), where
    assert [row["cumulative_events"] for row in ours] == as_list(r["cumulative_events"]), where


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_landmark_estimates_match_r_summary_at_times(reference_cohort: ReferenceCohort, endpoint: str) -> None:
    ours, r = reference_cohort.results["survival"][endpoint], reference_cohort.r["survival"][endpoint]["km"]
    check_landmarks(ours["landmarks"], r["landmarks"], f"survival.{endpoint}.landmarks", reference_cohort)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_numbers_at_risk_every_3_months_match_r(reference_cohort: ReferenceCohort, endpoint: str) -> None:
    ours, r = reference_cohort.results["survival"][endpoint], reference_cohort.r["survival"][endpoint]["km"]
    check_risk_table(ours["at_risk_table"], r["risk_table"], f"survival.{endpoint}.at_risk_table", reference_cohort)


def test_a_landmark_past_the_last_follow_up_is_null_with_a_warning(demo: ReferenceCohort) -> None:
    last = demo.results["survival"]["os"]["landmarks"][-1]
    assert (last["months"], last["survival"], last["at_risk"]) == (24.0, None, 0)
    assert any(w["scope"] == "survival.os.landmarks" and "24" in w["message"] for w in demo.results["warnings"])


def test_the_demo_median_pfs_ci_is_open_above_as_in_r(demo: ReferenceCohort) -> None:
    pfs = demo.results["survival"]["pfs"]
    assert (pfs["median_months"], pfs["median_ci_lower"], pfs["median_ci_upper"]) == (9.8563, 2.2998, None)


# R 4.2.2 / survival 3.5-3: quantile(survfit(Surv(1:6, rep(1, 6)) ~ 1, conf.type = "log-log"), 0.5)
# → 3.5, lower 1, upper NA (the upper curve never reaches 0.5 before S = 0, where its limits are NA)
def test_median_ci_where_the_upper_curve_stops_at_zero_survival() -> None:
    kmf = fit_km(pd.Series([1.0, 2, 3, 4, 5, 6]), pd.Series([1] * 6), 0.05, WarningLog(), "x")
    assert median_with_ci(kmf) == (3.5, 1.0, None)


def test_log_rank_reports_its_events_and_a_test_on_one_event_is_flagged(reference_cohort: ReferenceCohort) -> None:
    for endpoint in ENDPOINTS:
        r = reference_cohort.r["survival"][endpoint]["logrank"]
        for covariate, test in reference_cohort.results["survival"][endpoint]["logrank"].items():
            assert test["events"] == r[covariate]["events"]
    one_event = [w for w in reference_cohort.results["warnings"]
                 if w["code"] == "few_events" and "rests on one event" in w["message"]]
    single = [f"survival.{e}.logrank.{c}" for e in ENDPOINTS
              for c, t in reference_cohort.results["survival"][e]["logrank"].items()
              if t["events"] == 1 and t["p"] is not None]
    assert sorted(w["scope"] for w in one_event) == sorted(single)


def test_demo_os_log_rank_tests_rest_on_its_one_death(demo: ReferenceCohort) -> None:
    assert all(t["events"] == 1 for t in demo.results["survival"]["os"]["logrank"].values())


def test_clarks_completeness_of_follow_up_matches_r(reference_cohort: ReferenceCohort) -> None:
    ours, r = reference_cohort.results["followup"], reference_cohort.r["followup"]["clark"]
    assert_matches_r([ours["completeness"], ours["observed_months"], ours["potential_months"]],
                     [r["completeness"], r["observed"], r["potential"]], "followup.completeness", reference_cohort)
    assert ours["completeness_cutoff"] == r["cutoff"]
    assert ours["completeness_cutoff_rule"].startswith("latest contact")


def test_a_given_data_cutoff_counts_the_follow_up_a_patient_could_have_had_until_then() -> None:
    patients, measures = read_cohort("demo")
    plan = plan_from_study(load_study())
    latest = analyse(patients, measures, plan).to_dict()["followup"]
    later = analyse(patients, measures, plan, cutoff=date(2024, 12, 5)).to_dict()["followup"]
    assert latest["completeness_cutoff"] == "2024-06-05"
    assert later["completeness_cutoff"] == "2024-12-05" and later["completeness_cutoff_rule"] == "data cut-off"
    assert later["observed_months"] == pytest.approx(latest["observed_months"])
    # six living patients could each have been followed 183 days longer; the one death's potential is unchanged
    assert later["potential_months"] == pytest.approx(latest["potential_months"] + 6 * 183 / 30.4375)
    assert later["completeness"] < latest["completeness"]
