"""Complications and events: count, n, percent and the exact Clopper–Pearson interval (R ``binom.test``), and
when each happened (days from surgery to each patient's first occurrence, from the mapping's events table)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from analysis.inference import finite
from analysis.plan import AnalysisPlan
from analysis.results import EventRate
from analysis.warnings import MissingDataWarning, WarningLog, library_warnings

EVENT_TABLE_COLUMNS = ("study_id", "event", "days_from_surgery")


def event_rates(patients: pd.DataFrame, plan: AnalysisPlan, log: WarningLog,
                events: pd.DataFrame | None = None) -> list[EventRate]:
    return [with_timing(event_rate(patients[flag], flag, plan.confidence_level, log, f"events.{flag}"),
                        patients, events)
            for flag in plan.event_flags]


def event_rate(values: pd.Series, name: str, confidence: float, log: WarningLog, scope: str = "") -> EventRate:
    """Rate of a 0/1 flag among the patients where it is known (``scope`` default: ``events.<name>``)."""
    scope = scope or f"events.{name}"
    flags = pd.to_numeric(values, errors="coerce")
    known = flags.dropna()
    if len(known) < len(flags):
        log.add(MissingDataWarning, scope, f"{len(flags) - len(known)} patient(s) with {name} unknown are left out")
    if len(known) == 0:
        log.add_not_computable(scope, f"no patient has {name} recorded")
        return EventRate(name, 0, 0, None, None, None)
    count, n = int((known == 1).sum()), len(known)
    low, high = clopper_pearson(count, n, confidence, log, scope)
    return EventRate(name, count, n, 100.0 * count / n, low, high)


def clopper_pearson(count: int, n: int, confidence: float, log: WarningLog, scope: str) -> tuple[float | None,
                                                                                                  float | None]:
    """The exact interval of count/n (R ``binom.test(count, n)$conf.int``), as proportions 0–1."""
    if n == 0:
        return None, None
    with library_warnings() as caught:
        ci = stats.binomtest(count, n).proportion_ci(confidence_level=confidence, method="exact")
    log.relay(scope, caught)
    return finite(ci.low), finite(ci.high)


def with_timing(rate: EventRate, patients: pd.DataFrame, events: pd.DataFrame | None) -> EventRate:
    """The rate with the days from surgery of each patient's first occurrence (None without an events table)."""
    if events is None or not set(EVENT_TABLE_COLUMNS) <= set(events.columns):
        return rate
    rows = events[(events["event"] == rate.name) & events["study_id"].isin(patients["study_id"])]
    first = pd.to_numeric(rows["days_from_surgery"], errors="coerce").groupby(rows["study_id"]).min().dropna()
    days = sorted(int(d) for d in first)
    median = float(np.median(days)) if days else None
    return EventRate(**{**vars(rate), "days_from_surgery": days, "median_days_from_surgery": median})
