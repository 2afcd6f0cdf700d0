"""The pieces behind R-exact Hodges–Lehmann intervals: Wilcoxon distributions with R's quantile rule and
Brent's root finder as R's uniroot runs it. Expected values from R 4.2.2, written next to each assert."""

from __future__ import annotations

import math

import pytest

from analysis.rankdist import psignrank, pwilcox, qsignrank, qwilcox
from analysis.zeroin import RootNotBracketed, uniroot


@pytest.mark.parametrize(("n", "expected"), [
    (1, [0, 0, 0, 0, 1]), (3, [0, 0, 0, 3, 6]), (7, [1, 3, 4, 14, 25]), (10, [6, 9, 11, 27, 46]),
    (20, [46, 53, 61, 105, 157]),
])
def test_qsignrank_is_rs(n: int, expected: list[int]) -> None:
    # R: qsignrank(c(0.0125, 0.025, 0.05, 0.5, 0.975), n)
    assert [qsignrank(p, n) for p in (0.0125, 0.025, 0.05, 0.5, 0.975)] == expected


@pytest.mark.parametrize(("m", "n", "expected"), [
    (3, 4, [0, 0, 1, 6, 12]), (5, 5, [2, 3, 5, 12, 22]), (7, 2, [0, 0, 1, 7, 14]), (10, 12, [27, 30, 35, 60, 90]),
])
def test_qwilcox_is_rs(m: int, n: int, expected: list[int]) -> None:
    # R: qwilcox(c(0.0125, 0.025, 0.05, 0.5, 0.975), m, n)
    assert [qwilcox(p, m, n) for p in (0.0125, 0.025, 0.05, 0.5, 0.975)] == expected


def test_distribution_functions_are_rs() -> None:
    # R: psignrank(3, 7) = 0.0390625; psignrank(3, 20) = 4.768372e-06; pwilcox(3, 5, 5) = 0.02777778
    assert psignrank(3, 7) == pytest.approx(0.0390625, rel=1e-12)
    assert psignrank(3, 20) == pytest.approx(2**-20 * 5, rel=1e-12)
    assert pwilcox(3, 5, 5) == pytest.approx(7 / 252, rel=1e-12)
    assert psignrank(27, 7) == pytest.approx(1 - psignrank(0, 7), rel=1e-12)


def test_uniroot_takes_the_same_steps_as_rs() -> None:
    # R: print(uniroot(function(x) x^2 - 2, c(0, 2), tol = 1e-4)$root, digits = 17) → 1.4142133199955025
    root = uniroot(lambda x: x * x - 2, 0.0, 2.0, tol=1e-4)
    assert root == 1.4142133199955025
    assert abs(root - math.sqrt(2)) < 1e-4


def test_uniroot_refuses_an_interval_without_a_sign_change() -> None:
    with pytest.raises(RootNotBracketed):
        uniroot(lambda x: x * x + 1, 0.0, 2.0, tol=1e-4)
