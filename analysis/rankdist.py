"""Exact null distributions of the Wilcoxon statistics, with R's quantile rules.

``qsignrank`` and ``qwilcox`` pick the confidence limits of the exact Hodges–Lehmann intervals in R's
``wilcox.test(conf.int = TRUE)``. The rule for the quantile (the smallest q with P(V ≤ q) ≥ p, after
taking 10 machine epsilons off p, the probabilities added in order) is R's ``qsignrank`` / ``qwilcox``;
the counts are exact integers, so the results are R's.
"""

from __future__ import annotations

import math
import sys
from functools import cache

import numpy as np

EPS10 = 10 * sys.float_info.epsilon


@cache
def signrank_counts(n: int) -> tuple[int, ...]:
    """Number of subsets of {1, …, n} with each rank sum 0 … n(n + 1)/2 (R's ``csignrank``)."""
    counts = [1]
    for rank in range(1, n + 1):
        grown = counts + [0] * rank
        for total, ways in enumerate(counts):
            grown[total + rank] += ways
        counts = grown
    return tuple(counts)


@cache
def wilcox_counts(m: int, n: int) -> tuple[float, ...]:
    """Number of arrangements with each Mann–Whitney U = 0 … m·n (R's ``cwilcox``), as doubles like R's.

    U + m(m + 1)/2 is the sum of the first group's ranks: count the m-subsets of {1, …, m + n} by their sum.
    """
    top = sum(range(n + 1, m + n + 1))
    ways = np.zeros((m + 1, top + 1))
    ways[0, 0] = 1.0
    for item in range(1, m + n + 1):
        for j in range(min(m, item), 0, -1):
            ways[j, item:] += ways[j - 1, : top + 1 - item]
    low = m * (m + 1) // 2
    return tuple(float(v) for v in ways[m, low: low + m * n + 1])


def psignrank(q: float, n: int) -> float:
    """P(V ≤ q) for the signed-rank statistic of n non-zero differences (R ``psignrank``)."""
    x = math.floor(q + 1e-7)
    top = n * (n + 1) / 2
    if x < 0:
        return 0.0
    if x >= top:
        return 1.0
    counts, f = signrank_counts(n), math.exp(-n * math.log(2))
    p = 0.0
    if x <= top / 2:
        for i in range(int(x) + 1):
            p += counts[i] * f
        return p
    for i in range(int(top - x)):
        p += counts[i] * f
    return 0.5 - p + 0.5  # R: R_D_Lval for the upper tail


def qsignrank(p: float, n: int) -> int:
    """The p-quantile of the signed-rank statistic (R ``qsignrank(p, n)``)."""
    top = n * (n + 1) // 2
    if p <= 0:
        return 0
    if p >= 1:
        return top
    counts, f = signrank_counts(n), math.exp(-n * math.log(2))
    return _quantile(p, [c * f for c in counts], top)


def pwilcox(q: float, m: int, n: int) -> float:
    """P(W ≤ q) for the rank-sum statistic W (U of the first group) (R ``pwilcox``)."""
    x = math.floor(q + 1e-7)
    if x < 0:
        return 0.0
    if x >= m * n:
        return 1.0
    counts, c = wilcox_counts(m, n), float(math.comb(m + n, n))
    p = 0.0
    if x <= m * n / 2:
        for i in range(int(x) + 1):
            p += counts[i] / c
        return p
    for i in range(int(m * n - x)):
        p += counts[i] / c
    return 0.5 - p + 0.5  # R: R_D_Lval for the upper tail


def qwilcox(p: float, m: int, n: int) -> int:
    """The p-quantile of the rank-sum statistic (R ``qwilcox(p, m, n)``)."""
    if p <= 0:
        return 0
    if p >= 1:
        return m * n
    counts, c = wilcox_counts(m, n), float(math.comb(m + n, n))
    return _quantile(p, [k / c for k in counts], m * n)


def _quantile(p: float, probabilities: list[float], top: int) -> int:
    total, q = 0.0, 0
    if p <= 0.5:
        target = p - EPS10
        while True:
            total += probabilities[q]
            if total >= target:
                return q
            q += 1
    target = 1 - p + EPS10
    while True:
        total += probabilities[q]
        if total > target:
            return top - q
        q += 1
