"""The abstract's claims are judged from results.json: supported, not supported, or not assessable."""

from __future__ import annotations

from analysis.claims import NOT_ASSESSABLE, NOT_SUPPORTED, SUPPORTED, assess_claim, assess_claims, values_at
from config import Claim, load_study

RESULTS = {
    "repeated_measures": {
        "vas": {
            "friedman": {"p": 0.0237},
            "pairwise": [{"p_adjusted": 0.094}, {"p_adjusted": 0.5}, {"p_adjusted": 1.0}],
        },
        "kps": {"friedman": {"p": None}, "pairwise": []},
    },
    "survival": {"pfs": {"logrank": {"sex": {"p": 0.41}}}},
}


def test_values_at_fans_out_over_lists_and_skips_missing_parts() -> None:
    assert values_at(RESULTS, "repeated_measures.vas.pairwise[].p_adjusted") == [0.094, 0.5, 1.0]
    assert values_at(RESULTS, "repeated_measures.vas.friedman.p") == [0.0237]
    assert values_at(RESULTS, "repeated_measures.nope.friedman.p") == []


def test_a_p_value_below_the_threshold_supports_a_below_claim() -> None:
    verdict = assess_claim(RESULTS, Claim("VAS changed", "repeated_measures.vas.friedman.p", "below", 0.05))
    assert verdict.verdict == SUPPORTED
    assert "0.0237" in verdict.evidence


def test_every_pairwise_value_must_pass_for_an_all_pairs_claim() -> None:
    claim = Claim("all pairs", "repeated_measures.vas.pairwise[].p_adjusted", "below", 0.001)
    verdict = assess_claim(RESULTS, claim)
    assert verdict.verdict == NOT_SUPPORTED
    assert "0.094" in verdict.evidence


def test_a_null_figure_cannot_be_assessed_rather_than_counted_as_failing() -> None:
    missing = Claim("k", "repeated_measures.kps.friedman.p", "below", 0.05)
    assert assess_claim(RESULTS, missing).verdict == NOT_ASSESSABLE
    empty = Claim("k", "repeated_measures.kps.pairwise[].p_adjusted", "below", 0.05)
    assert assess_claim(RESULTS, empty).verdict == NOT_ASSESSABLE


def test_an_at_least_claim_is_supported_by_a_non_significant_p() -> None:
    claim = Claim("sex does not matter", "survival.pfs.logrank.sex.p", "at_least", 0.05)
    assert assess_claim(RESULTS, claim).verdict == SUPPORTED


def test_the_bundled_study_lists_the_abstracts_ten_inferential_claims() -> None:
    study = load_study()
    assert len(study.claims) == 10
    verdicts = assess_claims({}, study.claims)
    assert {v.verdict for v in verdicts} == {NOT_ASSESSABLE}
