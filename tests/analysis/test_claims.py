"""The abstract's claims are judged from results.json: reproduced, contradicted, unattainable, inconclusive,
or an arithmetic error in the claim itself."""

from __future__ import annotations

from typing import Any

import pytest

from analysis.claims import (
    ARITHMETIC_ERROR,
    CONTRADICTED,
    INCONCLUSIVE,
    REPRODUCED,
    UNATTAINABLE,
    VERDICTS,
    assess_claim,
    assess_claims,
    values_at,
)
from config import Claim, load_study
from tests.analysis.conftest import ReferenceCohort

RESULTS: dict[str, Any] = {
    "repeated_measures": {
        "vas": {
            "friedman": {"p": 0.0237},
            "pairwise": [{"p_adjusted": 0.094, "p_adjusted_floor": 0.094},
                         {"p_adjusted": 0.5, "p_adjusted_floor": 0.094}],
        },
        "kps": {"friedman": {"p": None}, "pairwise": [{"p_adjusted": 0.3, "p_adjusted_floor": 0.0004}]},
    },
    "survival": {"pfs": {
        "logrank": {"sex": {"p": 0.41}, "zone_iv": {"p": 0.01}},
        "cox": {"univariable": [{"term": "sex=female", "covariate": "sex", "hr": 0.55, "ci_lower": 0.05,
                                 "ci_upper": 6.1, "n": 7, "events": 3, "estimable": True}],
                "multivariable": {"estimable": False, "reason": "separation", "n": 7, "events": 3,
                                  "terms": [{"term": "a"}, {"term": "b"}]}},
    }},
    "events": [{"name": "local_recurrence", "count": 2, "n": 7, "ci_lower": 0.04, "ci_upper": 0.71},
               {"name": "death", "count": 1, "n": 20, "ci_lower": 0.001, "ci_upper": 0.25}],
}


def claim(**fields: Any) -> Claim:
    return Claim(text=fields.pop("text", "a claim"), **fields)


def test_values_at_fans_out_selects_by_key_and_skips_missing_parts() -> None:
    assert values_at(RESULTS, "repeated_measures.vas.pairwise[].p_adjusted") == [0.094, 0.5]
    assert values_at(RESULTS, "repeated_measures.vas.friedman.p") == [0.0237]
    assert values_at(RESULTS, "repeated_measures.nope.friedman.p") == []
    assert values_at(RESULTS, "events[name=death].count") == [1]
    assert values_at(RESULTS, "survival.pfs.cox.univariable[covariate=sex].hr") == [0.55]


def test_a_significant_difference_at_the_claimed_level_is_reproduced() -> None:
    verdict = assess_claim(RESULTS, claim(path="repeated_measures.vas.friedman.p", threshold=0.05, printed_p=0.024))
    assert verdict.verdict == REPRODUCED
    assert "0.0237" in verdict.evidence and "printed P = 0.024" in verdict.evidence


def test_a_threshold_below_the_designs_smallest_attainable_p_is_unattainable() -> None:
    verdict = assess_claim(RESULTS, claim(path="repeated_measures.vas.pairwise[].p_adjusted", threshold=0.001))
    assert verdict.verdict == UNATTAINABLE
    assert "0.094" in verdict.reason


def test_a_reachable_threshold_that_is_missed_is_contradicted() -> None:
    verdict = assess_claim(RESULTS, claim(path="repeated_measures.kps.pairwise[].p_adjusted", threshold=0.001))
    assert verdict.verdict == CONTRADICTED


def test_a_figure_that_cannot_be_computed_makes_the_claim_unattainable() -> None:
    assert assess_claim(RESULTS, claim(path="repeated_measures.kps.friedman.p")).verdict == UNATTAINABLE
    assert assess_claim(RESULTS, claim(path="repeated_measures.nope.p")).verdict == UNATTAINABLE


def test_no_difference_backed_by_a_non_significant_test_is_inconclusive_with_the_effect_and_its_ci() -> None:
    verdict = assess_claim(RESULTS, claim(kind="no difference", test="at_least", threshold=0.05,
                                          path="survival.pfs.logrank.sex.p",
                                          effect="survival.pfs.cox.univariable[covariate=sex]"))
    assert verdict.verdict == INCONCLUSIVE
    assert "HR 0.55 (CI 0.05 to 6.1)" in verdict.reason
    assert "7 patients with 3 events" in verdict.reason
    assert verdict.effects[0]["estimate"] == 0.55


