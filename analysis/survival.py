"""Kaplan–Meier, log-rank and follow-up, through lifelines.

Confidence intervals of the survival function are lifelines' default, the exponential Greenwood
("log-log") interval, which is R's ``survfit(conf.type = "log-log")``; R's own default is ``"log"``.
The median follows R's rule (``survival:::findq``): the first time S(t) ≤ 0.5, except that where S(t)
equals 0.5 (within √ε) on a stretch, the midpoint of that stretch. lifelines' ``median_survival_time_``
compares without tolerance, so a survival of 0.5000000000000001 from rounding moves it to the next event
time (six deaths at 1..6 months: lifelines 4, R 3.5); docs/results.md has the details.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test, multivariate_logrank_test

from analysis.cox import cox_analysis
from analysis.descriptive import numeric_summary
from analysis.inference import finite
from analysis.plan import AnalysisPlan, Covariate
from analysis.results import FollowUp, KmPoint, LogRank, SurvivalEndpoint
from analysis.warnings import MissingDataWarning, SmallSampleWarning, WarningLog, library_warnings


def fit_km(time: pd.Series, event: pd.Series, alpha: float, log: WarningLog, scope: str) -> KaplanMeierFitter:
    with library_warnings() as caught:
        kmf = KaplanMeierFitter(alpha=alpha).fit(time, event_observed=event)
    log.relay(scope, caught)
    return kmf


def km_points(kmf: KaplanMeierFitter) -> list[KmPoint]:
    """Survival, CI and numbers at risk at each event time (at risk: just before the time)."""
    table = kmf.event_table
    survival = kmf.survival_function_.iloc[:, 0]
    lower, upper = kmf.confidence_interval_.iloc[:, 0], kmf.confidence_interval_.iloc[:, 1]
    points = []
    for time, row in table[table["observed"] > 0].iterrows():
        s = float(survival.loc[time])
        defined = 0.0 < s < 1.0  # the log-log interval is undefined at S = 0 (and R reports NA there)
        points.append(KmPoint(
            time_months=float(time), survival=s,
            ci_lower=finite(lower.loc[time]) if defined else None,
            ci_upper=finite(upper.loc[time]) if defined else None,
            at_risk=int(row["at_risk"]), events=int(row["observed"]),
        ))
    return points


TOLERANCE = math.sqrt(np.finfo(float).eps)


def km_median(kmf: KaplanMeierFitter, p: float = 0.5) -> float | None:
    """R's ``quantile.survfit`` median of the fitted curve, or None when not reached."""
    curve = kmf.survival_function_.iloc[:, 0]
    times, failure = curve.index.to_numpy(dtype=float), 1.0 - curve.to_numpy(dtype=float)
    last_time = times[-1]
    first = ~pd.Series(failure).duplicated().to_numpy()  # the time each value of 1 − S(t) is first reached
    times, failure = times[first], failure[first]
    if failure.max() < p:
        return None
    start = int(np.argmax(failure + TOLERANCE >= p))
    if abs(failure[-1] - p) < TOLERANCE:  # flat at exactly p to the end of follow-up
        return float((times[start] + last_time) / 2)
    end = int(np.argmax(failure - TOLERANCE >= p))
    return float((times[start] + times[end]) / 2)


