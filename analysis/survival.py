"""Kaplan–Meier, log-rank and follow-up (with Clark's completeness), through lifelines.

Confidence intervals of the survival function are lifelines' default, the exponential Greenwood
("log-log") interval, which is R's ``survfit(conf.type = "log-log")``; R's own default is ``"log"``.
The median follows R's rule (``survival:::findq``): the first time S(t) ≤ 0.5, except that where S(t)
equals 0.5 (within √ε) on a stretch, the midpoint of that stretch. lifelines' ``median_survival_time_``
compares without tolerance, so a survival of 0.5000000000000001 from rounding moves it to the next event
time (six deaths at 1..6 months: lifelines 4, R 3.5); docs/results.md has the details.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test, multivariate_logrank_test

from analysis.cox import cox_analysis
from analysis.descriptive import numeric_summary
from analysis.inference import finite
from analysis.kmsummary import findq, landmarks, median_with_ci, risk_table
from analysis.plan import DEATH, AnalysisPlan, Covariate
from analysis.results import FollowUp, KaplanMeier, KmPoint, Landmark, LogRank, SurvivalEndpoint
from analysis.warnings import (
    FewEventsWarning,
    MissingDataWarning,
    SmallSampleWarning,
    WarningLog,
    library_warnings,
)

DAYS_PER_MONTH = 30.4375  # the mapping's month (docs/mapping.md)


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


def km_median(kmf: KaplanMeierFitter, p: float = 0.5) -> float | None:
    """R's ``quantile.survfit`` median of the fitted curve, or None when not reached."""
    curve = kmf.survival_function_.iloc[:, 0]
    return findq(curve.index.to_numpy(dtype=float), 1.0 - curve.to_numpy(dtype=float), p)


@dataclass(frozen=True)
class Usable:
    """The patients with a time and an event flag for one endpoint."""

    time: pd.Series
    event: pd.Series
    rows: pd.DataFrame


def usable_rows(patients: pd.DataFrame, columns: tuple[str, str], log: WarningLog, scope: str) -> Usable:
    time_col, event_col = columns
    data = patients.assign(time=pd.to_numeric(patients[time_col], errors="coerce"),
                           event=pd.to_numeric(patients[event_col], errors="coerce"))
    usable = data.dropna(subset=["time", "event"])
    if len(usable) < len(data):
        log.add(MissingDataWarning, scope, f"{len(data) - len(usable)} patient(s) without {time_col}/{event_col} "
                                           "are left out")
    return Usable(usable["time"], usable["event"], usable)


def kaplan_meier(data: Usable, columns: tuple[str, str], plan: AnalysisPlan, log: WarningLog, *, scope: str,
                 horizon: float) -> KaplanMeier:
    """The curve, its median with CI, landmark estimates and the numbers-at-risk table up to ``horizon``."""
    time_col, event_col = columns
    km: list[KmPoint] = []
    median = lower = upper = None
    marks = []
    if data.time.empty:
        log.add_not_computable(f"{scope}.km", f"Kaplan–Meier not estimable: no patient with {time_col} and "
                                              f"{event_col}")
    else:
        kmf = fit_km(data.time, data.event, plan.alpha, log, f"{scope}.km")
        km = km_points(kmf)
        median, lower, upper = median_with_ci(kmf)
        if median is None:
            log.add_not_computable(f"{scope}.median_months", f"median not reached: survival stays above 0.5 "
                                                             f"(lowest {kmf.survival_function_.iloc[-1, 0]:.3f})")
        marks = landmarks(kmf, data.time, plan.landmark_months)
        beyond = [m for m in marks if m.survival is None]
        if beyond:
            log.add_not_computable(f"{scope}.landmarks", f"no estimate at {_months(beyond)} months: the last "
                                                         f"follow-up time is {data.time.max():.1f} months")
    events = int(data.event.sum())
    return KaplanMeier(
        n=len(data.time), events=events, median_months=median, median_reached=median is not None, km=km,
        censored_months=[float(t) for t in np.sort(data.time[data.event == 0].to_numpy())],
        median_ci_lower=lower, median_ci_upper=upper, landmarks=marks,
        at_risk_table=risk_table(data.time, data.event, plan.risk_table_every_months, horizon),
    )


def _months(marks: list[Landmark]) -> str:
    return ", ".join(f"{m.months:g}" for m in marks)


def horizon_months(patients: pd.DataFrame) -> float:
    """The x-axis shared by every Kaplan–Meier plot: the longest follow-up."""
    months = pd.to_numeric(patients["followup_months"], errors="coerce").dropna()
    return float(months.max()) if len(months) else float("nan")


