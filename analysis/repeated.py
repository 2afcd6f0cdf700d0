"""Repeated measures of the plan's instruments: per-timepoint summaries, Friedman test and pairwise signed-rank tests.

Friedman and the pairwise tests use the complete cases (patients with a value at every timepoint), as
R's ``friedman.test`` on a matrix does; the per-timepoint summaries use every available value.
"""

from __future__ import annotations

from itertools import combinations

import pandas as pd
from scipy import stats

from analysis.descriptive import timepoint_summary
from analysis.effects import hodges_lehmann_paired, mean_difference
from analysis.inference import finite, paired_t, signed_rank
from analysis.plan import AnalysisPlan
from analysis.results import Effect, Friedman, PairwiseComparison, RepeatedMeasures
from analysis.warnings import (
    MissingDataWarning,
    PValueFloorWarning,
    SmallSampleWarning,
    WarningLog,
    library_warnings,
)

PAIRED_T = "paired t"


def repeated_measures(table: pd.DataFrame, plan: AnalysisPlan, log: WarningLog, scope: str) -> RepeatedMeasures:
    """``table``: one row per patient, one column per timepoint (see :func:`analysis.data.scores`)."""
    complete = table.dropna()
    dropped = int(table.notna().any(axis=1).sum()) - len(complete)
    if dropped:
        log.add(MissingDataWarning, scope, f"{dropped} patient(s) lack a value at some timepoint and are "
                                           "left out of the Friedman and pairwise tests (complete cases only)")
    if len(complete) < plan.min_n_for_test:
        log.add(SmallSampleWarning, scope, f"Friedman and pairwise tests on n = {len(complete)} complete cases "
                                           f"(fewer than {plan.min_n_for_test})")
    return RepeatedMeasures(
        timepoints={tp: timepoint_summary(table[tp], plan.quantile_type) for tp in table.columns},
        friedman=friedman(complete, log, f"{scope}.friedman"),
        pairwise=pairwise(complete, plan, log, f"{scope}.pairwise"),
    )


def friedman(complete: pd.DataFrame, log: WarningLog, scope: str) -> Friedman:
    """Friedman rank-sum test with R's tie correction (scipy ``friedmanchisquare`` applies the same)."""
    n, k = complete.shape
    if k < 3 or n < 2:
        log.add_not_computable(scope, f"Friedman test needs ≥ 3 timepoints and ≥ 2 complete cases (k = {k}, n = {n})")
        return Friedman(None, None, None, n)
    with library_warnings() as caught:
        result = stats.friedmanchisquare(*(complete[c].to_numpy(dtype=float) for c in complete.columns))
    log.relay(scope, caught)
    statistic = finite(result.statistic)
    if statistic is None:
        log.add_not_computable(scope, "Friedman statistic undefined: every patient has the same value throughout")
    return Friedman(statistic, k - 1, finite(result.pvalue) if statistic is not None else None, n)


def pairwise(complete: pd.DataFrame, plan: AnalysisPlan, log: WarningLog, scope: str) -> list[PairwiseComparison]:
    """Signed-rank test for every pair of timepoints (later − earlier), Bonferroni-adjusted (R ``p.adjust``)."""
    pairs = list(combinations(complete.columns, 2))
    tests = [signed_rank(complete[b], complete[a], log, f"{scope}.{a}-{b}") for a, b in pairs]
    m = sum(t.p is not None for t in tests)  # R's p.adjust counts the non-missing p-values
    out = [
        PairwiseComparison(**vars(t), a=str(a), b=str(b),
                           p_adjusted=None if t.p is None else min(1.0, t.p * m),
                           p_adjusted_floor=None if t.p_floor is None else min(1.0, t.p_floor * m),
                           hodges_lehmann=hodges_lehmann_paired(complete[b], complete[a], plan.confidence_level),
                           mean_difference=_mean_difference(complete[b], complete[a], plan, log, f"{scope}.{a}-{b}"))
        for (a, b), t in zip(pairs, tests, strict=True)
    ]
    _floor_warning(out, m, plan, log, scope)
    return out


def _mean_difference(later: pd.Series, earlier: pd.Series, plan: AnalysisPlan, log: WarningLog,
                     scope: str) -> Effect:
    t = paired_t(later.to_numpy(dtype=float), earlier.to_numpy(dtype=float), plan.confidence_level, log,
                 f"{scope}.mean_difference")
    return mean_difference(t.estimate, t.ci_lower, t.ci_upper, plan.confidence_level, PAIRED_T)


def _floor_warning(tests: list[PairwiseComparison], m: int, plan: AnalysisPlan, log: WarningLog, scope: str) -> None:
    floored = [t for t in tests if t.p_floor is not None and t.p_adjusted_floor is not None]
    if not floored:
        return
    best = min(floored, key=lambda t: (t.p_adjusted_floor, t.p_floor))
    assert best.p_floor is not None and best.p_adjusted_floor is not None
    if best.p_adjusted_floor < plan.p_floor_threshold:
        return
    verdict = (f"no comparison can reach significance at alpha = {plan.alpha:g}"
               if best.p_adjusted_floor >= plan.alpha else f"p < {plan.p_floor_threshold:g} is impossible")
    log.add(PValueFloorWarning, scope,
            f"with at most n = {best.n} non-zero differences the signed-rank test ({best.method}) cannot give "
            f"p < {best.p_floor:.3g}; after Bonferroni for {m} comparisons no adjusted p can fall below "
            f"{best.p_adjusted_floor:.3g}: {verdict}")
