"""Two-sample and paired tests, each a thin wrapper on scipy that decides the method the way R does.

R's ``wilcox.test`` uses the exact distribution when n < 50 and there are no ties and no zero
differences, and otherwise the normal approximation with tie correction and continuity correction.
scipy's ``method="auto"`` decides differently (n ≤ 50; a permutation test for small samples with ties),
so the method is chosen here and passed to scipy explicitly.

``p_floor`` is the smallest two-sided p-value the test can give with these sample sizes (and, for the
normal approximation, these ties): the p of the most extreme possible outcome.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from analysis.results import RankSum, SignedRank
from analysis.warnings import WarningLog, library_warnings

EXACT_LIMIT = 50
EXACT = "exact"
NORMAL = "normal approximation with continuity correction"


def finite(value: object) -> float | None:
    """``value`` as a float, or None when it is missing, NaN or infinite."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _floats(values: ArrayLike) -> NDArray[np.float64]:
    return np.asarray(values, dtype=float)


def _exact_rule(size: str, n: int, ties: bool, zeros: bool | None) -> tuple[bool, str]:
    """R's rule: exact when n < 50 and there are no ties (and, for paired data, no zero differences)."""
    if zeros:
        return False, "zero differences present (dropped; R then uses the normal approximation)"
    if ties:
        return False, "tied values present (the exact distribution assumes none)"
    if n >= EXACT_LIMIT:
        return False, f"{size} = {n} ≥ {EXACT_LIMIT}"
    return True, f"{size} = {n} < {EXACT_LIMIT} with no ties" + ("" if zeros is None else " and no zero differences")


def signed_rank(later: ArrayLike, earlier: ArrayLike, log: WarningLog, scope: str) -> SignedRank:
    """Wilcoxon signed-rank test of ``later - earlier`` (R: ``wilcox.test(later, earlier, paired=TRUE)``)."""
    d = _floats(later) - _floats(earlier)
    nonzero = d[d != 0]
    n, n_zero = len(nonzero), len(d) - len(nonzero)
    if n == 0:
        log.add_not_computable(scope, "no non-zero paired differences")
        return SignedRank(None, None, 0, n_zero, "not computed", "no non-zero differences", None)
    ranks = stats.rankdata(np.abs(nonzero))
    ties = len(np.unique(ranks)) < n
    exact, reason = _exact_rule("n", n, ties, n_zero > 0)
    with library_warnings() as caught:
        result = stats.wilcoxon(nonzero, zero_method="wilcox", correction=True,
                                method="exact" if exact else "asymptotic")
    log.relay(scope, caught)
    return SignedRank(
        statistic=float(ranks[nonzero > 0].sum()),
        p=finite(result.pvalue),
        n=n,
        n_zero=n_zero,
        method=EXACT if exact else NORMAL,
        method_reason=reason,
        p_floor=_signed_rank_floor(ranks, exact),
    )


def _signed_rank_floor(ranks: NDArray[np.float64], exact: bool) -> float:
    n = len(ranks)
    if exact:
        return min(1.0, 2.0 / 2.0**n)
    _, counts = np.unique(ranks, return_counts=True)
    sigma = math.sqrt(n * (n + 1) * (2 * n + 1) / 24 - float(np.sum(counts**3 - counts)) / 48)
    return float(2 * stats.norm.sf((n * (n + 1) / 4 - 0.5) / sigma))


def rank_sum(x: ArrayLike, y: ArrayLike, log: WarningLog, scope: str) -> RankSum:
    """Wilcoxon rank-sum test (R: ``wilcox.test(x, y)``); the statistic is W, the U of ``x``."""
    xs, ys = _floats(x), _floats(y)
    if len(xs) == 0 or len(ys) == 0:
        log.add_not_computable(scope, "a group has no patients")
        return RankSum(None, None, "not computed", "a group is empty", None)
    ranks = stats.rankdata(np.concatenate([xs, ys]))
    ties = len(np.unique(ranks)) < len(ranks)
    exact, reason = _exact_rule("larger group n", max(len(xs), len(ys)), ties, None)
    with library_warnings() as caught:
        result = stats.mannwhitneyu(xs, ys, use_continuity=True, alternative="two-sided",
                                    method="exact" if exact else "asymptotic")
    log.relay(scope, caught)
    return RankSum(
        statistic=float(result.statistic),
        p=finite(result.pvalue),
        method=EXACT if exact else NORMAL,
        method_reason=reason,
        p_floor=_rank_sum_floor(len(xs), len(ys), ranks, exact),
    )


def _rank_sum_floor(n1: int, n2: int, ranks: NDArray[np.float64], exact: bool) -> float:
    if exact:
        return min(1.0, 2.0 / math.comb(n1 + n2, n1))
    n = n1 + n2
    _, counts = np.unique(ranks, return_counts=True)
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - float(np.sum(counts**3 - counts)) / (n * (n - 1))))
    return float(2 * stats.norm.sf((n1 * n2 / 2 - 0.5) / sigma))


@dataclass(frozen=True)
class TTest:
    t: float | None
    df: float | None
    p: float | None
    estimate: float | None
    ci_lower: float | None
    ci_upper: float | None


NO_TTEST = TTest(None, None, None, None, None, None)


def paired_t(later: ArrayLike, earlier: ArrayLike, confidence: float, log: WarningLog, scope: str) -> TTest:
    """Paired t-test of ``later - earlier`` (R: ``t.test(later, earlier, paired=TRUE)``)."""
    a, b = _floats(later), _floats(earlier)
    d = a - b
    if len(d) < 2 or np.all(d == d[0]):
        log.add_not_computable(scope, "paired t-test needs at least two pairs whose differences vary")
        return NO_TTEST
    with library_warnings() as caught:
        result = stats.ttest_rel(a, b)
        ci = result.confidence_interval(confidence)
    log.relay(scope, caught)
    return TTest(finite(result.statistic), finite(result.df), finite(result.pvalue), finite(np.mean(d)),
                 finite(ci.low), finite(ci.high))


def welch_t(x: ArrayLike, y: ArrayLike, confidence: float, log: WarningLog, scope: str) -> TTest:
    """Welch two-sample t-test (R: ``t.test(x, y)``, ``var.equal = FALSE``)."""
    xs, ys = _floats(x), _floats(y)
    if len(xs) < 2 or len(ys) < 2 or (np.ptp(xs) == 0 and np.ptp(ys) == 0):
        log.add_not_computable(scope, "Welch t-test needs two groups of at least two values that vary")
        return NO_TTEST
    with library_warnings() as caught:
        result = stats.ttest_ind(xs, ys, equal_var=False)
        ci = result.confidence_interval(confidence)
    log.relay(scope, caught)
    return TTest(finite(result.statistic), finite(result.df), finite(result.pvalue),
                 finite(np.mean(xs) - np.mean(ys)), finite(ci.low), finite(ci.high))
