"""How numbers are printed in the report: one rule per kind of figure, used everywhere.

Missing figures (``None``, NaN, infinite) print as an em dash; the caller adds the reason.

==================  ==========================  ===================
figure              rule                        example
==================  ==========================  ===================
median, IQR         the measure's decimals      ``7.0 (6.0–8.5)``, ``60 (40–60)`` (a 0–100 score)
mean ± SD           one decimal more            ``11.0 ± 4.1``, ``7.07 ± 1.46`` (a 0–10 scale)
percent, CI         1 decimal                   ``57.1% (18.4 to 90.1)``
months              1 decimal                   ``10.6``
test statistic      2 decimals                  ``17.78``
rank statistic      integer if whole            ``V = 28``, ``V = 5.5``
degrees of freedom  integer if whole            ``3``
p-value             3 decimals, floor 0.001     ``0.024``, ``< 0.001``
hazard ratio, CI    2 decimals                  ``3.19 (0.29 to 35.46)``
difference, CI      one decimal more            ``−0.63 (−0.92 to −0.35)``
==================  ==========================  ===================

A range (IQR, min–max) uses an en dash, or "to" when a bound is negative; a confidence interval always
uses "to" (one CI style in the whole report: ``0.02 to 1.45``). A measure's decimals are those of its
values (:func:`decimals_of`): a score in steps of 10 prints ``60``, a scale in half points ``7.5``; a median or
quartile that needs one more decimal than that (``42.5``) gets it.
"""

from __future__ import annotations

import math
from typing import Any

MISSING = "—"
MINUS = "−"  # U+2212, the typographic minus
DASH = "–"  # U+2013, for ranges
P_FLOOR = 0.001


