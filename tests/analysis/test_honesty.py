"""The honesty rules of issue 6: small n, few events per term, not-estimable Cox models, p-value floors.

Numbers named here come from R 4.2.2 where stated; the floors are exact arithmetic (2 / 2^n).
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

from analysis import AnalysisPlan, NotEstimableWarning, Results, analyse, plan_from_study
from analysis.cox import fit_cox
from analysis.plan import Covariate
from analysis.warnings import WarningLog
from config.study import load_study
from tests.analysis.conftest import ReferenceCohort, read_cohort


def codes(results: dict[str, Any], scope_prefix: str) -> set[str]:
    return {w["code"] for w in results["warnings"] if w["scope"].startswith(scope_prefix)}


def test_separation_is_reported_not_estimable_without_figures(small: ReferenceCohort) -> None:
    multivariable = small.results["survival"]["pfs"]["cox"]["multivariable"]
    assert multivariable["estimable"] is False
    assert "no events among patients with resection_margin = wide" in multivariable["reason"]
    assert all(t["hr"] is None and t["p"] is None for t in multivariable["terms"])
    # R agrees: coxph warns "Loglik converged before variable 1,3,4; coefficient may be infinite"
    assert "infinite" in small.r["survival"]["pfs"]["cox_multivariable"]["warnings"]


def test_separation_without_an_event_free_level_is_caught_too(small: ReferenceCohort) -> None:
    """PFS by sex: both sexes have events, but the one male event happens when no woman is at risk, so the
    likelihood rises without bound as the HR for women grows. R: "coefficient may be infinite"."""
    sex = [t for t in small.results["survival"]["pfs"]["cox"]["univariable"] if t["covariate"] == "sex"]
    assert sex[0]["estimable"] is False and sex[0]["hr"] is None
    assert "infinite" in small.r["survival"]["pfs"]["cox_univariable"]["sex"]["warnings"]


def test_one_death_makes_every_os_model_not_estimable(small: ReferenceCohort) -> None:
    cox = small.results["survival"]["os"]["cox"]
    assert not any(t["estimable"] for t in cox["univariable"])
    assert not cox["multivariable"]["estimable"]
    assert "not_estimable" in codes(small.results, "survival.os.cox")


def test_implausible_coefficient_is_not_estimable_even_if_lifelines_converges() -> None:
    rng = np.random.default_rng(1)
    data = pd.DataFrame({"time": rng.exponential(10, 40), "event": 1, "zone_iv": rng.integers(0, 2, 40)})
    plan = AnalysisPlan(cox_max_abs_coef=0.001)  # any estimate is "implausible" under this plan
    log = WarningLog()
    model = fit_cox(data, (Covariate("zone_iv"),), plan, log, "x")
    assert not model.estimable and model.reason is not None and "implausible estimate" in model.reason
    assert any(isinstance(w, NotEstimableWarning) for w in log.items)


def test_single_level_covariate_is_not_estimable() -> None:
    data = pd.DataFrame({"time": [1.0, 2, 3, 4], "event": [1, 0, 1, 1], "sex": ["male"] * 4})
    model = fit_cox(data, (Covariate("sex", "male", ("female",)),), AnalysisPlan(), WarningLog(), "x")
    assert not model.estimable
    assert model.terms[0].term == "sex" and model.terms[0].hr is None


def test_few_events_per_term_is_warned(small: ReferenceCohort) -> None:
    messages = [w["message"] for w in small.results["warnings"] if w["code"] == "few_events"]
    assert "4 event(s) for 5 term(s): 0.8 per term (fewer than 10)" in messages


def test_tests_on_fewer_than_ten_patients_are_warned(small: ReferenceCohort) -> None:
    scopes = {w["scope"] for w in small.results["warnings"] if w["code"] == "small_n"}
    assert {"repeated_measures.vas", "paired.msts93", "paired.sij_contralateral_mm.zone_iv",
            "survival.pfs.logrank.sex"} <= scopes


def test_exact_signed_rank_floor_with_seven_patients_is_stated(small: ReferenceCohort) -> None:
    pairwise = small.results["repeated_measures"]["vas"]["pairwise"][0]  # pre vs 1m: exact, n = 7
    assert pairwise["method"] == "exact"
    assert pairwise["p_floor"] == 2 / 2**7 == 0.015625  # R: 2 * psignrank(0, 7) = 0.015625
    assert pairwise["p"] == pytest.approx(0.015625)  # the floor is reached: all 7 improved
    assert pairwise["p_adjusted_floor"] == pytest.approx(6 * 0.015625)
    floor = [w["message"] for w in small.results["warnings"]
             if w["code"] == "p_value_floor" and w["scope"] == "repeated_measures.vas.pairwise"]
    assert floor and "cannot give p < 0.0156" in floor[0] and "no comparison can reach significance" in floor[0]


def test_no_floor_warning_when_the_design_can_reach_small_p(generated: ReferenceCohort) -> None:
    assert "p_value_floor" not in codes(generated.results, "repeated_measures")


def test_median_not_reached_is_null_with_a_reason(small: ReferenceCohort) -> None:
    os_ = small.results["survival"]["os"]
    assert os_["median_months"] is None and os_["median_reached"] is False
    assert any(w["scope"] == "survival.os.median_months" and "not reached" in w["message"]
               for w in small.results["warnings"])


def test_analysis_emits_no_python_warnings_and_json_has_no_nan() -> None:
    patients, measures = read_cohort("small")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        results = analyse(patients, measures, plan_from_study(load_study()))
    assert isinstance(results, Results)
    json.dumps(results.to_dict(), allow_nan=False)


def test_collected_warnings_are_our_classes_and_can_be_re_emitted() -> None:
    warning = NotEstimableWarning("separation", "survival.os.cox")
    with pytest.warns(NotEstimableWarning, match="separation"):
        warnings.warn(warning, stacklevel=1)
    assert warning.code == "not_estimable"


def _degenerate_cases() -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    p, m = read_cohort("small")
    first_two = p["study_id"].iloc[:2]
    return {
        "no measures": (p, m.iloc[0:0]),
        "no events": (p.assign(os_event=0, pfs_event=0, death=0), m),
        "two patients": (p.iloc[:2], m[m["study_id"].isin(first_two)]),
        "a missing covariate": (p.assign(sex=p["sex"].where(p.index > 0)), m),
        "constant scores": (p, m.assign(value=m["value"].where(m["instrument"] != "vas", 5.0))),
    }


@pytest.mark.parametrize("case", list(_degenerate_cases()))
def test_degenerate_cohorts_give_nulls_with_reasons_never_errors(case: str) -> None:
    patients, measures = _degenerate_cases()[case]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        document = analyse(patients, measures, plan_from_study(load_study())).to_dict()
    json.dumps(document, allow_nan=False)
    assert any(w["code"] == "not_computable" for w in document["warnings"])
