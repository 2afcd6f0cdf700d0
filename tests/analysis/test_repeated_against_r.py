"""Friedman and pairwise signed-rank tests against R's friedman.test, wilcox.test and p.adjust.

Expected values: tests/reference/make_reference.R → reference_<cohort>.json, ``repeated_measures``.
"""

from __future__ import annotations

import pytest

from tests.analysis.conftest import ReferenceCohort, assert_matches_r


@pytest.mark.parametrize("instrument", ["vas", "kps"])
def test_friedman_matches_r(reference_cohort: ReferenceCohort, instrument: str) -> None:
    ours = reference_cohort.results["repeated_measures"][instrument]["friedman"]
    r = reference_cohort.r["repeated_measures"][instrument]["friedman"]  # R friedman.test on complete cases
    assert ours["n"] == r["n"]
    assert ours["df"] == r["df"]
    assert_matches_r([ours["statistic"], ours["p"]], [r["statistic"], r["p"]], f"{instrument}.friedman",
                     reference_cohort)


@pytest.mark.parametrize("instrument", ["vas", "kps"])
def test_pairwise_signed_rank_matches_r(reference_cohort: ReferenceCohort, instrument: str) -> None:
    ours = reference_cohort.results["repeated_measures"][instrument]["pairwise"]
    r = reference_cohort.r["repeated_measures"][instrument]["pairwise"]  # R wilcox.test(later, earlier, paired)
    assert [(o["a"], o["b"]) for o in ours] == [(x["a"], x["b"]) for x in r]
    for o, x in zip(ours, r, strict=True):
        where = f"{instrument}.pairwise.{o['a']}-{o['b']}"
        assert o["n"] == x["n"]
        assert ("exact" in x["method"]) == (o["method"] == "exact"), f"{where}: R used {x['method']}"
        assert_matches_r([o["statistic"], o["p"], o["p_adjusted"]], [x["statistic"], x["p"], x["p_adjusted"]],
                         where, reference_cohort)


def test_both_signed_rank_methods_are_exercised(small: ReferenceCohort) -> None:
    methods = {o["method"] for o in small.results["repeated_measures"]["vas"]["pairwise"]}
    assert methods == {"exact", "normal approximation with continuity correction"}


def test_method_reason_says_why(small: ReferenceCohort) -> None:
    by_pair = {(o["a"], o["b"]): o for o in small.results["repeated_measures"]["vas"]["pairwise"]}
    assert by_pair[("pre", "1m")]["method_reason"].startswith("n = 7 < 50 with no ties")
    assert "zero differences" in by_pair[("3m", "6m")]["method_reason"]
    assert by_pair[("3m", "6m")]["n_zero"] == 2