def test_no_difference_with_a_significant_test_is_contradicted() -> None:
    verdict = assess_claim(RESULTS, claim(kind="no difference", test="at_least", path="survival.pfs.logrank.zone_iv.p"))
    assert verdict.verdict == CONTRADICTED


def test_a_model_that_cannot_be_estimated_makes_its_claim_unattainable() -> None:
    verdict = assess_claim(RESULTS, claim(kind="model", test="at_least", path="survival.pfs.cox.multivariable"))
    assert verdict.verdict == UNATTAINABLE
    assert "3 events for 2 terms" in verdict.reason


def test_an_estimable_model_without_significant_terms_is_inconclusive() -> None:
    model = {"estimable": True, "n": 50, "events": 30,
             "terms": [{"term": "x", "hr": 1.2, "ci_lower": 0.6, "ci_upper": 2.4, "p": 0.6}]}
    verdict = assess_claim({"m": model}, claim(kind="model", test="at_least", path="m"))
    assert verdict.verdict == INCONCLUSIVE
    assert "x: HR 1.2 (CI 0.6 to 2.4)" in verdict.reason


@pytest.mark.parametrize(("percent", "verdict"), [(42.8, ARITHMETIC_ERROR), (28.6, REPRODUCED), (28.5, REPRODUCED),
                                                  (None, REPRODUCED)])
def test_a_printed_percentage_must_be_its_own_numerator_over_denominator(percent: float | None,
                                                                         verdict: str) -> None:
    result = assess_claim(RESULTS, claim(kind="proportion", path="events[name=local_recurrence]", numerator=2,
                                         denominator=7, percent=percent))
    assert result.verdict == verdict
    if verdict == ARITHMETIC_ERROR:
        assert result.reason == "The claim's own figures disagree: 2/7 is 28.6%, not 42.8%."


def test_a_proportion_with_another_count_on_the_same_denominator_is_contradicted() -> None:
    result = assess_claim(RESULTS, claim(kind="proportion", path="events[name=local_recurrence]", numerator=3,
                                         denominator=7))
    assert result.verdict == CONTRADICTED


def test_on_another_cohort_a_printed_proportion_inside_the_exact_ci_is_reproduced() -> None:
    inside = claim(kind="proportion", path="events[name=death]", numerator=1, denominator=7)
    outside = claim(kind="proportion", path="events[name=death]", numerator=6, denominator=7)
    assert assess_claim(RESULTS, inside).verdict == REPRODUCED
    assert assess_claim(RESULTS, outside).verdict == CONTRADICTED


def test_every_verdict_of_the_bundled_study_on_empty_results_is_one_of_the_five() -> None:
    study = load_study()
    verdicts = assess_claims({}, study.claims)
    assert {v.verdict for v in verdicts} <= set(VERDICTS)
    assert all(v.reason for v in verdicts)


def test_the_bundled_study_lists_the_abstracts_claims_of_every_kind() -> None:
    kinds = [c.kind for c in load_study().claims]
    assert kinds.count("difference") == 6 and kinds.count("no difference") == 4
    assert kinds.count("model") == 1 and kinds.count("proportion") == 10


def test_on_the_demo_cohort_the_verdicts_are_those_issue_12_asks_for(demo: ReferenceCohort) -> None:
    """The four 'does not affect PFS' claims are inconclusive, the two all-pairs claims unattainable (smallest
    adjusted p 0.126 / 0.131 with n = 7), 2/7 printed as 42.8 % an arithmetic error; the Cox claim is judged."""
    verdicts = {v.claim: v for v in assess_claims(demo.results, load_study().claims)}
    by_verdict: dict[str, list[str]] = {}
    for text, v in verdicts.items():
        by_verdict.setdefault(v.verdict, []).append(text)
    assert sorted(t for t in by_verdict[INCONCLUSIVE]) == sorted(
        t for t in verdicts if "does not affect progression-free survival" in t)
    assert len(by_verdict[INCONCLUSIVE]) == 4
    assert sorted(by_verdict[UNATTAINABLE]) == sorted([
        "All pairwise VAS comparisons significant after Bonferroni correction (P < 0.001)",
        "All inter-timepoint KPS comparisons significant (P < 0.001)",
        "Cox multivariate regression: gender, tumour type, extent of resection and Zone IV involvement were not "
        "significant for progression-free survival",
    ])
    assert sorted(by_verdict[ARITHMETIC_ERROR]) == ["Distal metastasis (2/7, 42.8%)", "Local recurrence (2/7, 42.8%)"]
    assert CONTRADICTED not in by_verdict
    assert "28.6%" in verdicts["Local recurrence (2/7, 42.8%)"].reason
