"""Checking the input tables and reshaping the long ``measures`` table; the only place that knows columns."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from analysis.plan import DEATH, AnalysisPlan
from config.errors import AnalysisError

BUILTIN_COLUMNS = ("study_id", "sex", "age_at_surgery", "followup_months", DEATH)
"""cohort.csv columns of every study that the analysis reads (``surgery_date`` is optional: Clark's C)."""
MEASURE_COLUMNS = ("study_id", "instrument", "timepoint", "value")


def patient_columns(plan: AnalysisPlan) -> tuple[str, ...]:
    """The patients-table columns the plan needs: built-ins, facts, endpoint columns and event flags."""
    endpoints = [column for endpoint in plan.endpoints for column in endpoint.columns]
    return tuple(dict.fromkeys((*BUILTIN_COLUMNS, *plan.fact_columns, *endpoints, *plan.event_flags)))


def check_inputs(patients: pd.DataFrame, measures: pd.DataFrame, plan: AnalysisPlan) -> None:
    """Raise :class:`AnalysisError` naming what is missing or ambiguous, and how to fix it."""
    missing = sorted(set(patient_columns(plan)) - set(patients.columns))
    if missing:
        raise AnalysisError(f"patients table lacks column(s) {', '.join(missing)}: "
                            "use the cohort.csv layout, or remove them from the analysis plan")
    missing = sorted(set(MEASURE_COLUMNS) - set(measures.columns))
    if missing:
        raise AnalysisError(f"measures table lacks column(s) {', '.join(missing)}: use the measures.csv layout")
    if patients["study_id"].duplicated().any():
        raise AnalysisError("patients table has repeated study_id values: one row per patient is expected")
    duplicated = int(measures.duplicated(["study_id", "instrument", "timepoint"]).sum())
    if duplicated:
        raise AnalysisError(f"measures table has {duplicated} repeated (study_id, instrument, timepoint) "
                            "rows: resolve duplicates in the mapping so each timepoint has one value")


def scores(measures: pd.DataFrame, instrument: str, timepoints: Sequence[str], study_ids: pd.Series) -> pd.DataFrame:
    """One row per patient (in ``study_ids`` order), one column per timepoint; NaN where not measured."""
    rows = measures[(measures["instrument"] == instrument) & measures["timepoint"].isin(list(timepoints))]
    table = rows.pivot(index="study_id", columns="timepoint", values="value")
    table = table.reindex(index=pd.Index(study_ids, name="study_id"), columns=list(timepoints))
    numeric: pd.DataFrame = table.apply(pd.to_numeric, errors="coerce")
    return numeric
