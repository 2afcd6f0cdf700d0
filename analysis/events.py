"""Complications and events: count, n, percent and the exact Clopper–Pearson interval (R ``binom.test``)."""

from __future__ import annotations

import pandas as pd
from scipy import stats

from analysis.inference import finite
from analysis.plan import AnalysisPlan
from analysis.results import EventRate
from analysis.warnings import MissingDataWarning, WarningLog, library_warnings


def event_rates(patients: pd.DataFrame, plan: AnalysisPlan, log: WarningLog) -> list[EventRate]:
    return [event_rate(patients[flag], flag, plan.confidence_level, log) for flag in plan.event_flags]


def event_rate(values: pd.Series, name: str, confidence: float, log: WarningLog) -> EventRate:
    """Rate of a 0/1 flag among the patients where it is known."""
    flags = pd.to_numeric(values, errors="coerce")
    known = flags.dropna()
    scope = f"events.{name}"
    if len(known) < len(flags):
        log.add(MissingDataWarning, scope, f"{len(flags) - len(known)} patient(s) with {name} unknown are left out")
    if len(known) == 0:
        log.add_not_computable(scope, f"no patient has {name} recorded")
        return EventRate(name, 0, 0, None, None, None)
    count, n = int((known == 1).sum()), len(known)
    with library_warnings() as caught:
        ci = stats.binomtest(count, n).proportion_ci(confidence_level=confidence, method="exact")
    log.relay(scope, caught)
    return EventRate(name, count, n, 100.0 * count / n, finite(ci.low), finite(ci.high))
