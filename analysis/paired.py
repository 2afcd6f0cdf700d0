"""Before/after comparisons of the plan (``paired.<name>``): a paired t-test with the signed-rank test as
sensitivity analysis on every patient, and/or within the two subgroups of a fact with the change compared
between them (Welch t and rank-sum).

Each uses the patients with both values; differences are after − before.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.data import scores
from analysis.descriptive import numeric_summary
from analysis.effects import hodges_lehmann_paired, hodges_lehmann_two_sample, mean_difference
from analysis.inference import TTest, paired_t, rank_sum, signed_rank, welch_t
from analysis.plan import AnalysisPlan, Paired, Subgroups
from analysis.results import GroupComparison, PairedComparison, RankSum, SignedRank, SubgroupComparison
from analysis.warnings import PValueFloorWarning, SmallSampleWarning, WarningLog

WELCH = "Welch t"


def paired_analysis(measures: pd.DataFrame, patients: pd.DataFrame, spec: Paired, plan: AnalysisPlan,
                    log: WarningLog) -> PairedComparison | SubgroupComparison:
    """The comparison ``spec`` on the patients (cohort.csv layout) and their measures (measures.csv layout)."""
    scope = f"paired.{spec.name}"
    table = scores(measures, spec.instrument, spec.timepoints, patients["study_id"])
    if spec.by is None:
        return paired_comparison(table, plan, log, scope)
    return subgroup_comparison(table, patients[spec.by.fact], spec.by, plan, log=log, scope=scope,
                               overall=spec.overall)


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


def subgroup_comparison(table: pd.DataFrame, values: pd.Series, by: Subgroups, plan: AnalysisPlan, *,
                        log: WarningLog, scope: str, overall: bool = False) -> SubgroupComparison:
    """Paired tests within the two subgroups of ``values`` (the fact ``by``), and the change compared between
    them; with ``overall`` the paired test on every patient too. A patient whose fact is missing or another
    level is in neither subgroup."""
    first, second = (table[_selects(values, by, group.value)] for group in by.groups)
    return SubgroupComparison(
        overall=paired_comparison(table, plan, log, f"{scope}.overall") if overall else None,
        groups={group.name: paired_comparison(part, plan, log, f"{scope}.{group.name}")
                for group, part in zip(by.groups, (first, second), strict=True)},
        between_groups=_between(by.names, _change(first), _change(second), plan, log=log,
                                scope=f"{scope}.between_groups"),
    )


def _selects(values: pd.Series, by: Subgroups, value: str) -> np.ndarray:
    if by.flag:
        return (pd.to_numeric(values, errors="coerce") == float(value)).to_numpy()
    return (values.astype("string") == value).fillna(False).to_numpy(dtype=bool)


def _change(table: pd.DataFrame) -> np.ndarray:
    both = table.dropna()
    return (both.iloc[:, 1] - both.iloc[:, 0]).to_numpy(dtype=float)


def _between(names: tuple[str, str], x: np.ndarray, y: np.ndarray, plan: AnalysisPlan, *, log: WarningLog,
             scope: str) -> GroupComparison:
    """The changes ``x`` of the first subgroup against ``y`` of the second."""
    if len(x) + len(y) < plan.min_n_for_test:
        log.add(SmallSampleWarning, scope, f"between-group comparison on n = {len(x)} + {len(y)} patients "
                                           f"(fewer than {plan.min_n_for_test})")
    t: TTest = welch_t(x, y, plan.confidence_level, log, scope)
    ranks: RankSum = rank_sum(x, y, log, f"{scope}.rank_sum")
    _floor_warning(ranks.p_floor, ranks.method, len(x) + len(y), plan, log=log, scope=f"{scope}.rank_sum")
    changes = dict(zip(names, (x, y), strict=True))
    summaries = {name: numeric_summary(change, plan.quantile_type) for name, change in changes.items()}
    return GroupComparison(
        groups=list(names),
        n={name: len(change) for name, change in changes.items()},
        mean_change={name: s.mean for name, s in summaries.items()},
        sd_change={name: s.sd for name, s in summaries.items()},
        t=t.t, df=t.df, p=t.p, rank_sum=ranks,
        hodges_lehmann=hodges_lehmann_two_sample(x, y, plan.confidence_level),
        mean_difference=mean_difference(t.estimate, t.ci_lower, t.ci_upper, plan.confidence_level, WELCH),
    )
