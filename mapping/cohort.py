"""The public entry point: a resource source and a study definition in, a :class:`Cohort` out.

Pure: no files, no logging, no printing. The service writes ``cohort.csv``, ``measures.csv`` and
``data_quality.json`` from the returned value.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

import pandas as pd

from config.study import StudyDefinition
from mapping.assemble import PatientTables, assemble
from mapping.pipeline import Collected, Pipeline
from mapping.quality import QualityLog
from mapping.runner import Runner

FIRST_COLUMNS = ("study_id", "sex", "age_at_surgery", "surgery_date")
"""cohort.csv's first columns, in every study; the study's facts follow, then ``followup_months``."""
MEASURE_COLUMNS = ("study_id", "instrument", "timepoint", "value", "date", "days_from_surgery")
EVENT_COLUMNS = ("study_id", "event", "date", "days_from_surgery")


class ResourceSource(Protocol):
    def iter_resources(self, resource_type: str) -> Iterator[dict[str, Any]]: ...


@dataclass
class Cohort:
    patients: pd.DataFrame  # cohort.csv, columns of cohort_columns(study)
    measures: pd.DataFrame  # measures.csv
    events: pd.DataFrame  # study_id, event, date, days_from_surgery
    quality: QualityLog  # data_quality.json via .to_dict()
    n_resources: int  # resources read
    n_unmappable: int  # resources rejected (quality gate)


def cohort_columns(study: StudyDefinition) -> list[str]:
    """cohort.csv's columns: the first ones, the facts, follow-up, the endpoints, the complication and event
    flags, death, the reoperations."""
    return [*FIRST_COLUMNS, *study.fact_columns, "followup_months", *study.endpoint_columns, *study.flag_columns,
            "death", *study.reoperation_columns]


def map_cohort(
    source: ResourceSource,
    study: StudyDefinition,
    *,
    source_id: str,
    pseudonym_key: bytes,
    cutoff: date | None = None,
) -> Cohort:
    """Map every Patient/Procedure/Condition/Observation of ``source`` to the study's cohort tables.

    ``cutoff``: the data cut-off (the snapshot's extraction date, UTC). Surgery after it leaves the patient
    out of the cohort; values, events and deaths dated after it are not used (docs/mapping.md, *Impossible
    dates*); ``None``: no cut-off rule.

    Runs in this process: no worker processes are forked (the scheduler's process has threads, and a
    nightly job gains little from them); ``build_cohort(workers=...)`` opts in.
    """
    return build_cohort(source, study, source_id=source_id, pseudonym_key=pseudonym_key, workers=0, cutoff=cutoff)


def build_cohort(
    source: ResourceSource,
    study: StudyDefinition,
    *,
    source_id: str,
    pseudonym_key: bytes,
    workers: int | None = None,
    lazy: bool = True,
    validate: bool = True,
    cutoff: date | None = None,
) -> Cohort:
    """:func:`map_cohort` with the performance knobs exposed (benchmarks, tests).

    ``workers``: worker processes for validation (0 = in-process, None = by machine and volume).
    ``lazy``: do not validate what cannot reach the cohort tables (unrelated codes, instrument values outside
    every timepoint window); such resources only compete for a patient's last contact, and the few latest
    of them are validated at the end. ``lazy=False`` validates every resource of a cohort patient.
    ``validate=False`` skips fhir.resources altogether: only to measure its cost (bench/mapping.py).
    ``cutoff``: as in :func:`map_cohort`.
    """
    runner = Runner(study, workers=workers, validate=validate)
    try:
        pipeline = Pipeline(study, runner, source_id=source_id, key=pseudonym_key, lazy=lazy, cutoff=cutoff)
        collected = pipeline.run(source)
    finally:
        runner.close()
    return _tables(collected, study, cutoff)


def _tables(collected: Collected, study: StudyDefinition, cutoff: date | None) -> Cohort:
    log = collected.quality.add
    per_patient: list[PatientTables] = []
    for pid in sorted(collected.cohort):
        tables = assemble(collected.patients[pid], study, log, cutoff)
        if tables is not None:
            per_patient.append(tables)
    per_patient.sort(key=lambda t: (t.row["surgery_date"], t.row["study_id"]))
    patients = pd.DataFrame([t.row for t in per_patient], columns=cohort_columns(study))
    patients["age_at_surgery"] = patients["age_at_surgery"].astype("Int64")
    flags = [name for name, fact in study.facts.items() if fact.is_flag]
    endpoints = [endpoint.columns for endpoint in study.endpoints.values()]
    for column in (*flags, *(event for _, event in endpoints), *study.flag_columns, "death", *study.reoperations):
        patients[column] = patients[column].astype("int64")
    months = (*(months for months, _ in endpoints), *(f"{key}_months" for key in study.reoperations))
    for column in ("followup_months", *months):
        patients[column] = patients[column].astype("float64")
    measures = pd.DataFrame([m for t in per_patient for m in t.measures], columns=list(MEASURE_COLUMNS))
    measures = measures.astype({"value": "float64", "days_from_surgery": "int64"})
    events = pd.DataFrame([e for t in per_patient for e in t.events], columns=list(EVENT_COLUMNS))
    events = events.astype({"days_from_surgery": "int64"})
    return Cohort(patients, measures, events, collected.quality, collected.n_resources, collected.n_unmappable)
