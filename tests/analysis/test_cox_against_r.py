"""Cox models and the proportional-hazards check against R's coxph (ties = "efron") and cox.zph.

Expected values: tests/reference/make_reference.R → reference_<cohort>.json, ``survival.<endpoint>.cox_*``.
``ph_approx`` is the Grambsch–Therneau test with the approximate variance (R survival < 3.0's cox.zph,
written out in the R script from R's Schoenfeld residuals) with R's "km" transform 1 − KM(t−): it is what
lifelines computes, and must agree to 1e-6. ``ph_zph`` is survival 3.x's exact score test: it differs by
definition and is only checked for the same conclusion.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.analysis.conftest import ReferenceCohort, as_list, assert_matches_r

ENDPOINTS = ["os", "pfs"]
FIELDS = ("coef", "se", "hr", "ci_lower", "ci_upper", "p")


def check_model(terms: list[dict[str, Any]], r: dict[str, Any], where: str, cohort: ReferenceCohort) -> None:
    assert [t["term"] for t in terms] == as_list(r["terms"])
    for field in FIELDS:
        assert_matches_r([t[field] for t in terms], r[field], f"{where}.{field}", cohort)
    assert_matches_r([t["ph_statistic"] for t in terms], r["ph_approx"]["statistic"], f"{where}.ph", cohort)
    assert_matches_r([t["ph_p"] for t in terms], r["ph_approx"]["p"], f"{where}.ph_p", cohort)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_univariable_cox_matches_r_where_estimable(reference_cohort: ReferenceCohort, endpoint: str) -> None:
    rows = reference_cohort.results["survival"][endpoint]["cox"]["univariable"]
    for covariate, r in reference_cohort.r["survival"][endpoint]["cox_univariable"].items():
        terms = [t for t in rows if t["covariate"] == covariate]
        estimable = {t["estimable"] for t in terms}
        assert estimable == {not r["warnings"]}, f"{covariate}: R warned {r['warnings']}"
        if terms[0]["estimable"]:
            assert (terms[0]["n"], terms[0]["events"]) == (r["n"], r["events"])
            check_model(terms, r, f"survival.{endpoint}.cox_univariable.{covariate}", reference_cohort)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_multivariable_cox_matches_r_where_estimable(reference_cohort: ReferenceCohort, endpoint: str) -> None:
    ours = reference_cohort.results["survival"][endpoint]["cox"]["multivariable"]
    r = reference_cohort.r["survival"][endpoint]["cox_multivariable"]
    assert ours["estimable"] == (not r["warnings"]), f"R warned {r['warnings']}"
    if ours["estimable"]:
        assert (ours["n"], ours["events"]) == (r["n"], r["events"])
        check_model(ours["terms"], r, f"survival.{endpoint}.cox_multivariable", reference_cohort)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_model_of_the_generated_cohort_is_estimable(generated: ReferenceCohort, endpoint: str) -> None:
    cox = generated.results["survival"][endpoint]["cox"]
    assert cox["multivariable"]["estimable"]
    assert cox["multivariable"]["events_per_term"] >= 10
    assert all(t["estimable"] for t in cox["univariable"])
    assert not [w for w in generated.results["warnings"] if w["scope"].startswith("survival")]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_ph_check_reaches_the_same_conclusion_as_survival_3_cox_zph(generated: ReferenceCohort,
                                                                     endpoint: str) -> None:
    ours = generated.results["survival"][endpoint]["cox"]["multivariable"]["terms"]
    zph = generated.r["survival"][endpoint]["cox_multivariable"]["ph_zph"]  # survival 3.x cox.zph(transform="km")
    for term, p in zip(ours, as_list(zph["p"]), strict=True):
        assert (term["ph_p"] < 0.05) == (p < 0.05), term["term"]
