"""Kaplan–Meier curves with confidence bands, censor marks and a numbers-at-risk table under the axis.

The curve and its band come from ``results.json`` (the analysis owns the estimate). Numbers at risk every
3 months come from results.json where it lists them, else from the cohort table the estimate was computed
from; censor marks likewise. All endpoints of a report share one x-axis (``horizon``), so the endpoints read
side by side.
"""

from __future__ import annotations

from typing import Any

import matplotlib
import numpy as np
import pandas as pd

from reports.charts import BAND, INK, RC, new_figure, no_data, to_svg
from reports.formatting import as_float


def step_points(km: list[dict[str, Any]], horizon: float) -> tuple[np.ndarray, ...]:
    """Times, survival and CI bounds as step functions starting at (0, 1) and ending at ``horizon``."""
    times, surv, low, high = [0.0], [1.0], [1.0], [1.0]
    for point in sorted(km, key=lambda p: as_float(p.get("time_months")) or 0.0):
        t = as_float(point.get("time_months"))
        s = as_float(point.get("survival"))
        if t is None or s is None:
            continue
        lo, hi = as_float(point.get("ci_lower")), as_float(point.get("ci_upper"))
        times.append(t)
        surv.append(s)
        low.append(lo if lo is not None else np.nan)
        high.append(hi if hi is not None else np.nan)
    times.append(max(horizon, times[-1]))
    surv.append(surv[-1])
    low.append(low[-1])
    high.append(high[-1])
    return tuple(np.asarray(v, dtype=float) for v in (times, surv, low, high))


def survival_at(times: np.ndarray, surv: np.ndarray, t: float) -> float:
    """S(t) of a right-continuous step function."""
    index = int(np.searchsorted(times, t, side="right")) - 1
    return float(surv[max(index, 0)])


def at_risk(durations: pd.Series, ticks: np.ndarray) -> list[int]:
    return [int((durations >= t).sum()) for t in ticks]


def ticks_for(horizon: float) -> np.ndarray:
    """Every 3 months up to three years of follow-up, then every 6 (to six years) or 12."""
    step = 3.0 if horizon <= 36 else 6.0 if horizon <= 72 else 12.0
    return np.arange(0.0, horizon + 1e-9, step) if horizon > 0 else np.array([0.0])


def km_chart(
    km: list[dict[str, Any]],
    durations: pd.Series,
    events: pd.Series,
    title: str,
    *,
    censored: list[Any] | None = None,
    prefix: str = "km",
    horizon: float | None = None,
    risk: dict[float, int] | None = None,
) -> str:
    """One endpoint: the step curve, its 95% CI band, censor marks (+) and the numbers at risk.

    Censor marks are at ``censored`` (results.json ``censored_months``) when given, else at the cohort's
    times without an event. ``horizon`` is the x-axis' end shared by every endpoint (default: this one's
    longest time); ``risk`` the numbers at risk by month from results.json (default: counted from
    ``durations``). ``prefix`` keeps the SVG's ids unique within the report.
    """
    durations = pd.to_numeric(durations, errors="coerce")
    events = pd.to_numeric(events, errors="coerce").fillna(0)
    own = float(durations.max()) if durations.notna().any() else 0.0
    horizon = max(horizon or 0.0, own)
    times, surv, low, high = step_points(km, horizon)
    ticks = ticks_for(horizon)
    counts: list[int | None] = (
        [risk.get(float(t)) for t in ticks] if risk else list(at_risk(durations, ticks))  # a month not listed: blank
    )
    with matplotlib.rc_context(RC):
        fig = new_figure(2.7)
        ax, table = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [5, 1]})
        ax.fill_between(times, low, high, step="post", color=BAND, alpha=0.55, lw=0, label="95% CI")
        ax.step(times, surv, where="post", color=INK, lw=1.8, label="Kaplan–Meier estimate")
        marks = (
            [t for t in (as_float(c) for c in censored) if t is not None]
            if censored is not None
            else durations[(events == 0) & durations.notna()].tolist()
        )
        ax.plot(
            marks, [survival_at(times, surv, t) for t in marks], ls="none", marker="+", ms=7, mew=1.2,
            color=INK, label="Censored",
        )
        ax.set_ylim(0, 1.04)
        ax.set_ylabel("Probability (survival)")
        ax.set_title(title, loc="left")
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=3, borderaxespad=0.2)
        ax.grid(axis="y", color="#dddddd", lw=0.5)
        if not durations.notna().any() and not km:
            no_data(ax, "No patients: not estimable")
        _risk_table(table, ticks, counts)
        pad = 0.02 * max(horizon, 1.0)
        table.set_xlim(-pad, max(horizon, float(ticks[-1])) + pad)
        return to_svg(fig, prefix)


def _risk_table(ax: Any, ticks: np.ndarray, counts: list[int | None]) -> None:
    for t, n in zip(ticks, counts, strict=True):
        ax.text(t, 0.5, "" if n is None else str(n), ha="center", va="center", fontsize=7)
    ax.set_yticks([0.5], ["At risk"])
    ax.set_ylim(0, 1)
    ax.tick_params(axis="y", length=0)
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_xlabel("Months after surgery")
    for side in ("left", "top", "right"):
        ax.spines[side].set_visible(False)
