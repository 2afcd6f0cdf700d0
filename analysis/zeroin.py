"""Brent's root finder as R's ``uniroot`` runs it, so estimates defined by a root agree with R to the last digit.

R's ``wilcox.test(conf.int = TRUE)`` finds the Hodges–Lehmann estimate and its confidence limits, in the
normal-approximation case, as roots of a step function with ``uniroot(tol = 1e-4)``. Any root finder lands
within the tolerance of the step, but a different one lands elsewhere inside it, so a figure agrees with R
only to about 1e-4. This is the algorithm R uses (Forsythe, Malcolm & Moler, *Computer Methods for
Mathematical Computations*, 1977, procedure ZEROIN, the Netlib C version that R's ``R_zeroin2`` is), step for
step: bisection combined with linear or inverse quadratic interpolation, starting from known f(a) and f(b).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

EPSILON = sys.float_info.epsilon
MAX_ITERATIONS = 1000  # R uniroot's default maxiter


class RootNotBracketed(ValueError):
    """f(lower) and f(upper) have the same sign: there is no sign change to find."""


def uniroot(f: Callable[[float], float], lower: float, upper: float, *, tol: float,
            f_lower: float | None = None, f_upper: float | None = None,
            max_iterations: int = MAX_ITERATIONS) -> float:
    """A root of ``f`` in [lower, upper], as R's ``uniroot(f, lower = , upper = , tol = )$root``."""
    fa = f(lower) if f_lower is None else f_lower
    fb = f(upper) if f_upper is None else f_upper
    if not lower < upper:
        raise ValueError("lower < upper is not fulfilled")
    if fa * fb > 0:
        raise RootNotBracketed("f() values at end points not of opposite sign")
    return _zeroin(f, (lower, upper), (fa, fb), tol=tol, max_iterations=max_iterations)


def _zeroin(f: Callable[[float], float], bounds: tuple[float, float], values: tuple[float, float], *, tol: float,
            max_iterations: int) -> float:
    a, b = bounds
    fa, fb = values
    c, fc = a, fa
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    for _ in range(max_iterations + 1):
        prev_step = b - a
        if abs(fc) < abs(fb):  # make b the best approximation so far
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * EPSILON * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0.0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):  # interpolation may be tried
            cb = c - b
            if a == c:  # two distinct points: linear interpolation
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:  # inverse quadratic interpolation
                q = fa / fc
                t1 = fb / fc
                t2 = fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b  # not converged: R warns and returns the last approximation too