def survival_endpoint(patients: pd.DataFrame, columns: tuple[str, str], plan: AnalysisPlan, log: WarningLog,
                      scope: str) -> SurvivalEndpoint:
    time_col, event_col = columns
    data = patients.assign(time=pd.to_numeric(patients[time_col], errors="coerce"),
                           event=pd.to_numeric(patients[event_col], errors="coerce"))
    usable = data.dropna(subset=["time", "event"])
    if len(usable) < len(data):
        log.add(MissingDataWarning, scope, f"{len(data) - len(usable)} patient(s) without {time_col}/{event_col} "
                                           "are left out")
    km: list[KmPoint] = []
    median: float | None = None
    if usable.empty:
        log.add_not_computable(f"{scope}.km", f"Kaplan–Meier not estimable: no patient with {time_col} and "
                                              f"{event_col}")
    else:
        kmf = fit_km(usable["time"], usable["event"], plan.alpha, log, f"{scope}.km")
        km, median = km_points(kmf), km_median(kmf)
        if median is None:
            log.add_not_computable(f"{scope}.median_months", f"median not reached: survival stays above 0.5 "
                                                             f"(lowest {kmf.survival_function_.iloc[-1, 0]:.3f})")
    return SurvivalEndpoint(
        n=len(usable), events=int(usable["event"].sum()), median_months=median, median_reached=median is not None,
        km=km,
        censored_months=[float(t) for t in np.sort(usable.loc[usable["event"] == 0, "time"].to_numpy())],
        logrank={c.name: logrank(usable, c, plan, log, f"{scope}.logrank.{c.name}") for c in plan.survival_covariates},
        cox=cox_analysis(usable, plan, log, f"{scope}.cox"),
    )


def _group_order(values: pd.Series, covariate: Covariate) -> list[str]:
    present = sorted(values.dropna().astype(str).unique())
    preferred = [lvl for lvl in ((covariate.reference,) if covariate.reference else ()) + covariate.levels]
    return [lvl for lvl in preferred if lvl in present] + [lvl for lvl in present if lvl not in preferred]


def logrank(data: pd.DataFrame, covariate: Covariate, plan: AnalysisPlan, log: WarningLog, scope: str) -> LogRank:
    """Log-rank test across the covariate's levels: ``logrank_test`` for two, ``multivariate_logrank_test`` above."""
    rows = data.dropna(subset=[covariate.name])
    groups = rows[covariate.name].astype(str)
    if pd.api.types.is_numeric_dtype(rows[covariate.name]):
        groups = rows[covariate.name].astype(int).astype(str)
    levels = _group_order(groups, covariate)
    if len(levels) < 2 or rows["event"].sum() == 0:
        log.add_not_computable(scope, f"log-rank test needs two groups and at least one event "
                                      f"({len(levels)} group(s), {int(rows['event'].sum())} events)")
        return LogRank(None, None, None, levels)
    if len(rows) < plan.min_n_for_test:
        log.add(SmallSampleWarning, scope, f"log-rank test on n = {len(rows)} (fewer than {plan.min_n_for_test})")
    with library_warnings() as caught:
        if len(levels) == 2:
            a, b = (groups == levels[0]), (groups == levels[1])
            result = logrank_test(rows["time"][a], rows["time"][b], rows["event"][a], rows["event"][b])
        else:
            result = multivariate_logrank_test(rows["time"], groups, rows["event"])
    log.relay(scope, caught)
    return LogRank(finite(result.test_statistic), int(result.degrees_of_freedom), finite(result.p_value), levels)


def followup(patients: pd.DataFrame, plan: AnalysisPlan, log: WarningLog) -> FollowUp:
    """Follow-up summary and the reverse Kaplan–Meier median (death censors, loss to follow-up is the event)."""
    months = pd.to_numeric(patients["followup_months"], errors="coerce")
    summary = numeric_summary(months, plan.quantile_type)
    time = pd.to_numeric(patients["os_months"], errors="coerce")
    event = pd.to_numeric(patients["os_event"], errors="coerce")
    known = time.notna() & event.notna()
    reverse = None
    if not known.any():
        log.add_not_computable("followup.reverse_km_median_months",
                               "reverse Kaplan–Meier not estimable: no patient with os_months and os_event")
    else:
        kmf = fit_km(time[known], 1 - event[known], plan.alpha, log, "followup.reverse_km")
        reverse = km_median(kmf)
        if reverse is None:
            log.add_not_computable("followup.reverse_km_median_months", "reverse Kaplan–Meier median not reached")
    return FollowUp(n=summary.n, mean_months=summary.mean, median_months=summary.median, min_months=summary.min,
                    max_months=summary.max, reverse_km_median_months=reverse,
                    reverse_km_median_reached=reverse is not None)
