"""The entry point: the whole analysis plan on one cohort."""

from __future__ import annotations

from datetime import date

import pandas as pd

from analysis.data import check_inputs, scores
from analysis.descriptive import table1
from analysis.events import event_rates
from analysis.implant import implant
from analysis.methods import methods
from analysis.paired import paired_analysis
from analysis.plan import AnalysisPlan
from analysis.repeated import repeated_measures
from analysis.responders import responders
from analysis.results import Results, WarningRecord
from analysis.survival import followup, survival_endpoint
from analysis.warnings import WarningLog


def analyse(patients: pd.DataFrame, measures: pd.DataFrame, plan: AnalysisPlan | None = None, *,
            events: pd.DataFrame | None = None, cutoff: date | None = None) -> Results:
    """Every analysis of the plan on ``patients`` (cohort.csv layout) and ``measures`` (measures.csv layout).

    ``events``: the mapping's events table (``study_id, event, date, days_from_surgery``), for the timing of
    complications; None leaves ``events[].days_from_surgery`` null. ``cutoff``: the data cut-off, for Clark's
    completeness of follow-up; None takes the latest contact in the data.

    Raises :class:`config.errors.AnalysisError` when a required column is missing or values are duplicated;
    statistical caveats never raise: they are in ``Results.warnings``.
    """
    plan = plan or AnalysisPlan()
    check_inputs(patients, measures, plan)
    patients = patients.reset_index(drop=True)
    ids = patients["study_id"]
    log = WarningLog()
    if patients.empty:
        log.add_not_computable("n_patients", "the cohort has no patients: every figure is empty or not estimable")
    repeated = {
        spec.instrument: repeated_measures(scores(measures, spec.instrument, spec.timepoints, ids), plan, log,
                                           f"repeated_measures.{spec.instrument}")
        for spec in plan.repeated
    }
    paired = {spec.name: paired_analysis(measures, patients, spec, plan, log) for spec in plan.paired}
    return Results(
        n_patients=len(patients),
        methods=methods(plan),
        table1=table1(patients, plan, log),
        repeated_measures=repeated,
        paired=paired,
        events=event_rates(patients, plan, log, events),
        followup=followup(patients, plan, log, cutoff),
        survival={endpoint.name: survival_endpoint(patients, endpoint.columns, plan, log, f"survival.{endpoint.name}")
                  for endpoint in plan.endpoints},
        responders=responders(measures, ids, plan, log),
        implant=implant(patients, plan, log, events),
        warnings=[WarningRecord(w.code, w.message, w.scope) for w in log.items],
    )
