"""Effect sizes against R: the Hodges–Lehmann estimate and interval of ``wilcox.test(..., conf.int = TRUE)``
with its defaults, and t.test's mean difference with its interval.

Expected values: tests/reference/make_reference.R → reference_<cohort>.json: ``repeated_measures.<i>.pairwise[]
.hodges_lehmann`` / ``.mean_difference`` (wilcox.test(later, earlier, paired = TRUE, conf.int = TRUE),
t.test(later, earlier, paired = TRUE)), ``msts93.wilcoxon.hodges_lehmann``,
``sij_contralateral_mm.<group>.wilcoxon.hodges_lehmann`` and ``.between_groups.{hodges_lehmann,
mean_difference}`` (wilcox.test(x, y, conf.int = TRUE), t.test(x, y)). The level of each interval is the one
R reports (``attr(conf.int, "conf.level")``): lower than 95 % when the sample cannot reach 95 %.
"""

from __future__ import annotations

from typing import Any

import pytest

from analysis.effects import hodges_lehmann_paired, hodges_lehmann_two_sample
from tests.analysis.conftest import ReferenceCohort, assert_matches_r

HL = ("estimate", "ci_lower", "ci_upper", "conf_level")
MEAN = ("estimate", "ci_lower", "ci_upper")


def check(ours: dict[str, Any], r: dict[str, Any], fields: tuple[str, ...], where: str,
          cohort: ReferenceCohort) -> None:
    assert_matches_r([ours[f] for f in fields], [r[f] for f in fields], where, cohort)


@pytest.mark.parametrize("instrument", ["vas", "kps"])
def test_pairwise_hodges_lehmann_and_mean_difference_match_r(reference_cohort: ReferenceCohort,
                                                            instrument: str) -> None:
    ours = reference_cohort.results["repeated_measures"][instrument]["pairwise"]
    r = reference_cohort.r["repeated_measures"][instrument]["pairwise"]
    for mine, theirs in zip(ours, r, strict=True):
        where = f"{instrument}.{mine['a']}-{mine['b']}"
        check(mine["hodges_lehmann"], theirs["hodges_lehmann"], HL, f"{where}.hodges_lehmann", reference_cohort)
        check(mine["mean_difference"], theirs["mean_difference"], MEAN, f"{where}.mean_difference", reference_cohort)


def test_paired_comparisons_hodges_lehmann_match_r(reference_cohort: ReferenceCohort) -> None:
    paired, r = reference_cohort.results["paired"], reference_cohort.r
    check(paired["msts93"]["hodges_lehmann"], r["msts93"]["wilcoxon"]["hodges_lehmann"], HL, "msts93",
          reference_cohort)
    for group in ("zone_iv", "no_zone_iv"):
        check(paired["sij_contralateral_mm"][group]["hodges_lehmann"],
              r["sij_contralateral_mm"][group]["wilcoxon"]["hodges_lehmann"], HL, f"sij.{group}", reference_cohort)


def test_between_group_shift_and_welch_difference_match_r(reference_cohort: ReferenceCohort) -> None:
    ours = reference_cohort.results["paired"]["sij_contralateral_mm"]["between_groups"]
    r = reference_cohort.r["sij_contralateral_mm"]["between_groups"]
    check(ours["hodges_lehmann"], r["hodges_lehmann"], HL, "sij.between.hodges_lehmann", reference_cohort)
    check(ours["mean_difference"], r["mean_difference"], MEAN, "sij.between.mean_difference", reference_cohort)


def test_the_demo_covers_exact_and_approximate_intervals_and_a_reduced_level(demo: ReferenceCohort) -> None:
    paired = demo.results["paired"]["sij_contralateral_mm"]
    assert paired["zone_iv"]["hodges_lehmann"]["method"] == "exact"
    assert paired["zone_iv"]["hodges_lehmann"]["conf_level"] == pytest.approx(0.75)  # n = 3: 1 − 2/2³
    vas = demo.results["repeated_measures"]["vas"]["pairwise"][0]["hodges_lehmann"]
    assert vas["method"] == "normal approximation" and vas["conf_level"] == pytest.approx(0.9)


# R 4.2.2: wilcox.test(c(1.5, 2.25, 3.75, 4.0, 5.5, 7.25, 8.0), rep(0, 7), paired = TRUE, conf.int = TRUE)
# → estimate 4.6875, conf.int 2.25 7.25, conf.level 0.95 (exact: no ties, no zeros)
def test_exact_paired_interval_is_the_walsh_average_order_statistics() -> None:
    effect = hodges_lehmann_paired([1.5, 2.25, 3.75, 4.0, 5.5, 7.25, 8.0], [0.0] * 7, 0.95)
    assert (effect.estimate, effect.ci_lower, effect.ci_upper, effect.conf_level) == (4.6875, 2.25, 7.25, 0.95)
    assert effect.method == "exact"


# R 4.2.2: wilcox.test(c(3, 1), c(2, 2), paired = TRUE, conf.int = TRUE): differences 1 and −1 (tied), no
# level can be reached: estimate 0, conf.int 0 0, conf.level 0 ("requested conf.level not achievable")
def test_two_opposite_pairs_give_the_zero_level_r_reports() -> None:
    effect = hodges_lehmann_paired([3.0, 1.0], [2.0, 2.0], 0.95)
    assert (effect.estimate, effect.ci_lower, effect.ci_upper, effect.conf_level) == (0.0, 0.0, 0.0, 0.0)


def test_no_pairs_or_all_zero_differences_give_no_effect() -> None:
    assert hodges_lehmann_paired([], [], 0.95).estimate is None
    assert hodges_lehmann_paired([2.0, 3.0], [2.0, 3.0], 0.95).estimate is None
    assert hodges_lehmann_two_sample([1.0], [], 0.95).estimate is None
