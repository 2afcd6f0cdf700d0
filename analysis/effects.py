"""Effect sizes with confidence intervals: the Hodges–Lehmann estimate and the mean difference.

The Hodges–Lehmann estimate and interval are R's ``wilcox.test(..., conf.int = TRUE)`` with its defaults,
followed step by step (R 4.2 ``stats:::wilcox.test.default``):

- **exact** (no ties, no zero differences, n < 50; two samples: both n < 50 and no ties): the median of the
  Walsh averages (paired) or of the pairwise differences (two samples), the limits at the order statistics
  given by ``qsignrank`` / ``qwilcox``. With few patients the nominal level cannot be reached; R then
  widens to the achieved level (``1 − signif(achieved α, 2)`` paired, ``1 − achieved α`` two samples) and
  so do we: ``conf_level`` says which level the interval has.
- **normal approximation** otherwise: the limits are the roots of the standardised statistic (tie- and
  continuity-corrected) as a function of the shift, the estimate the root of the uncorrected statistic,
  each found by R's ``uniroot(tol = 1e-4)`` (:mod:`analysis.zeroin`). R doubles α until the interval
  exists and then reports the lower level.

Differences are later − earlier (paired) and first − second group (two samples).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from analysis.inference import finite
from analysis.rankdist import psignrank, pwilcox, qsignrank, qwilcox
from analysis.results import NO_EFFECT, Effect
from analysis.zeroin import uniroot

TOL_ROOT = 1e-4  # R wilcox.test's tol.root
EXACT_LIMIT = 50
EXACT = "exact"
NORMAL = "normal approximation"


def _floats(values: ArrayLike) -> NDArray[np.float64]:
    return np.asarray(values, dtype=float)


def _r_median(values: NDArray[np.float64]) -> float:
    return float(np.median(values))


def _signif(value: float, digits: int) -> float:
    """R's ``signif``."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def mean_difference(t_estimate: float | None, ci_lower: float | None, ci_upper: float | None,
                    conf_level: float, method: str) -> Effect:
    """A t-test's mean difference and interval as an :class:`Effect` (``NO_EFFECT`` when not computed)."""
    if t_estimate is None:
        return NO_EFFECT
    return Effect(t_estimate, ci_lower, ci_upper, conf_level, method)


def hodges_lehmann_paired(later: ArrayLike, earlier: ArrayLike, conf_level: float) -> Effect:
    """R: ``wilcox.test(later, earlier, paired = TRUE, conf.int = TRUE, conf.level = conf_level)``."""
    d = _floats(later) - _floats(earlier)
    d = d[~np.isnan(d)]
    x = d[d != 0]
    n = len(x)
    if n == 0:
        return NO_EFFECT
    ranks = stats.rankdata(np.abs(x))
    ties = len(np.unique(ranks)) != n
    if n < EXACT_LIMIT and not ties and len(x) == len(d):
        return _paired_exact(x, conf_level)
    return _paired_normal(x, conf_level)


def _paired_exact(x: NDArray[np.float64], conf_level: float) -> Effect:
    n = len(x)
    alpha = 1 - conf_level
    upper = np.triu_indices(n)
    walsh = np.sort(np.add.outer(x, x)[upper]) / 2
    qu = qsignrank(alpha / 2, n) or 1
    ql = n * (n + 1) // 2 - qu
    achieved = 2 * psignrank(qu - 1, n)
    level = 1 - _signif(achieved, 2) if achieved - alpha > alpha / 2 else conf_level
    return Effect(_r_median(walsh), float(walsh[qu - 1]), float(walsh[ql]), level, EXACT)


def _signed_rank_z(x: NDArray[np.float64], correct: bool) -> Callable[[float], float]:
    def z(shift: float) -> float:
        xd = x - shift
        xd = xd[xd != 0]
        nx = len(xd)
        ranks = stats.rankdata(np.abs(xd))
        zd = float(ranks[xd > 0].sum()) - nx * (nx + 1) / 4
        _, ties = np.unique(ranks, return_counts=True)
        sigma = math.sqrt(nx * (nx + 1) * (2 * nx + 1) / 24 - float(np.sum(ties**3 - ties)) / 48)
        correction = float(np.sign(zd)) * 0.5 if correct else 0.0
        return (zd - correction) / sigma if sigma > 0 else math.nan
    return z


