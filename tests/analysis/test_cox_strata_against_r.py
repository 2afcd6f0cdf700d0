"""The site as a Cox stratum (issue 15) against R's coxph(Surv(t, e) ~ x + strata(site), ties = "efron").

Cohort: tests/reference/sites/cohort.csv (tests/reference/make_sites.py: the generated cohort with ``site``,
two sites by year of surgery, and ``site_edge``, the same with a one-patient site ``east`` and a site ``west``
without events), analysed with the bundled study's plan plus ``with_factor(Covariate(column), cox="stratum")``
and the generated cohort's measures.

Expected values: R 4.2 survival 3.x, tests/reference/make_reference_strata.R → reference_cox_strata.json,
``survival.<endpoint>.<stratum>.cox_univariable`` / ``cox_multivariable``; ``ph_approx`` is the approximate
Grambsch–Therneau test from R's Schoenfeld residuals of the stratified fit with the pooled 1 − KM(t−)
transform (what lifelines computes), ``ph_zph`` survival 3.x's cox.zph, checked for the same conclusion only.
"""

from __future__ import annotations

import json
import math
from functools import cache
from typing import Any

import pandas as pd
import pytest

from analysis import analyse
from analysis.plan import AnalysisPlan, Covariate, plan_from_study
from config.errors import AnalysisError, ConfigError
from config.study import load_study
from tests.analysis.conftest import REFERENCE_DIR, as_list, read_cohort

R_SOURCE = "tests/reference/make_reference_strata.R → tests/reference/reference_cox_strata.json"
STRATA = ["site", "site_edge"]
ENDPOINTS = ["os", "pfs"]
FIELDS = ("coef", "se", "hr", "ci_lower", "ci_upper", "p")
REL = 1e-6
PLAN = plan_from_study(load_study())


def sites_cohort() -> pd.DataFrame:
    return pd.read_csv(REFERENCE_DIR / "sites" / "cohort.csv")


@cache
def r_reference() -> dict[str, Any]:
    """R's values (R_SOURCE)."""
    return dict(json.loads((REFERENCE_DIR / "reference_cox_strata.json").read_text(encoding="utf-8")))


@cache
def ours(stratum: str) -> dict[str, Any]:
    _, measures = read_cohort("generated")
    plan = PLAN.with_factor(Covariate(stratum), cox="stratum")
    return dict(analyse(sites_cohort(), measures, plan).to_dict())


def assert_matches_r(ours_values: Any, expected: Any, where: str) -> None:
    """Ours equals R's (R_SOURCE) to 1e-6 relative."""
    a_list, r_list = as_list(ours_values), as_list(expected)
    assert len(a_list) == len(r_list), f"{where}: {len(a_list)} values, R has {len(r_list)} ({R_SOURCE})"
    for i, (a, b) in enumerate(zip(a_list, r_list, strict=True)):
        assert b is not None and a is not None and not math.isnan(a), f"{where}[{i}]: ours {a}, R {b} ({R_SOURCE})"
        assert a == pytest.approx(b, rel=REL, abs=1e-12), f"{where}[{i}]: ours {a}, R {b} ({R_SOURCE})"


def check_model(terms: list[dict[str, Any]], r: dict[str, Any], where: str) -> None:
    assert [t["term"] for t in terms] == as_list(r["terms"])
    assert not r["warnings"] and not r["singular"], f"{where}: R warned {r['warnings']}"
    for field in FIELDS:  # R coxph(... + strata(stratum), ties = "efron"): summary(fit)$coefficients, $conf.int
        assert_matches_r([t[field] for t in terms], r[field], f"{where}.{field}")
    assert_matches_r([t["ph_statistic"] for t in terms], r["ph_approx"]["statistic"], f"{where}.ph")
    assert_matches_r([t["ph_p"] for t in terms], r["ph_approx"]["p"], f"{where}.ph_p")


@pytest.mark.parametrize("stratum", STRATA)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_stratified_multivariable_cox_matches_r(stratum: str, endpoint: str) -> None:
    model = ours(stratum)["survival"][endpoint]["cox"]["multivariable"]
    r = r_reference()["survival"][endpoint][stratum]["cox_multivariable"]  # R coxph(... + strata(stratum))
    assert model["estimable"] and model["strata"] == [stratum] == [r["strata"]]
    assert (model["n"], model["events"]) == (r["n"], r["events"])  # R fit$n, fit$nevent: every patient
    check_model(model["terms"], r, f"survival.{endpoint}.{stratum}.cox_multivariable")


