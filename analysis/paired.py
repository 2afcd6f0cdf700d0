"""Before/after comparisons: MSTS 93 (pre vs 3m) and the contralateral SIJ space (pre vs 6m) by zone IV.

Each uses the patients with both values; differences are after − before.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.descriptive import numeric_summary
from analysis.effects import hodges_lehmann_paired, hodges_lehmann_two_sample, mean_difference
from analysis.inference import TTest, paired_t, rank_sum, signed_rank, welch_t
from analysis.plan import AnalysisPlan
from analysis.results import GroupComparison, PairedComparison, RankSum, SignedRank, SijComparison
from analysis.warnings import PValueFloorWarning, SmallSampleWarning, WarningLog

WELCH = "Welch t"


def paired_comparison(table: pd.DataFrame, plan: AnalysisPlan, log: WarningLog, scope: str) -> PairedComparison:
    """``table``: one row per patient, columns (before, after). Paired t-test, signed-rank as sensitivity."""
    before, after = (str(c) for c in table.columns)
    both = table.dropna()
    pre, post = both[before].to_numpy(dtype=float), both[after].to_numpy(dtype=float)
    if len(both) < plan.min_n_for_test:
        log.add(SmallSampleWarning, scope,
                f"paired test on n = {len(both)} patients (fewer than {plan.min_n_for_test})")
    t = paired_t(post, pre, plan.confidence_level, log, scope)
    wilcoxon = signed_rank(post, pre, log, f"{scope}.wilcoxon") if len(both) else _no_signed_rank(log, scope)
    _floor_warning(wilcoxon.p_floor, wilcoxon.method, wilcoxon.n, plan, log=log, scope=f"{scope}.wilcoxon")
    s_pre, s_post = numeric_summary(pre, plan.quantile_type), numeric_summary(post, plan.quantile_type)
    return PairedComparison(
        before=before, after=after, n=len(both),
        mean_pre=s_pre.mean, sd_pre=s_pre.sd, mean_post=s_post.mean, sd_post=s_post.sd,
        mean_difference=t.estimate, ci_lower=t.ci_lower, ci_upper=t.ci_upper,
        t=t.t, df=None if t.df is None else round(t.df), p=t.p, wilcoxon=wilcoxon,
        hodges_lehmann=hodges_lehmann_paired(post, pre, plan.confidence_level),
    )


def _no_signed_rank(log: WarningLog, scope: str) -> SignedRank:
    log.add_not_computable(f"{scope}.wilcoxon", "no patient has both values")
    return SignedRank(None, None, 0, 0, "not computed", "no pairs", None)


def _floor_warning(floor: float | None, method: str, n: int, plan: AnalysisPlan, *, log: WarningLog,
                   scope: str) -> None:
    if floor is not None and floor >= plan.p_floor_threshold:
        log.add(PValueFloorWarning, scope, f"with n = {n} the rank test ({method}) cannot give p < {floor:.3g}")


def sij_comparison(table: pd.DataFrame, zone_iv: pd.Series, plan: AnalysisPlan, log: WarningLog,
                   scope: str) -> SijComparison:
    """Paired tests within the zone-IV and no-zone-IV groups, and the change compared between them."""
    flag = pd.to_numeric(zone_iv, errors="coerce").to_numpy()
    in_iv, no_iv = table[flag == 1], table[flag == 0]
    return SijComparison(
        zone_iv=paired_comparison(in_iv, plan, log, f"{scope}.zone_iv"),
        no_zone_iv=paired_comparison(no_iv, plan, log, f"{scope}.no_zone_iv"),
        between_groups=_between(_change(in_iv), _change(no_iv), plan, log, f"{scope}.between_groups"),
    )


def _change(table: pd.DataFrame) -> np.ndarray:
    both = table.dropna()
    return (both.iloc[:, 1] - both.iloc[:, 0]).to_numpy(dtype=float)


def _between(iv: np.ndarray, no_iv: np.ndarray, plan: AnalysisPlan, log: WarningLog, scope: str) -> GroupComparison:
    if len(iv) + len(no_iv) < plan.min_n_for_test:
        log.add(SmallSampleWarning, scope, f"between-group comparison on n = {len(iv)} + {len(no_iv)} patients "
                                           f"(fewer than {plan.min_n_for_test})")
    t: TTest = welch_t(iv, no_iv, plan.confidence_level, log, scope)
    ranks: RankSum = rank_sum(iv, no_iv, log, f"{scope}.rank_sum")
    _floor_warning(ranks.p_floor, ranks.method, len(iv) + len(no_iv), plan, log=log, scope=f"{scope}.rank_sum")
    s_iv, s_no = numeric_summary(iv, plan.quantile_type), numeric_summary(no_iv, plan.quantile_type)
    return GroupComparison(
        n_zone_iv=len(iv), n_no_zone_iv=len(no_iv),
        mean_change_zone_iv=s_iv.mean, sd_change_zone_iv=s_iv.sd,
        mean_change_no_zone_iv=s_no.mean, sd_change_no_zone_iv=s_no.sd,
        t=t.t, df=t.df, p=t.p, rank_sum=ranks,
        hodges_lehmann=hodges_lehmann_two_sample(iv, no_iv, plan.confidence_level),
        mean_difference=mean_difference(t.estimate, t.ci_lower, t.ci_upper, plan.confidence_level, WELCH),
    )
