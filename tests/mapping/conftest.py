"""Hand-written FHIR resources for the mapping tests, built from small readable helpers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from config.study import StudyDefinition, load_study
from mapping import Cohort, build_cohort

LOCAL = "https://example.org/fhir/CodeSystem/pelvic-outcomes"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
ICDO3 = "http://terminology.hl7.org/CodeSystem/icd-o-3"
UCUM = "http://unitsofmeasure.org"
HISTOLOGY_EXT = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-histology-morphology-behavior"
RELATED_EXT = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-related-primary-cancer-condition"
KEY = b"test-key"
SOURCE = "https://fhir.example.org/fhir"

Resource = dict[str, Any]


class ListSource:
    """A ResourceSource over a list of resources (any types, in any order)."""

    def __init__(self, resources: list[Resource]) -> None:
        self.by_type: dict[str, list[Resource]] = defaultdict(list)
        for resource in resources:
            self.by_type[resource["resourceType"]].append(resource)

    def iter_resources(self, resource_type: str) -> Iterator[Resource]:
        return iter(self.by_type.get(resource_type, []))


def cc(*codings: tuple[str, str], text: str | None = None) -> dict[str, Any]:
    concept: dict[str, Any] = {"coding": [{"system": s, "code": c} for s, c in codings]}
    if text:
        concept["text"] = text
    return concept


class Fhir:
    """Builders; every id is unique unless given."""

    def __init__(self) -> None:
        self._n = 0

    def _id(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def patient(
        self, pid: str = "p1", gender: str = "male", birth: str | None = "1980-03-15", **extra: Any
    ) -> Resource:
        resource: Resource = {
            "resourceType": "Patient",
            "id": pid,
            "gender": gender,
            "identifier": [{"system": "urn:oid:1.2.3.4", "value": f"MRN-{pid}"}],
            "name": [{"family": "Testperson", "given": ["Anna"]}],
        }
        if birth:
            resource["birthDate"] = birth
        resource.update(extra)
        return resource

    def index(
        self,
        pid: str = "p1",
        date: str = "2022-06-10",
        kind: str = "standard",
        zones: tuple[str, ...] = ("I", "II"),
        margin: str | None = "wide",
        **extra: Any,
    ) -> Resource:
        resource: Resource = {
            "resourceType": "Procedure",
            "id": self._id("proc"),
            "status": "completed",
            "code": cc((LOCAL, f"pelvic-prosthesis-{kind}")),
            "subject": {"reference": f"Patient/{pid}"},
            "performedDateTime": date,
            "bodySite": [cc((LOCAL, f"enneking-zone-{z}")) for z in zones] + [cc((SNOMED, "12921003"))],
        }
        if margin:
            resource["outcome"] = cc((LOCAL, f"margin-{margin}"))
        resource.update(extra)
        return resource

    def condition(self, pid: str, *codings: tuple[str, str], onset: str | None = None, **extra: Any) -> Resource:
        resource: Resource = {
            "resourceType": "Condition",
            "id": self._id("cond"),
            "code": cc(*codings),
            "subject": {"reference": f"Patient/{pid}"},
            "clinicalStatus": cc(("http://terminology.hl7.org/CodeSystem/condition-clinical", "active")),
        }
        if onset:
            resource["onsetDateTime"] = onset
        resource.update(extra)
        return resource

    def complication(self, pid: str, code: str, onset: str, **extra: Any) -> Resource:
        return self.condition(pid, (LOCAL, code), onset=onset, **extra)

    def primary(self, pid: str = "p1", morphology: str = "9220/3", onset: str = "2022-04-01") -> Resource:
        extension = [{"url": HISTOLOGY_EXT, "valueCodeableConcept": cc((ICDO3, morphology))}]
        return self.condition(pid, (ICD10, "C41.4"), onset=onset, extension=extension)

    def secondary(self, pid: str, related: str, onset: str = "2022-04-01") -> Resource:
        extension = [{"url": RELATED_EXT, "valueReference": {"reference": f"Condition/{related}"}}]
        return self.condition(pid, (ICD10, "C79.51"), onset=onset, extension=extension)

    def observation(
        self, pid: str, code: tuple[str, str], date: str | None = None, *, status: str = "final", **value: Any
    ) -> Resource:
        resource: Resource = {
            "resourceType": "Observation",
            "id": self._id("obs"),
            "status": status,
            "code": cc(code),
            "subject": {"reference": f"Patient/{pid}"},
        }
        if date:
            resource["effectiveDateTime"] = date
        resource.update(value)
        return resource

    def vas(self, pid: str, date: str, value: float, **extra: Any) -> Resource:
        return self.observation(pid, (LOINC, "72514-3"), date, valueInteger=value, **extra)

    def kps(self, pid: str, date: str, value: int, **extra: Any) -> Resource:
        return self.observation(pid, (LOINC, "89243-0"), date, valueInteger=value, **extra)

    def status(self, pid: str, date: str, *codings: tuple[str, str], code: str = "97509-4", **extra: Any) -> Resource:
        return self.observation(pid, (LOINC, code), date, valueCodeableConcept=cc(*codings), **extra)

    def basic(self, pid: str = "p1", date: str = "2022-06-10", **index: Any) -> list[Resource]:
        """A patient with an index procedure and a primary chondrosarcoma."""
        return [self.patient(pid), self.index(pid, date, **index), self.primary(pid)]


@pytest.fixture
def fhir() -> Fhir:
    return Fhir()


@pytest.fixture(scope="session")
def study() -> StudyDefinition:
    return load_study()


@pytest.fixture
def run(study: StudyDefinition):  # type: ignore[no-untyped-def]
    def _run(resources: list[Resource], *, study_def: StudyDefinition | None = None, **options: Any) -> Cohort:
        options.setdefault("workers", 0)
        return build_cohort(ListSource(resources), study_def or study, source_id=SOURCE, pseudonym_key=KEY, **options)

    return _run
