"""MSTS 93 and SIJ comparisons against R's t.test and wilcox.test.

Expected values: tests/reference/make_reference.R → reference_<cohort>.json, ``msts93`` and
``sij_contralateral_mm`` (differences are after − before: t.test(after, before, paired = TRUE)).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import stats

from analysis import Subgroups, plan_from_study
from analysis.data import scores
from analysis.paired import subgroup_comparison
from analysis.warnings import WarningLog
from config.study import load_study
from tests.analysis.conftest import ReferenceCohort, assert_matches_r

FIELDS = ("mean_pre", "sd_pre", "mean_post", "sd_post", "t", "df", "p", "mean_difference", "ci_lower", "ci_upper")


def check_paired(ours: dict[str, Any], r: dict[str, Any], where: str, cohort: ReferenceCohort) -> None:
    assert ours["n"] == r["n"]
    assert_matches_r([ours[f] for f in FIELDS], [r[f] for f in FIELDS], where, cohort)
    w, rw = ours["wilcoxon"], r["wilcoxon"]
    assert ("exact" in rw["method"]) == (w["method"] == "exact"), f"{where}: R used {rw['method']}"
    assert_matches_r([w["statistic"], w["p"]], [rw["statistic"], rw["p"]], f"{where}.wilcoxon", cohort)


def test_msts93_paired_t_and_wilcoxon_match_r(reference_cohort: ReferenceCohort) -> None:
    check_paired(reference_cohort.results["paired"]["msts93"], reference_cohort.r["msts93"], "msts93",
                 reference_cohort)


@pytest.mark.parametrize("group", ["zone_iv", "no_zone_iv"])
def test_sij_paired_tests_by_zone_iv_match_r(reference_cohort: ReferenceCohort, group: str) -> None:
    check_paired(reference_cohort.results["paired"]["sij_contralateral_mm"][group],
                 reference_cohort.r["sij_contralateral_mm"][group], f"sij.{group}", reference_cohort)


def test_sij_change_between_groups_matches_r(reference_cohort: ReferenceCohort) -> None:
    ours = reference_cohort.results["paired"]["sij_contralateral_mm"]["between_groups"]
    r = reference_cohort.r["sij_contralateral_mm"]["between_groups"]  # R t.test(x, y); wilcox.test(x, y)
    assert_matches_r([ours["t"], ours["df"], ours["p"]], [r["t"], r["df"], r["p"]], "sij.welch", reference_cohort)
    rank_sum = ours["rank_sum"]
    assert ("exact" in r["mann_whitney_method"]) == (rank_sum["method"] == "exact")
    assert_matches_r([rank_sum["statistic"], rank_sum["p"]], [r["mann_whitney_statistic"], r["mann_whitney_p"]],
                     "sij.rank_sum", reference_cohort)


def test_small_cohort_uses_exact_tests_where_r_does(small: ReferenceCohort) -> None:
    sij = small.results["paired"]["sij_contralateral_mm"]
    assert sij["zone_iv"]["wilcoxon"]["method"] == "exact"
    assert sij["between_groups"]["rank_sum"]["method"] == "exact"
    assert sij["between_groups"]["rank_sum"]["p_floor"] == pytest.approx(2 / 35)  # 2 / choose(7, 3)


def test_a_categorical_fact_splits_by_its_two_levels(generated: ReferenceCohort) -> None:
    """``by`` a categorical fact: its two levels are the subgroups, the first level's changes against the second's."""
    patients, measures = generated.patients, generated.measures
    table = scores(measures, "sij_contralateral_mm", ("pre", "6m"), patients["study_id"])
    by = Subgroups.of_levels("tumor_category", ("secondary", "primary"))
    result = subgroup_comparison(table, patients["tumor_category"], by, plan_from_study(load_study()),
                                 log=WarningLog(), scope="x")
    change = (table["6m"] - table["pre"]).to_numpy()
    groups = {level: change[(patients["tumor_category"] == level).to_numpy()] for level in ("secondary", "primary")}
    groups = {level: values[~np.isnan(values)] for level, values in groups.items()}
    between = result.between_groups
    assert list(result.groups) == between.groups == ["secondary", "primary"]
    assert between.n == {level: len(values) for level, values in groups.items()}
    welch = stats.ttest_ind(groups["secondary"], groups["primary"], equal_var=False)
    assert between.t == pytest.approx(welch.statistic) and between.p == pytest.approx(welch.pvalue)
    assert between.mean_change["primary"] == pytest.approx(groups["primary"].mean())