def survival_endpoint(patients: pd.DataFrame, columns: tuple[str, str], plan: AnalysisPlan, log: WarningLog,
                      scope: str) -> SurvivalEndpoint:
    data = usable_rows(patients, columns, log, scope)
    curve = kaplan_meier(data, columns, plan, log, scope=scope, horizon=horizon_months(patients))
    usable = data.rows
    return SurvivalEndpoint(
        **vars(curve),
        logrank={c.name: logrank(usable, c, plan, log, f"{scope}.logrank.{c.name}") for c in plan.logrank},
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
    events = int(rows["event"].sum())
    if len(levels) < 2 or events == 0:
        log.add_not_computable(scope, f"log-rank test needs two groups and at least one event "
                                      f"({len(levels)} group(s), {events} events)")
        return LogRank(None, None, None, levels, events)
    if len(rows) < plan.min_n_for_test:
        log.add(SmallSampleWarning, scope, f"log-rank test on n = {len(rows)} (fewer than {plan.min_n_for_test})")
    if events == 1:
        log.add(FewEventsWarning, scope, "the test rests on one event: its p-value is not a finding, in either "
                                         "direction")
    with library_warnings() as caught:
        if len(levels) == 2:
            a, b = (groups == levels[0]), (groups == levels[1])
            result = logrank_test(rows["time"][a], rows["time"][b], rows["event"][a], rows["event"][b])
        else:
            result = multivariate_logrank_test(rows["time"], groups, rows["event"])
    log.relay(scope, caught)
    return LogRank(finite(result.test_statistic), int(result.degrees_of_freedom), finite(result.p_value), levels,
                   events)


def followup(patients: pd.DataFrame, plan: AnalysisPlan, log: WarningLog, cutoff: date | None = None) -> FollowUp:
    """Follow-up summary, the reverse Kaplan–Meier median (death censors, loss to follow-up is the event) and
    Clark's completeness of follow-up to ``cutoff`` (None: the latest contact in the data).

    The follow-up time is ``followup_months`` (surgery to death or last contact: the overall-survival time)
    and vital status the ``death`` flag."""
    months = pd.to_numeric(patients["followup_months"], errors="coerce")
    summary = numeric_summary(months, plan.quantile_type)
    event = pd.to_numeric(patients[DEATH], errors="coerce")
    known = months.notna() & event.notna()
    time = months
    reverse = None
    if not known.any():
        log.add_not_computable("followup.reverse_km_median_months",
                               f"reverse Kaplan–Meier not estimable: no patient with followup_months and {DEATH}")
    else:
        kmf = fit_km(time[known], 1 - event[known], plan.alpha, log, "followup.reverse_km")
        reverse = km_median(kmf)
        if reverse is None:
            log.add_not_computable("followup.reverse_km_median_months", "reverse Kaplan–Meier median not reached")
    clark = completeness(patients, cutoff, log)
    return FollowUp(n=summary.n, mean_months=summary.mean, median_months=summary.median, min_months=summary.min,
                    max_months=summary.max, reverse_km_median_months=reverse,
                    reverse_km_median_reached=reverse is not None, **vars(clark))


@dataclass(frozen=True)
class Completeness:
    completeness: float | None = None
    completeness_cutoff: str | None = None
    completeness_cutoff_rule: str | None = None
    observed_months: float | None = None
    potential_months: float | None = None


CUTOFF_GIVEN = "data cut-off"
CUTOFF_LATEST = "latest contact in the data (no data cut-off given)"


def completeness(patients: pd.DataFrame, cutoff: date | None, log: WarningLog) -> Completeness:
    """Clark's C (Clark TG et al., Lancet 2002;359:1309-10): the sum of observed follow-up (surgery to last
    contact or death) over the sum of potential follow-up (surgery to the cut-off, or to death)."""
    scope = "followup.completeness"
    if "surgery_date" not in patients.columns:
        log.add_not_computable(scope, "Clark's C needs surgery_date in the patients table")
        return Completeness()
    surgery = pd.to_datetime(patients["surgery_date"], errors="coerce")
    observed = pd.to_numeric(patients["followup_months"], errors="coerce")
    dead = pd.to_numeric(patients[DEATH], errors="coerce")
    known = surgery.notna() & observed.notna() & dead.notna()
    if not known.any():
        log.add_not_computable(scope, "no patient with a surgery date, follow-up and vital status")
        return Completeness()
    if int((~known).sum()):
        log.add(MissingDataWarning, scope, f"{int((~known).sum())} patient(s) without surgery date, follow-up or "
                                           "vital status are left out of Clark's C")
    surgery, observed, dead = surgery[known], observed[known], dead[known]
    rule = CUTOFF_GIVEN
    if cutoff is None:
        last = [s.date() + timedelta(days=round(m * DAYS_PER_MONTH)) for s, m in zip(surgery, observed, strict=True)]
        cutoff, rule = max(last), CUTOFF_LATEST
    to_cutoff = np.array([(cutoff - s.date()).days / DAYS_PER_MONTH for s in surgery])
    potential = np.where(dead.to_numpy() == 1, observed.to_numpy(), to_cutoff)
    seen = np.minimum(observed.to_numpy(), potential)
    total_potential = float(potential.sum())
    value = float(seen.sum()) / total_potential if total_potential > 0 else None
    if value is None:
        log.add_not_computable(scope, "no potential follow-up: every surgery is on the cut-off date")
    return Completeness(value, cutoff.isoformat(), rule, float(seen.sum()), total_potential)
