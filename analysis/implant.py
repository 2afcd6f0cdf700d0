"""Implant outcome: complications by Henderson failure type, reoperations, and implant survival.

- **Failure types** (Henderson ER et al., J Bone Joint Surg Am 2011;93:418-29): the study file maps its 0/1
  complication and event columns to types 1–5; a patient counts once per type, whichever of its columns
  is set. These are complications by failure mode, not only those that led to a revision.
- **Reoperations**: each reoperation flag of the study (e.g. a revision) with its rate, exact CI and timing.
- **Implant survival**: Kaplan–Meier of the time to the first reoperation named as the implant endpoint
  (``<flag>_months``, censored at last contact; death censors, as in the orthopaedic oncology literature —
  a competing risk the reader should keep in mind).
"""

from __future__ import annotations

import pandas as pd

from analysis.events import clopper_pearson, event_rate, with_timing
from analysis.plan import AnalysisPlan, FailureMode
from analysis.results import EventRate, FailureType, Implant, KaplanMeier
from analysis.survival import horizon_months, kaplan_meier, usable_rows
from analysis.warnings import FewEventsWarning, MissingDataWarning, WarningLog

ANY_FAILURE = "any failure type"


def implant(patients: pd.DataFrame, plan: AnalysisPlan, log: WarningLog,
            events: pd.DataFrame | None = None) -> Implant:
    types = [failure_type(patients, mode, plan, log) for mode in plan.failure_modes]
    every = tuple(dict.fromkeys(flag for mode in plan.failure_modes for flag in mode.flags))
    any_failure = None
    if every:
        any_failure = _count(patients, (0, ANY_FAILURE), every, plan, log=log, scope="implant.any_failure")
    return Implant(
        failure_types=types,
        any_failure=any_failure,
        reoperations=[_reoperation(patients, flag, plan, log, events) for flag in plan.reoperation_flags],
        survival_endpoint=plan.implant_endpoint,
        survival=_survival(patients, plan, log),
    )


def failure_type(patients: pd.DataFrame, mode: FailureMode, plan: AnalysisPlan, log: WarningLog) -> FailureType:
    scope = f"implant.failure_types.{mode.type}"
    return _count(patients, (mode.type, mode.name), mode.flags, plan, log=log, scope=scope)


def _count(patients: pd.DataFrame, kind: tuple[int, str], flags: tuple[str, ...], plan: AnalysisPlan, *,
           log: WarningLog, scope: str) -> FailureType:
    number, name = kind
    missing = [f for f in flags if f not in patients.columns]
    if missing:
        log.add_not_computable(scope, f"the patients table lacks {', '.join(missing)}")
        return FailureType(number, name, list(flags), 0, 0, None, None, None)
    values = patients[list(flags)].apply(pd.to_numeric, errors="coerce")
    known = values.notna().all(axis=1)
    if not known.all():
        log.add(MissingDataWarning, scope, f"{int((~known).sum())} patient(s) with a column of this type unknown "
                                           "are left out")
    count, n = int((values[known] == 1).any(axis=1).sum()), int(known.sum())
    low, high = clopper_pearson(count, n, plan.confidence_level, log, scope)
    return FailureType(number, name, list(flags), count, n, 100.0 * count / n if n else None, low, high)


def _reoperation(patients: pd.DataFrame, flag: str, plan: AnalysisPlan, log: WarningLog,
                 events: pd.DataFrame | None) -> EventRate:
    scope = f"implant.reoperations.{flag}"
    if flag not in patients.columns:
        log.add_not_computable(scope, f"the patients table has no {flag} column (cohort from an older mapping)")
        return EventRate(flag, 0, 0, None, None, None)
    return with_timing(event_rate(patients[flag], flag, plan.confidence_level, log, scope), patients, events)


def _survival(patients: pd.DataFrame, plan: AnalysisPlan, log: WarningLog) -> KaplanMeier | None:
    flag = plan.implant_endpoint
    if flag is None:
        return None
    columns = (f"{flag}_months", flag)
    scope = "implant.survival"
    if not set(columns) <= set(patients.columns):
        log.add_not_computable(scope, f"the patients table has no {columns[0]}/{flag} columns "
                                      "(cohort from an older mapping)")
        return None
    data = usable_rows(patients, columns, log, scope)
    curve = kaplan_meier(data, columns, plan, log, scope=scope, horizon=horizon_months(patients))
    if curve.n and curve.events == 0:
        log.add(FewEventsWarning, scope, f"no {flag} in {curve.n} patient(s): the curve stays at 100 % and has "
                                         "no event to estimate from")
    return curve
