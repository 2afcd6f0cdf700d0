"""Streaming the snapshot through validation and extraction, patient by patient state kept in memory.

Order: Patients, then Procedures (which define the cohort: patients with an index procedure), then
Conditions and Observations. Before validation, each resource is triaged cheaply on its raw dict:

* subject missing, not a Patient, or a Patient not in the pull -> logged, rejected;
* subject not in the cohort (no index procedure) -> read, not used, not validated;
* coded with a study code (or a code of the study's own CodeSystem) -> validated and extracted, except
  instrument values dated outside every timepoint window (logged; they cannot reach measures.csv);
* anything else -> it only matters as a clinical date for ``last_contact``: its date is kept as a
  candidate and only the few latest candidates per patient are validated, at the end (a candidate that
  fails validation is logged and the next one is tried).

With a data cut-off, index procedures dated after it do not count (a patient with no other is not in the
cohort), and dates after it never become a clinical date for ``last_contact`` (the resources are noted in
``PatientState.late`` and logged at assembly, for cohort patients only).

With ``lazy=False`` every resource of a cohort patient is validated and extracted.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from itertools import count
from typing import Any

from config.errors import MappingError
from config.study import StudyDefinition
from mapping import dates, reasons, statuses
from mapping.codes import CodeIndex
from mapping.conditions import CLINICAL_DATES as CONDITION_DATES
from mapping.extract import Job
from mapping.facts import EXCLUDED, REJECTED, Extracted, Fact, PatientInfo, resource_id, subject_of
from mapping.observations import CLINICAL_DATES as OBSERVATION_DATES
from mapping.observations import EFFECTIVE
from mapping.patients import pseudonym
from mapping.procedures import PERFORMED
from mapping.quality import QualityEntry, QualityLog
from mapping.runner import Runner

CANDIDATES_KEPT = 3
LATEST_PATHS = {"Procedure": PERFORMED[:3], "Condition": CONDITION_DATES, "Observation": OBSERVATION_DATES}


@dataclass
class PatientState:
    info: PatientInfo
    study_id: str
    facts: list[tuple[str, Fact]] = field(default_factory=list)  # (resource id, fact)
    stamps: list[dates.When] = field(default_factory=list)  # latest clinical date of every used resource
    late: list[tuple[str, str]] = field(default_factory=list)  # (type, id): latest date after the cut-off
    candidates: list[tuple[tuple[date, int], int, str, dict[str, Any], str]] = field(default_factory=list)


@dataclass
class Collected:
    """Everything the stream produced; assembly turns it into the cohort tables."""

    patients: dict[str, PatientState] = field(default_factory=dict)
    cohort: set[str] = field(default_factory=set)
    quality: QualityLog = field(default_factory=QualityLog)
    n_resources: int = 0
    n_unmappable: int = 0


class Pipeline:
    def __init__(
        self,
        study: StudyDefinition,
        runner: Runner,
        *,
        source_id: str,
        key: bytes,
        lazy: bool = True,
        cutoff: date | None = None,
    ) -> None:
        self.study = study
        self.cutoff = cutoff
        self.codes = CodeIndex(study)
        self.runner = runner
        self.source_id = source_id
        self.key = key
        self.lazy = lazy
        self.out = Collected()
        self._seen: dict[str, set[str]] = {}
        self._unusable_patients: set[str] = set()
        self._study_ids: dict[str, str] = {}  # FHIR id -> study id
        self._used_ids: set[str] = set()
        self._tiebreak = count()
        self._surgery: dict[str, date] = {}

    # ------------------------------------------------------------------ phases

    def run(self, source: Any) -> Collected:
        self._consume(self.runner.run(self._triage_patients(source.iter_resources("Patient"))))
        self._consume(self.runner.run(self._triage(source.iter_resources("Procedure"), "Procedure")))
        future = {pid for pid, state in sorted(self.out.patients.items()) if self._drop_future_index(state)}
        self._surgery = {pid: day for pid, state in self.out.patients.items() if (day := _first_index(state))}
        self.out.cohort = set(self._surgery)
        for pid in sorted(set(self.out.patients) - self.out.cohort):
            state = self.out.patients[pid]
            reason = reasons.SURGERY_AFTER_CUTOFF if pid in future else reasons.NOT_IN_COHORT
            self.out.quality.add("Patient", state.study_id, "Procedure", reason)
        for resource_type in ("Condition", "Observation"):
            self._consume(self.runner.run(self._triage(source.iter_resources(resource_type), resource_type)))
        self._settle_candidates()
        return self.out

    # ------------------------------------------------------------------ triage (raw dicts, this process)

    def _triage_patients(self, resources: Iterator[dict[str, Any]]) -> Iterator[Job]:
        for resource in resources:
            self.out.n_resources += 1
            if not isinstance(resource, dict):
                self._reject("Patient", "", "(resource)", reasons.NOT_AN_OBJECT)
                continue
            rid = resource_id(resource, self.key)
            if rid.startswith("hash:"):
                self._reject("Patient", rid, "id", reasons.PATIENT_WITHOUT_ID)
                continue
            if self._duplicate("Patient", rid):
                continue
            yield "Patient", resource, rid, rid

    def _triage(self, resources: Iterator[dict[str, Any]], resource_type: str) -> Iterator[Job]:
        cohort_known = resource_type in ("Condition", "Observation")
        for resource in resources:
            self.out.n_resources += 1
            if not isinstance(resource, dict):
                self._reject(resource_type, "", "(resource)", reasons.NOT_AN_OBJECT)
                continue
            rid = resource_id(resource, self.key)
            if self._duplicate(resource_type, rid):
                continue
            ref_type, pid = subject_of(resource)
            if pid is None or ref_type != "Patient":
                self._reject(resource_type, rid, "subject", reasons.NO_SUBJECT)
                continue
            if pid not in self.out.patients:
                reason = reasons.INVALID_PATIENT if pid in self._unusable_patients else reasons.MISSING_PATIENT
                self._reject(resource_type, rid, "subject", reason)
                continue
            if cohort_known and pid not in self.out.cohort:
                continue
            if self._worth_validating(resource_type, resource, rid, pid):
                yield resource_type, resource, rid, pid

    def _worth_validating(self, resource_type: str, resource: dict[str, Any], rid: str, pid: str) -> bool:
        """False for resources that cannot reach the cohort tables: they are kept as last-contact candidates."""
        if not self.lazy:
            return True
        concept = resource.get("code")
        if not self.codes.is_relevant(resource_type, concept):
            self._candidate(resource_type, resource, rid, pid)
            return False
        if resource_type != "Observation" or not self.codes.matches(concept, "instrument"):
            return True
        when, _ = dates.first_of(resource, *EFFECTIVE)
        if when is None or statuses.excluded(resource_type, resource) or self._in_some_window(when, pid):
            return True
        if self._after_cutoff(when):
            return True  # validated and mapped, so that assembly logs the value as dated after the cut-off
        self.out.quality.add(resource_type, rid, "effective[x]", reasons.OUTSIDE_WINDOWS)
        self._candidate(resource_type, resource, rid, pid)
        return False

    def _in_some_window(self, when: dates.When, pid: str) -> bool:
        """Could the value fall in a timepoint window? One day of slack for the time-zone rule."""
        surgery = self._surgery[pid]
        low, high = (when.first - surgery).days - 1, (when.last - surgery).days + 1
        return any(window.low <= high and low <= window.high for window in self.study.timepoints.values())

    def _candidate(self, resource_type: str, resource: dict[str, Any], rid: str, pid: str) -> None:
        if statuses.excluded(resource_type, resource):
            return
        when = dates.latest_of(resource, *LATEST_PATHS[resource_type])
        if when is None:
            return
        if self._after_cutoff(when):
            self.out.patients[pid].late.append((resource_type, rid))
            return
        heap = self.out.patients[pid].candidates
        item = (when.sort_key(), next(self._tiebreak), resource_type, resource, rid)
        if len(heap) < CANDIDATES_KEPT:
            heapq.heappush(heap, item)
        elif item[0] > heap[0][0]:
            heapq.heapreplace(heap, item)

    # ------------------------------------------------------------------ results

    def _consume(self, results: Iterator[Extracted]) -> None:
        for result in results:
            if result.resource_type == "Patient":
                self._add_patient(result)
                continue
            self._log(result)
            if result.outcome in (REJECTED, EXCLUDED) or result.subject is None:
                continue
            state = self.out.patients[result.subject]
            self._stamp(state, result)
            state.facts.extend((result.rid, fact) for fact in result.facts)

    def _add_patient(self, result: Extracted) -> None:
        study_id = self._study_id(result)
        self.out.quality.extend(
            [_entry("Patient", study_id, issue.field, issue.reason) for issue in result.issues]
        )
        if result.outcome == REJECTED or result.patient is None:
            self.out.n_unmappable += 1
            self._unusable_patients.add(result.rid)
            return
        if study_id in self._used_ids:
            self._reject("Patient", study_id, "identifier", reasons.DUPLICATE_STUDY_ID)
            self._unusable_patients.add(result.rid)
            return
        self._study_ids[result.rid] = study_id
        self._used_ids.add(study_id)
        state = PatientState(result.patient, study_id)
        if result.latest is not None and not self._after_cutoff(result.latest):  # a death after it: see assembly
            state.stamps.append(result.latest)
        self.out.patients[result.rid] = state

    def _study_id(self, result: Extracted) -> str:
        if result.patient is not None and result.patient.study_identifier:
            return result.patient.study_identifier
        study_id = pseudonym(self.study, self.source_id, result.rid, self.key)
        if study_id in self._used_ids:
            raise MappingError("two patients received the same pseudonym; use a different pseudonym key")
        return study_id

    def _settle_candidates(self) -> None:
        """Validate the latest unrelated resources of each cohort patient until one gives a clinical date.

        Candidates within a day of the first valid one are validated too: the time-zone rule may still
        move either of them by a day.
        """
        for pid in sorted(self.out.cohort):
            state = self.out.patients[pid]
            ordered = sorted(state.candidates, reverse=True)
            state.candidates = []
            found: date | None = None
            for (day, _), _, rtype, resource, rid in ordered:
                if found is not None and (found - day).days > 1:
                    break
                result = self.runner.extractor((rtype, resource, rid, pid))
                self._log(result)
                if result.outcome not in (REJECTED, EXCLUDED) and self._stamp(state, result):
                    found = found or day

    # ------------------------------------------------------------------ the data cut-off

    def _after_cutoff(self, when: dates.When) -> bool:
        return self.cutoff is not None and dates.after_cutoff(when, self.cutoff)

    def _stamp(self, state: PatientState, result: Extracted) -> bool:
        """Keep the resource's latest date for ``last_contact``; False when it has none or it lies after the
        cut-off (noted for the log unless a fact of the resource is after it: assembly logs that fact)."""
        if result.latest is None:
            return False
        if not self._after_cutoff(result.latest):
            state.stamps.append(result.latest)
            return True
        if not any(fact.when is not None and self._after_cutoff(fact.when) for fact in result.facts):
            state.late.append((result.resource_type, result.rid))
        return False

    def _drop_future_index(self, state: PatientState) -> bool:
        """Remove index procedures dated after the cut-off (logged); True when one was removed."""
        future = [(rid, f) for rid, f in state.facts if f.kind == "index" and f.when and self._after_cutoff(f.when)]
        for rid, _ in future:
            self.out.quality.add("Procedure", rid, "performed[x]", reasons.INDEX_AFTER_CUTOFF)
        if future:
            state.facts = [item for item in state.facts if item not in future]
        return bool(future)

    def _log(self, result: Extracted) -> None:
        if result.outcome == REJECTED:
            self.out.n_unmappable += 1
        self.out.quality.extend(
            [_entry(result.resource_type, result.rid, issue.field, issue.reason) for issue in result.issues]
        )

    def _reject(self, resource_type: str, rid: str, field_name: str, reason: str) -> None:
        self.out.n_unmappable += 1
        self.out.quality.add(resource_type, rid, field_name, reason)

    def _duplicate(self, resource_type: str, rid: str) -> bool:
        seen = self._seen.setdefault(resource_type, set())
        if rid not in seen:
            seen.add(rid)
            return False
        shown = self._study_ids.get(rid, "") if resource_type == "Patient" else rid
        if resource_type == "Patient" and not shown:
            shown = pseudonym(self.study, self.source_id, rid, self.key)
        self.out.quality.add(resource_type, shown, "id", reasons.DUPLICATE_ID)
        return True


def _first_index(state: PatientState) -> date | None:
    return min((f.when.day for _, f in state.facts if f.kind == "index" and f.when is not None), default=None)


def _entry(resource_type: str, rid: str, field_name: str, reason: str) -> QualityEntry:
    return QualityEntry(resource_type, rid, field_name, reason)