@pytest.mark.parametrize("stratum", STRATA)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_stratified_univariable_cox_matches_r(stratum: str, endpoint: str) -> None:
    rows = ours(stratum)["survival"][endpoint]["cox"]["univariable"]
    for covariate, r in r_reference()["survival"][endpoint][stratum]["cox_univariable"].items():
        terms = [t for t in rows if t["covariate"] == covariate]
        assert all(t["estimable"] and t["strata"] == [stratum] for t in terms)
        assert (terms[0]["n"], terms[0]["events"]) == (r["n"], r["events"])
        check_model(terms, r, f"survival.{endpoint}.{stratum}.cox_univariable.{covariate}")


@pytest.mark.parametrize("stratum", STRATA)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_ph_check_of_a_stratified_model_reaches_the_conclusion_of_cox_zph(stratum: str, endpoint: str) -> None:
    terms = ours(stratum)["survival"][endpoint]["cox"]["multivariable"]["terms"]
    zph = r_reference()["survival"][endpoint][stratum]["cox_multivariable"]["ph_zph"]  # survival 3.x cox.zph
    for term, p in zip(terms, as_list(zph["p"]), strict=True):
        assert (term["ph_p"] < 0.05) == (p < 0.05), term["term"]


def test_the_site_stays_a_log_rank_factor_and_has_no_cox_term() -> None:
    survival = ours("site")["survival"]["os"]
    assert survival["logrank"]["site"]["groups"] == ["north", "south"]
    assert survival["logrank"]["site"]["p"] is not None
    assert not [t for t in survival["cox"]["univariable"] if t["covariate"] == "site"]
    assert not [t for t in survival["cox"]["multivariable"]["terms"] if t["covariate"] == "site"]
    assert "strata(site)" in ours("site")["methods"]["cox"]


def test_stratification_changes_the_estimates() -> None:
    """Against the unstratified fit of the same cohort: a baseline hazard per site is not a no-op here."""
    stratified = ours("site")["survival"]["os"]["cox"]["multivariable"]["terms"]
    _, measures = read_cohort("generated")
    plain = analyse(sites_cohort(), measures, PLAN).to_dict()["survival"]["os"]["cox"]["multivariable"]
    assert plain["strata"] == []
    assert [t["term"] for t in plain["terms"]] == [t["term"] for t in stratified]
    assert all(abs(a["coef"] - b["coef"]) > 1e-4 for a, b in zip(plain["terms"], stratified, strict=True))


def test_a_one_patient_site_and_a_site_without_events_add_nothing_and_the_reason_says_so() -> None:
    r = r_reference()
    counts = r["survival"]["os"]["site_edge"]["strata"]  # per site: patients and events, in R
    assert dict(zip(counts["stratum"], counts["n"], strict=True))["east"] == 1
    assert dict(zip(counts["stratum"], counts["events"], strict=True))["west"] == 0
    results = ours("site_edge")
    model = results["survival"]["os"]["cox"]["multivariable"]
    assert model["estimable"]
    assert model["reason"].startswith("site_edge = east (1 patient) and site_edge = west (no events) add nothing")
    # R fits the model without a word; its estimates are those of the fit without the two sites (R again)
    without = r["os_without_edge_sites"]
    assert_matches_r([t["coef"] for t in model["terms"]], without["coef"], "os_without_edge_sites.coef")
    assert_matches_r([t["se"] for t in model["terms"]], without["se"], "os_without_edge_sites.se")
    # n and events count every patient (R's n and nevent); events per term leave out east's event
    assert (model["n"], model["events"]) == (120, 79) and without["events"] == 78
    assert model["events_per_term"] == pytest.approx(78 / 5)
    scopes = {w["scope"] for w in results["warnings"] if "add nothing" in w["message"]}
    assert "survival.os.cox.multivariable" in scopes and "survival.os.cox.univariable.sex" in scopes
    assert ours("site")["survival"]["os"]["cox"]["multivariable"]["reason"] is None


