"""The follow-up worklist of a run, for the study coordinator: built, kept private, mailed, never published.

The schedule is the study's (:func:`schedule`): the study file's ``[followup.schedule]``, or what its
analysis plan needs. The worklist and, where the deployment enables it, a lookup from study ids to the
hospital's patient identifiers are written into the run's private folder; the coordinator gets a
compact table by email. The board gets neither.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.worklist import Completeness, Window, WorkItem, completeness, worklist
from config.errors import ConfigError
from config.study import StudyDefinition
from mapping import pseudonym
from mapping.patients import study_identifier
from service.outputs import write_text_atomic

COLUMNS = ("study_id", "site", "instrument", "timepoint", "opens", "closes", "state")


def schedule(study: StudyDefinition, measures: pd.DataFrame) -> list[tuple[str, Window]]:
    """(instrument, window) pairs the coordinator must collect, in the study's order.

    The study file's ``[followup.schedule]`` when it has one; otherwise every instrument of the
    repeated-measures plan at its time points, the instruments of the paired comparisons at their two time
    points, and any other instrument at the time points the study has used it at (found in ``measures``).
    """
    explicit: dict[str, tuple[str, ...]] = dict(study.followup_schedule)
    if not explicit:
        for spec in study.analysis.repeated:
            explicit[spec.instrument] = (*explicit.get(spec.instrument, ()), *spec.timepoints)
        for pair in study.analysis.paired:
            explicit[pair.instrument] = (*explicit.get(pair.instrument, ()), pair.before, pair.after)
        used = set(zip(measures["instrument"], measures["timepoint"], strict=True)) if not measures.empty else set()
        for name in study.instruments:
            if name not in explicit:
                explicit[name] = tuple(tp for tp in study.timepoints if (name, tp) in used)
    return [(name, Window(tp, window.low, window.high))
            for name in study.instruments for tp, window in study.timepoints.items() if tp in explicit.get(name, ())]


def deaths(events: pd.DataFrame) -> dict[str, date]:
    rows = events[events["event"] == "death"] if not events.empty else events
    return {str(r.study_id): date.fromisoformat(str(r.date)[:10]) for r in rows.itertuples(index=False)}


def build(
    study: StudyDefinition, patients: pd.DataFrame, measures: pd.DataFrame, events: pd.DataFrame, *,
    today: date, upcoming_days: int, withdrawn: frozenset[str] = frozenset(),
) -> tuple[list[WorkItem], list[Completeness]]:
    plan = schedule(study, measures)
    items = worklist(patients, measures, plan, today=today, deaths=deaths(events), withdrawn=withdrawn,
                     upcoming_days=upcoming_days)
    return items, completeness(items, plan)


def read_withdrawn(path: Path) -> frozenset[str]:
    """The study ids in the coordinator's withdrawal list: a CSV with a ``study_id`` column (others, such as
    a date or a reason, are the coordinator's own and not read). Blank ids are skipped."""
    field = "followup.withdrawn_file"
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(field, f"{path} does not exist",
                          "create it with a header line 'study_id' and one withdrawn study id per line") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(field, f"cannot read {path}: {exc}", "save it as a UTF-8 CSV file") from None
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "study_id" not in [name.strip() for name in reader.fieldnames]:
        raise ConfigError(field, f"{path} has no study_id column", "make the first line a header: study_id")
    return frozenset(
        value.strip() for row in reader
        for key, value in row.items() if key is not None and key.strip() == "study_id" and value and value.strip()
    )


def to_csv(items: Sequence[WorkItem]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(item.as_dict() for item in items)
    return buffer.getvalue()


def table(items: Sequence[WorkItem], states: tuple[str, ...] = ("overdue", "due", "upcoming")) -> str:
    """A fixed-width table for an email body: what there is to do, by the day the window closes."""
    rows = [i for i in items if i.state in states]
    if not rows:
        return "Nothing is due, overdue or coming up."
    header = f"{'CLOSES':<10}  {'STATE':<8}  {'STUDY ID':<14}  {'SITE':<10}  {'INSTRUMENT':<22}  TIME POINT  OPENS"
    lines = [header]
    for i in sorted(rows, key=lambda r: (r.closes, r.study_id, r.instrument)):
        lines.append(f"{i.closes:<10}  {i.state:<8}  {i.study_id:<14}  {i.site or '-':<10}  {i.instrument:<22}  "
                     f"{i.timepoint:<10}  {i.opens}")
    return "\n".join(lines)


def _patients(raw: Path) -> Iterator[dict[str, Any]]:
    path = raw / "Patient.ndjson"
    if not path.exists():
        return
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                resource = json.loads(line)
            except ValueError:
                continue
            if isinstance(resource, dict) and isinstance(resource.get("id"), str):
                yield resource


def lookup(study: StudyDefinition, raw: Path, namespace: str, key: bytes, study_ids: set[str]) -> str:
    """study_id → FHIR id and the hospital's identifiers (system|value), for the coordinator's EHR search."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["study_id", "fhir_id", "identifiers"])
    for patient in _patients(raw):
        identifiers = [i for i in patient.get("identifier") or [] if isinstance(i, dict)]
        study_id = study_identifier(patient, study.study_id_system) or pseudonym(study, namespace, patient["id"], key)
        if study_id in study_ids:
            values = " ".join(f"{i.get('system', '')}|{i.get('value', '')}" for i in identifiers)
            writer.writerow([study_id, patient["id"], values])
    return buffer.getvalue()


def write_private(folder: Path, items: Sequence[WorkItem], lookup_csv: str | None) -> None:
    write_text_atomic(folder / "worklist.csv", to_csv(items))
    if lookup_csv is not None:
        write_text_atomic(folder / "coordinator_lookup.csv", lookup_csv)


def below(trend: Sequence[dict[str, Any]], minimum: float) -> list[str]:
    """The time points whose completeness is under ``minimum`` percent (0: no gate), as sentences."""
    if minimum <= 0:
        return []
    return [
        f"{c['instrument']} at {c['timepoint']} is {c['percent']:.0f}% complete ({c['done']} of {c['expected']}), "
        f"below {minimum:g}% (followup.min_completeness_percent)"
        for c in trend if c.get("percent") is not None and c["percent"] < minimum
    ]
