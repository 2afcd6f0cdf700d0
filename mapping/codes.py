"""Looking codings up in the study definition.

:class:`CodeIndex` turns the study's (system, code) frozensets into one dictionary per role, so a
CodeableConcept is matched with a few dict look-ups. Systems are normalised first (OID and https
spellings of LOINC/SNOMED/ICD-10, trailing slashes); ICD-10 codes match with or without their dot.
Several codings in one CodeableConcept are alternatives for one concept: any of them may match.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from config.study import Coding, StudyDefinition

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
UCUM = "http://unitsofmeasure.org"

SYSTEM_ALIASES: Mapping[str, str] = {
    "urn:oid:2.16.840.1.113883.6.1": LOINC,
    "https://loinc.org": LOINC,
    "http://loinc.org/": LOINC,
    "urn:oid:2.16.840.1.113883.6.96": SNOMED,
    "https://snomed.info/sct": SNOMED,
    "urn:oid:2.16.840.1.113883.6.90": ICD10CM,
    "urn:oid:2.16.840.1.113883.6.8": UCUM,
}
STANDARD_SYSTEMS = frozenset(
    {LOINC, SNOMED, ICD10CM, ICD10, UCUM, "http://terminology.hl7.org/CodeSystem/icd-o-3"}
)
_DOTLESS_SYSTEMS = frozenset({ICD10CM, ICD10})

# Roles a coding can play; each maps the coding to a key of the study definition. Besides these, per
# diagnosis group ``condition:GROUP`` (the group's Condition codes), per body_site fact ``values:FACT`` and
# per observation_value fact ``code:FACT`` (the Observation code) and ``values:FACT`` (its values).
ROLES = (
    "index", "histology", "site", "instrument", "complication", "event", "status", "worsened", "distant", "local",
    "reoperation",
)


def condition_role(group: str) -> str:
    """The role of a diagnosis group's Condition codes."""
    return f"condition:{group}"


def code_role(fact: str) -> str:
    """The role of an observation_value fact's Observation code."""
    return f"code:{fact}"


def values_role(fact: str) -> str:
    """The role of a body_site or observation_value fact's value codes."""
    return f"values:{fact}"


def normalise_system(system: str) -> str:
    return SYSTEM_ALIASES.get(system) or system.rstrip("/")


def codings(concept: Any) -> list[Coding]:
    """The (system, code) pairs of a CodeableConcept (or a bare Coding), normalised."""
    if not isinstance(concept, dict):
        return []
    items = concept.get("coding")
    if items is None and "code" in concept:
        items = [concept]
    out: list[Coding] = []
    for item in items or ():
        if isinstance(item, dict):
            system, code = item.get("system"), item.get("code")
            if isinstance(system, str) and isinstance(code, str):
                out.append((normalise_system(system), code.strip()))
    return out


class CodeIndex:
    """The study's codes by role, for fast matching of raw resource dicts."""

    def __init__(self, study: StudyDefinition) -> None:
        self.study = study
        self.by_role: dict[str, dict[Coding, str]] = {role: {} for role in ROLES}
        single = {
            "status": study.disease_status_code, "worsened": study.disease_status_worsened,
            "distant": study.disease_status_distant, "local": study.disease_status_local,
        }
        for role, codes in single.items():
            self._add(role, {"": codes})
        self._add("index", study.index_procedure)
        self.groups = tuple(study.diagnosis)
        for name, group in study.diagnosis.items():
            self._add(condition_role(name), {name: group.condition})
            self._add("histology", group.histology)
            self._add("site", group.primary_site)
        self.body_sites = tuple(name for name, fact in study.facts.items() if fact.source == "body_site")
        self.observed = tuple(name for name, fact in study.facts.items() if fact.source == "observation_value")
        for name in self.body_sites:
            self._add(values_role(name), study.facts[name].values)
        for name in self.observed:
            self._add(code_role(name), {name: study.facts[name].code})
            self._add(values_role(name), study.facts[name].values)
        self._add("instrument", {name: spec.codes for name, spec in study.instruments.items()})
        self._add("complication", study.complications)
        self._add("event", study.events)
        self._add("reoperation", study.reoperations)
        self.local_systems = frozenset(
            normalise_system(uri) for uri in study.systems.values()
        ) - STANDARD_SYSTEMS
        self.known: frozenset[Coding] = frozenset(c for table in self.by_role.values() for c in table)
        condition_roles = ["complication", "event", "site", "histology", *map(condition_role, self.groups)]
        observation_roles = ["instrument", "status", *map(code_role, self.observed),
                             *map(values_role, self.body_sites)]
        self.relevant: dict[str, frozenset[Coding]] = {
            "Procedure": frozenset(self.by_role["index"]) | frozenset(self.by_role["reoperation"]),
            "Condition": frozenset(c for role in condition_roles for c in self.by_role[role]),
            "Observation": frozenset(c for role in observation_roles for c in self.by_role[role]),
        }

    def _add(self, role: str, table: Mapping[str, Iterable[Coding]]) -> None:
        target = self.by_role.setdefault(role, {})
        for key, codes in table.items():
            for raw_system, code in codes:
                system = normalise_system(raw_system)
                target[(system, code)] = key
                if system in _DOTLESS_SYSTEMS:
                    target[(system, code.replace(".", ""))] = key

    def keys(self, concept: Any, role: str) -> list[str]:
        """Distinct keys of ``role`` matched by the concept's codings, in coding order."""
        table = self.by_role[role]
        out: list[str] = []
        for coding in codings(concept):
            key = table.get(coding)
            if key is not None and key not in out:
                out.append(key)
        return out

    def matches(self, concept: Any, role: str) -> bool:
        table = self.by_role[role]
        return any(coding in table for coding in codings(concept))

    def group(self, concept: Any) -> str | None:
        """The first diagnosis group (in the study file's order) whose Condition codes the concept has."""
        return next((name for name in self.groups if self.matches(concept, condition_role(name))), None)

    def observed_fact(self, concept: Any) -> str | None:
        """The first observation_value fact (in the study file's order) whose Observation code the concept has."""
        return next((name for name in self.observed if self.matches(concept, code_role(name))), None)

    def is_relevant(self, resource_type: str, concept: Any) -> bool:
        """Does the concept carry a study code for this resource type, or any code of the study's own system?

        The hot path of triage (every resource of a cohort patient), hence written out without ``codings``.
        """
        items = concept.get("coding") if isinstance(concept, dict) else None
        if not isinstance(items, list):
            return False
        relevant, local = self.relevant[resource_type], self.local_systems
        for item in items:
            if not isinstance(item, dict):
                continue
            system, code = item.get("system"), item.get("code")
            if not isinstance(system, str) or not isinstance(code, str):
                continue
            system = SYSTEM_ALIASES.get(system) or system.rstrip("/")
            if system in local or (system, code.strip()) in relevant:
                return True
        return False

    def unknown_local(self, concept: Any) -> list[str]:
        """Codes of the study's own CodeSystem(s) that the study definition does not list."""
        return [
            code for system, code in codings(concept)
            if system in self.local_systems and (system, code) not in self.known
        ]
