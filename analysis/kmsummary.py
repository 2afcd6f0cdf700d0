"""Reading a fitted Kaplan–Meier curve the way R's survival package prints it.

- :func:`findq` is ``survival:::findq`` (3.5): the time a curve 1 − S(t) first reaches p, the midpoint of a
  stretch where it equals p (within √ε), to the last time when it stays there; applied to S(t) it gives the
  median, to the lower and upper confidence curves the limits of the median's CI (``quantile(fit)``,
  ``summary(fit)$table``). Confidence limits undefined at S(t) = 0 are missing, as in R.
- :func:`landmarks` is ``summary(fit, times = months)`` with R's default ``extend = FALSE``: no estimate past
  the last follow-up time. :func:`risk_table` is ``summary(fit, times = 0, step, …, extend = TRUE)``.

The curves come from lifelines (the log-log interval, R's ``conf.type = "log-log"``); nothing here refits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from numpy.typing import NDArray

from analysis.inference import finite
from analysis.results import AtRisk, Landmark

TOLERANCE = math.sqrt(np.finfo(float).eps)


@dataclass(frozen=True)
class Curve:
    """The fitted step functions at 0 and every observed time: S(t), its lower and upper limits (NaN = NA)."""

    times: NDArray[np.float64]
    survival: NDArray[np.float64]
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]


def curve(kmf: KaplanMeierFitter) -> Curve:
    survival = kmf.survival_function_.iloc[:, 0].to_numpy(dtype=float)
    lower = kmf.confidence_interval_.iloc[:, 0].to_numpy(dtype=float).copy()
    upper = kmf.confidence_interval_.iloc[:, 1].to_numpy(dtype=float).copy()
    times = kmf.survival_function_.index.to_numpy(dtype=float)
    # R: NA where the log-log transform is undefined, S(t) = 0 or S(t) = 1 at an observed time; (1, 1) only
    # at the origin that survfit0 adds before the first observation.
    undefined = (survival <= 0) | (survival >= 1)
    lower[undefined], upper[undefined] = np.nan, np.nan
    removed = kmf.event_table["removed"]
    if len(times) and times[0] == 0 and not (0.0 in removed.index and removed.loc[0.0] > 0):
        lower[0], upper[0] = 1.0, 1.0
    return Curve(times, survival, lower, upper)


def _approx_right(knots: NDArray[np.float64], p: float) -> int | None:
    """R ``approx(knots, seq_along(knots), p, method = "constant", f = 1)$y`` (1-based), None outside."""
    if len(knots) == 0 or p < knots[0] or p > knots[-1]:
        return None
    j = int(np.searchsorted(knots, p, side="left"))  # first knot ≥ p
    return j + 1


def findq(times: NDArray[np.float64], failure: NDArray[np.float64], p: float, tol: float = TOLERANCE) -> float | None:
    """``survival:::findq(c(0, times), c(0, failure), p, tol)``: when the failure curve 1 − S reaches p."""
    x = np.concatenate([[0.0], times])
    y = np.concatenate([[0.0], failure])
    if np.all(np.isnan(y)) or np.nanmax(y) < p:
        return None
    xmax = x[-1]
    keep = ~pd.Series(y).duplicated().to_numpy()  # R's duplicated(): NA duplicates NA
    x, y = x[keep], y[keep]
    known = ~np.isnan(y)  # approx() drops NA pairs
    index = np.flatnonzero(known)
    i1 = _approx_right(y[known] + tol, p)
    i2 = _approx_right(y[known] - tol, p)
    a = None if i1 is None else int(index[i1 - 1])
    b = None if i2 is None else int(index[i2 - 1])
    if p == 0:
        return float(x[0])
    if not np.isnan(y[-1]) and abs(p - y[-1]) < tol:  # flat at p to the end: midpoint to the last time
        return None if a is None else float((x[a] + xmax) / 2)
    return None if a is None or b is None else float((x[a] + x[b]) / 2)


def median_with_ci(kmf: KaplanMeierFitter) -> tuple[float | None, float | None, float | None]:
    """(median, lower, upper) as R's ``quantile(fit, 0.5)`` / ``summary(fit)$table``; None = not reached."""
    c = curve(kmf)
    return (findq(c.times, 1 - c.survival, 0.5), findq(c.times, 1 - c.lower, 0.5),
            findq(c.times, 1 - c.upper, 0.5))


def at_risk(time: pd.Series, t: float) -> int:
    """Patients still under observation at t (time ≥ t): R's ``n.risk`` at t."""
    return int((time >= t).sum())


def landmarks(kmf: KaplanMeierFitter, time: pd.Series, months: Sequence[float]) -> list[Landmark]:
    """S(t) with its CI and the number at risk at each landmark; None beyond the last follow-up time."""
    c = curve(kmf)
    last = float(time.max()) if len(time) else -math.inf
    out = []
    for t in months:
        if t > last:
            out.append(Landmark(float(t), None, None, None, at_risk(time, t)))
            continue
        i = int(np.searchsorted(c.times, t, side="right")) - 1  # the last time ≤ t
        out.append(Landmark(float(t), float(c.survival[i]), finite(c.lower[i]), finite(c.upper[i]), at_risk(time, t)))
    return out


def risk_table(time: pd.Series, event: pd.Series, every: float, horizon: float) -> list[AtRisk]:
    """Numbers at risk and cumulative events at 0, every, 2·every, … up to ``horizon`` (the plot's x-axis)."""
    if not len(time) or not math.isfinite(horizon) or horizon < 0:
        return []
    steps = math.floor(horizon / every + 1e-9)
    return [AtRisk(k * every, at_risk(time, k * every), int(((time <= k * every) & (event == 1)).sum()))
            for k in range(steps + 1)]