def as_float(value: Any) -> float | None:
    """A finite float, or None for anything that is not a finite number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def number(value: Any, digits: int = 1) -> str:
    """A number with a fixed count of decimals and a true minus sign."""
    x = as_float(value)
    if x is None:
        return MISSING
    text = f"{x:.{digits}f}"
    if text.startswith("-"):
        text = MINUS + text[1:] if float(text) != 0 else text[1:]
    return text


def integer(value: Any) -> str:
    x = as_float(value)
    return MISSING if x is None else str(round(x))


def df(value: Any) -> str:
    """Degrees of freedom: an integer when whole (Friedman, paired t), else 2 decimals (Welch)."""
    x = as_float(value)
    if x is None:
        return MISSING
    return str(round(x)) if abs(x - round(x)) < 1e-9 else number(x, 2)


def pvalue(value: Any) -> str:
    x = as_float(value)
    if x is None:
        return MISSING
    return f"< {P_FLOOR:.3f}" if x < P_FLOOR else f"{x:.3f}"


def p_equation(value: Any) -> str:
    """``p = 0.024`` or ``p < 0.001``."""
    text = pvalue(value)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def statistic(value: Any) -> str:
    return number(value, 2)


def months(value: Any) -> str:
    return number(value, 1)


def interval(low: Any, high: Any, digits: int) -> str:
    """``6.0–8.5``; ``−0.92 to −0.35`` when a bound is negative (a dash next to a minus misreads)."""
    lo, hi = as_float(low), as_float(high)
    if lo is None or hi is None:
        return MISSING
    joiner = " to " if min(lo, hi) < 0 and number(min(lo, hi), digits).startswith(MINUS) else DASH
    return f"{number(lo, digits)}{joiner}{number(hi, digits)}"


def ci(low: Any, high: Any, digits: int) -> str:
    """A confidence interval: ``0.02 to 1.45`` (the report's one CI style); a missing bound prints as such."""
    lo, hi = as_float(low), as_float(high)
    if lo is None and hi is None:
        return MISSING
    return f"{number(lo, digits)} to {number(hi, digits)}"


def exact(value: Any, digits: int, extra: int = 1) -> str:
    """``value`` with ``digits`` decimals, or up to ``extra`` more when fewer would change it (42.5, not 42)."""
    x = as_float(value)
    if x is None:
        return MISSING
    for places in range(digits, digits + extra + 1):
        if abs(round(x, places) - x) < 1e-9:
            return number(x, places)
    return number(x, digits + extra)


def median_iqr(median: Any, q1: Any, q3: Any, digits: int = 1) -> str:
    """``7.0 (6.0–8.5)``; with ``digits`` 0 ``60 (40–60)``, one more decimal where a value needs it."""
    if as_float(median) is None:
        return MISSING
    lo, hi = as_float(q1), as_float(q3)
    joiner = " to " if lo is not None and lo < 0 else DASH
    quartiles = MISSING if lo is None or hi is None else f"{exact(lo, digits)}{joiner}{exact(hi, digits)}"
    return f"{exact(median, digits)} ({quartiles})"


def mean_sd(mean: Any, sd: Any, digits: int = 2) -> str:
    if as_float(mean) is None:
        return MISSING
    return f"{number(mean, digits)} ± {number(sd, digits)}"


def rank_statistic(value: Any) -> str:
    """A rank-sum or signed-rank statistic (R's V, W): whole in most cases, ``28``; ``5.5`` with ties."""
    return exact(value, 0, 1)


def percent(value: Any) -> str:
    text = number(value, 1)
    return text if text == MISSING else f"{text}%"


def percent_ci(value: Any, low: Any, high: Any) -> str:
    if as_float(value) is None:
        return MISSING
    return f"{percent(value)} ({ci(low, high, 1)})"


def estimate_ci(value: Any, low: Any, high: Any, digits: int) -> str:
    """``12.9 (8.9 to 16.8)``; the estimate alone when the interval is missing."""
    if as_float(value) is None:
        return MISSING
    interval_text = ci(low, high, digits)
    return number(value, digits) if interval_text == MISSING else f"{number(value, digits)} ({interval_text})"


def decimals_of(values: Any, cap: int = 2) -> int:
    """The decimals a measure is recorded with: 0 for a score in tens, 1 for half points (at most ``cap``)."""
    digits = 0
    for value in values:
        x = as_float(value)
        if x is None:
            continue
        while digits < cap and abs(round(x, digits) - x) > 1e-9:
            digits += 1
    return digits


def ci_percent(percent_value: Any, low: Any, high: Any, n: Any) -> tuple[float | None, float | None]:
    """A proportion's CI on the percent scale, whether results.json gives it in percent or as a proportion.

    The point estimate ``percent_value`` is in percent. A positive estimate lies inside a percent-scale CI
    but above a proportion-scale upper bound; for 0 events the upper bound is compared with the exact
    Clopper–Pearson value 1 − 0.025^(1/n) on both scales.
    """
    p, lo, hi, count = as_float(percent_value), as_float(low), as_float(high), as_float(n)
    if lo is None or hi is None:
        return None, None
    if p is None or hi > 1.0:
        return lo, hi
    if p > 0:
        proportion = hi < p
    else:
        exact = 1.0 - 0.025 ** (1.0 / count) if count and count > 0 else hi
        proportion = abs(hi - exact) <= abs(hi - 100 * exact)
    return (100 * lo, 100 * hi) if proportion else (lo, hi)


def hazard_ratio(hr: Any, low: Any, high: Any) -> str:
    if as_float(hr) is None:
        return MISSING
    return f"{number(hr, 2)} ({ci(low, high, 2)})"


def quantile_rule(quantile_type: int) -> str:
    """Name the Hyndman–Fan sample-quantile definition in words a statistician recognises."""
    names = {
        1: "inverse of the empirical distribution function",
        2: "inverse of the empirical distribution function with averaging at discontinuities",
        3: "nearest even order statistic (SAS definition 2)",
        4: "linear interpolation of the empirical distribution function",
        5: "piecewise linear, midway between steps",
        6: "linear, p(k) = k / (n + 1) (Minitab, SPSS)",
        7: "linear, p(k) = (k − 1) / (n − 1); the default of R and NumPy",
        8: "linear, median-unbiased, p(k) = (k − 1/3) / (n + 1/3)",
        9: "linear, approximately unbiased under normality, p(k) = (k − 3/8) / (n + 1/4)",
    }
    return f"R type {quantile_type}: {names.get(quantile_type, 'unknown rule')}"