def test_a_term_nested_in_the_strata_is_not_estimable_as_r_gives_na() -> None:
    nested = r_reference()["nested"]  # R: coxph(Surv ~ `tumor_category=secondary` + strata(diagnosis)): NA
    assert nested["singular"] and nested["coef"] is None
    _, measures = read_cohort("generated")
    plan = AnalysisPlan(**{**vars(PLAN), "survival_covariates": (Covariate("tumor_category", "primary"),),
                           "logrank": ()}).with_factor(Covariate("diagnosis"), cox="stratum")
    model = analyse(sites_cohort(), measures, plan).to_dict()["survival"]["os"]["cox"]["multivariable"]
    assert not model["estimable"] and model["strata"] == ["diagnosis"]
    assert model["reason"].startswith("tumor_category=secondary does not vary within any diagnosis")
    assert model["terms"][0]["hr"] is None


def test_no_stratum_with_an_event_and_another_patient_at_risk_is_not_estimable() -> None:
    """Every patient alone in a stratum: nothing to compare (R: "Ran out of iterations and did not converge")."""
    patients, measures = read_cohort("small")
    plan = PLAN.with_factor(Covariate("study_id"), cox="stratum")
    results = analyse(patients, measures, plan).to_dict()
    for endpoint in ENDPOINTS:
        model = results["survival"][endpoint]["cox"]["multivariable"]
        assert not model["estimable"]
        assert model["reason"] in ("no events", "no study_id has an event with another of its patients still at "
                                                "risk: the stratified model has no information")
    assert results["survival"]["pfs"]["cox"]["multivariable"]["reason"].startswith("no study_id has an event")


def test_patients_without_a_site_are_left_out_of_the_stratified_models() -> None:
    patients = sites_cohort()
    patients.loc[:9, "site"] = None
    _, measures = read_cohort("generated")
    results = analyse(patients, measures, PLAN.with_factor(Covariate("site"), cox="stratum")).to_dict()
    assert results["survival"]["os"]["cox"]["multivariable"]["n"] == 110


def test_strata_without_covariates_do_not_fail() -> None:
    patients = sites_cohort()
    _, measures = read_cohort("generated")
    plan = AnalysisPlan(endpoints=PLAN.endpoints).with_factor(Covariate("site"), cox="stratum")
    cox = analyse(patients, measures, plan).to_dict()["survival"]["os"]["cox"]
    assert cox["univariable"] == []
    assert cox["multivariable"]["terms"] == [] and cox["multivariable"]["strata"] == ["site"]


# --------------------------------------------------------------------------- the plan API


def test_with_factor_as_a_stratum_adds_a_log_rank_factor_and_a_cox_stratum() -> None:
    site = Covariate("site", "north", ("south",))
    plan = PLAN.with_factor(site, cox="stratum")
    assert plan.logrank[-1] == site and plan.cox_strata == ("site",)
    assert plan.survival_covariates == PLAN.survival_covariates
    assert "site" in plan.fact_columns
    default = PLAN.with_factor(site)
    assert default.survival_covariates[-1] == site and default.cox_strata == ()


def test_with_factor_refuses_an_unknown_cox_role() -> None:
    with pytest.raises(ConfigError, match="neither of 'covariate' and 'stratum'"):
        PLAN.with_factor(Covariate("site"), cox="strata")


def test_a_column_is_not_both_a_cox_covariate_and_a_stratum() -> None:
    with pytest.raises(ConfigError, match=r"analysis\.survival\.cox_strata.*both a Cox covariate and a stratum"):
        AnalysisPlan(survival_covariates=(Covariate("zone_iv"),), cox_strata=("zone_iv",))
    with pytest.raises(ConfigError, match="listed twice"):
        AnalysisPlan(cox_strata=("site", "site"))


def test_a_missing_stratum_column_is_named() -> None:
    patients, measures = read_cohort("small")
    with pytest.raises(AnalysisError, match=r"lacks column\(s\) site:"):
        analyse(patients, measures, PLAN.with_factor(Covariate("site"), cox="stratum"))


def test_unstratified_models_record_no_strata(generated: Any) -> None:
    cox = generated.results["survival"]["os"]["cox"]
    assert cox["multivariable"]["strata"] == []
    assert all(t["strata"] == [] for t in cox["univariable"])