def _paired_normal(x: NDArray[np.float64], conf_level: float) -> Effect:
    low, high = float(x.min()), float(x.max())
    w = _signed_rank_z(x, correct=True)
    w_low = w(low)
    w_high = w(high) if math.isfinite(w_low) else math.nan
    if not (math.isfinite(w_low) and math.isfinite(w_high)):
        return Effect(finite((low + high) / 2), None, None, 0.0, NORMAL)  # R: midrange, no interval (level 0)
    alpha = 1 - conf_level
    while w_low - stats.norm.isf(alpha / 2) < 0 or w_high - stats.norm.ppf(alpha / 2) > 0:
        alpha *= 2
    level = 1 - min(1.0, alpha) if (alpha >= 1 or 1 - conf_level < alpha * 0.75) else conf_level
    if alpha < 1:
        lower = _root(w, low, high, w_low=w_low, w_high=w_high, zq=float(stats.norm.isf(alpha / 2)))
        upper = _root(w, low, high, w_low=w_low, w_high=w_high, zq=float(stats.norm.ppf(alpha / 2)))
    else:
        lower = upper = _r_median(x)
    estimate = uniroot(_signed_rank_z(x, correct=False), low, high, tol=TOL_ROOT)
    return Effect(finite(estimate), finite(lower), finite(upper), level, NORMAL)


def _root(w: Callable[[float], float], low: float, high: float, *, w_low: float, w_high: float, zq: float) -> float:
    return uniroot(lambda d: w(d) - zq, low, high, tol=TOL_ROOT, f_lower=w_low - zq, f_upper=w_high - zq)


def hodges_lehmann_two_sample(x: ArrayLike, y: ArrayLike, conf_level: float) -> Effect:
    """R: ``wilcox.test(x, y, conf.int = TRUE, conf.level = conf_level)``: the shift of x relative to y."""
    xs, ys = _floats(x), _floats(y)
    xs, ys = xs[~np.isnan(xs)], ys[~np.isnan(ys)]
    if len(xs) == 0 or len(ys) == 0:
        return NO_EFFECT
    ranks = stats.rankdata(np.concatenate([xs, ys]))
    ties = len(np.unique(ranks)) != len(ranks)
    if len(xs) < EXACT_LIMIT and len(ys) < EXACT_LIMIT and not ties:
        return _two_sample_exact(xs, ys, conf_level)
    return _two_sample_normal(xs, ys, conf_level)


def _two_sample_exact(x: NDArray[np.float64], y: NDArray[np.float64], conf_level: float) -> Effect:
    m, n = len(x), len(y)
    alpha = 1 - conf_level
    diffs = np.sort(np.subtract.outer(x, y).ravel())
    qu = qwilcox(alpha / 2, m, n) or 1
    ql = m * n - qu
    achieved = 2 * pwilcox(qu - 1, m, n)
    level = 1 - achieved if achieved - alpha > alpha / 2 else conf_level
    return Effect(_r_median(diffs), float(diffs[qu - 1]), float(diffs[ql]), level, EXACT)


def _rank_sum_z(x: NDArray[np.float64], y: NDArray[np.float64], correct: bool) -> Callable[[float], float]:
    m, n = len(x), len(y)

    def z(shift: float) -> float:
        ranks = stats.rankdata(np.concatenate([x - shift, y]))
        _, ties = np.unique(ranks, return_counts=True)
        dz = float(ranks[:m].sum()) - m * (m + 1) / 2 - m * n / 2
        correction = float(np.sign(dz)) * 0.5 if correct else 0.0
        sigma = math.sqrt((m * n / 12) * ((m + n + 1) - float(np.sum(ties**3 - ties)) / ((m + n) * (m + n - 1))))
        return (dz - correction) / sigma if sigma > 0 else math.nan
    return z


def _two_sample_normal(x: NDArray[np.float64], y: NDArray[np.float64], conf_level: float) -> Effect:
    low, high = float(x.min() - y.max()), float(x.max() - y.min())
    if not low < high:
        return Effect(None, None, None, None, NORMAL)
    alpha = 1 - conf_level
    w = _rank_sum_z(x, y, correct=True)
    w_low, w_high = w(low), w(high)

    def root(zq: float) -> float:
        if w_low - zq <= 0:
            return low
        if w_high - zq >= 0:
            return high
        return _root(w, low, high, w_low=w_low, w_high=w_high, zq=zq)

    lower, upper = root(float(stats.norm.isf(alpha / 2))), root(float(stats.norm.ppf(alpha / 2)))
    estimate = uniroot(_rank_sum_z(x, y, correct=False), low, high, tol=TOL_ROOT)
    return Effect(finite(estimate), finite(lower), finite(upper), conf_level, NORMAL)
