"""Kaplan–Meier, log-rank and follow-up against R's survfit and survdiff.

Expected values: tests/reference/make_reference.R → reference_<cohort>.json, ``survival.<endpoint>.km``,
``.logrank`` and ``followup``. Kaplan–Meier intervals are compared with survfit(conf.type = "log-log"),
the transform lifelines uses (R's default, "log", would differ by definition).
"""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.survival import fit_km, km_median
from analysis.warnings import WarningLog
from tests.analysis.conftest import ReferenceCohort, as_list, assert_matches_r

ENDPOINTS = ["os", "pfs"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_kaplan_meier_matches_r_survfit_log_log(reference_cohort: ReferenceCohort, endpoint: str) -> None:
    ours, r = reference_cohort.results["survival"][endpoint], reference_cohort.r["survival"][endpoint]["km"]
    assert (ours["n"], ours["events"]) == (r["n"], r["events"])
    km = ours["km"]
    where = f"survival.{endpoint}.km"
    assert_matches_r([p["time_months"] for p in km], r["time"], f"{where}.time", reference_cohort)
    assert [p["at_risk"] for p in km] == as_list(r["n_risk"])
    assert [p["events"] for p in km] == as_list(r["n_event"])
    assert_matches_r([p["survival"] for p in km], r["surv"], f"{where}.surv", reference_cohort)
    assert_matches_r([p["ci_lower"] for p in km], r["lower"], f"{where}.lower", reference_cohort)
    assert_matches_r([p["ci_upper"] for p in km], r["upper"], f"{where}.upper", reference_cohort)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_median_matches_r_quantile_survfit(reference_cohort: ReferenceCohort, endpoint: str) -> None:
    ours, r = reference_cohort.results["survival"][endpoint], reference_cohort.r["survival"][endpoint]["km"]
    assert_matches_r(ours["median_months"], r["median_r"], f"survival.{endpoint}.median", reference_cohort)
    assert ours["median_reached"] == (r["median_r"] is not None)


def test_median_on_a_flat_stretch_at_one_half_is_its_midpoint_as_in_r(small: ReferenceCohort) -> None:
    """Six deaths at 1..6 months: S = 0.5 on [3, 4). R reports 3.5; lifelines' median_survival_time_ says 4
    because its S(3) is 0.5000000000000001 after rounding, which is why analysis.survival uses R's rule."""
    example = small.r["median_example"]
    kmf = fit_km(pd.Series(example["time"], dtype=float), pd.Series(example["event"]), 0.05, WarningLog(), "x")
    assert (example["median_r"], example["median_first"]) == (3.5, 3)
    assert km_median(kmf) == example["median_r"]
    assert kmf.median_survival_time_ == 4.0  # the documented lifelines difference


def test_median_not_reached_is_none() -> None:
    kmf = fit_km(pd.Series([1.0, 2.0, 3.0, 4.0]), pd.Series([1, 0, 0, 0]), 0.05, WarningLog(), "x")
    assert km_median(kmf) is None


def test_median_flat_at_one_half_until_the_end_is_midpoint_to_last_time() -> None:
    # S = 0.5 from t = 2 to the last time, 7. R 4.2.2 / survival 3.5-3:
    # quantile(survfit(Surv(c(1, 2, 3, 7), c(1, 1, 0, 0)) ~ 1), 0.5, conf.int = FALSE) → 4.5
    kmf = fit_km(pd.Series([1.0, 2.0, 3.0, 7.0]), pd.Series([1, 1, 0, 0]), 0.05, WarningLog(), "x")
    assert km_median(kmf) == 4.5


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_logrank_matches_r_survdiff(reference_cohort: ReferenceCohort, endpoint: str) -> None:
    ours = reference_cohort.results["survival"][endpoint]["logrank"]
    for covariate, r in reference_cohort.r["survival"][endpoint]["logrank"].items():
        assert ours[covariate]["df"] == r["df"]
        assert_matches_r([ours[covariate]["statistic"], ours[covariate]["p"]], [r["statistic"], r["p"]],
                         f"survival.{endpoint}.logrank.{covariate}", reference_cohort)


def test_followup_and_reverse_km_median_match_r(reference_cohort: ReferenceCohort) -> None:
    ours, r = reference_cohort.results["followup"], reference_cohort.r["followup"]
    assert_matches_r(
        [ours["mean_months"], ours["median_months"], ours["min_months"], ours["max_months"],
         ours["reverse_km_median_months"]],
        [r["mean"], r["median"], r["min"], r["max"], r["median_r"]], "followup", reference_cohort)


def test_censoring_times_are_listed_for_censor_marks(small: ReferenceCohort) -> None:
    os_ = small.results["survival"]["os"]
    assert len(os_["censored_months"]) == 6
    assert os_["censored_months"] == sorted(os_["censored_months"])
