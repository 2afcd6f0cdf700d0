"""One resource in, one :class:`Extracted` out: validate with fhir.resources, then read the study's facts.

This is the part that runs in worker processes for large pulls, so it takes no context beyond the study
definition and never raises for bad data: an invalid or unreadable resource becomes a REJECTED result.
"""

from __future__ import annotations

from typing import Any

from config.study import StudyDefinition
from mapping import reasons
from mapping.codes import CodeIndex
from mapping.conditions import extract_condition
from mapping.facts import REJECTED, Extracted, Issue
from mapping.observations import extract_observation
from mapping.patients import extract_patient
from mapping.procedures import extract_procedure
from mapping.validate import check

Job = tuple[str, dict[str, Any], str, str]
"""(resource type, resource, id for the log, subject Patient id)."""


class Extractor:
    def __init__(self, study: StudyDefinition, validate: bool = True) -> None:
        self.study = study
        self.codes = CodeIndex(study)
        self.validate = validate

    def __call__(self, job: Job) -> Extracted:
        resource_type, resource, rid, subject = job
        if self.validate:
            invalid = check(resource_type, resource)
            if invalid is not None:
                return Extracted(resource_type, rid, subject, REJECTED, issues=(Issue(*invalid),))
        try:
            return self._extract(resource_type, resource, rid, subject)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            issue = Issue("(resource)", reasons.UNMAPPED.format(type(exc).__name__))
            return Extracted(resource_type, rid, subject, REJECTED, issues=(issue,))

    def _extract(self, resource_type: str, resource: dict[str, Any], rid: str, subject: str) -> Extracted:
        if resource_type == "Patient":
            return extract_patient(resource, rid, self.study)
        if resource_type == "Procedure":
            return extract_procedure(resource, rid, subject, self.codes)
        if resource_type == "Condition":
            return extract_condition(resource, rid, subject, self.codes)
        return extract_observation(resource, rid, subject, self.codes)

    def batch(self, jobs: list[Job]) -> list[Extracted]:
        return [self(job) for job in jobs]


_WORKER: Extractor | None = None


def init_worker(study: StudyDefinition, validate: bool) -> None:
    global _WORKER  # noqa: PLW0603 - one extractor per worker process, built once
    _WORKER = Extractor(study, validate)


def work(jobs: list[Job]) -> list[Extracted]:
    assert _WORKER is not None, "init_worker was not called"
    return _WORKER.batch(jobs)
