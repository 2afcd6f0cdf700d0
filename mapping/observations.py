"""Observations: instrument values, resection margin, Enneking zones and cancer disease status."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from config.study import Coding
from mapping import dates, reasons, values
from mapping.codes import CodeIndex, normalise_system
from mapping.conditions import DISTANT_METASTASIS, LOCAL_RECURRENCE
from mapping.facts import EXCLUDED, OTHER, REJECTED, USED, Extracted, Fact, Issue
from mapping.statuses import OBSERVATION_EXCLUDED, OBSERVATION_NOTED, OBSERVATION_RANK

EFFECTIVE = ("effectiveDateTime", "effectivePeriod.start", "effectiveInstant")
CLINICAL_DATES = ("effectiveDateTime", "effectivePeriod.start", "effectivePeriod.end", "effectiveInstant")
NO_DATE = reasons.NO_EFFECTIVE_DATE
_NOT_QUALIFIERS = frozenset({"code", "subject", "meta", "category", "performer", "encounter", "focus"})


def extract_observation(resource: dict[str, Any], rid: str, subject: str, codes: CodeIndex) -> Extracted:
    status = resource.get("status")
    if status in OBSERVATION_EXCLUDED:
        issue = Issue("status", reasons.EXCLUDED_STATUS.format(status))
        return Extracted("Observation", rid, subject, EXCLUDED, issues=(issue,))
    concept = resource.get("code")
    latest = dates.latest_of(resource, *CLINICAL_DATES)
    when, field = dates.first_of(resource, *EFFECTIVE)
    issues: list[Issue] = []
    facts: list[Fact] = []
    instruments = codes.keys(concept, "instrument")
    if instruments:
        facts = _measure(resource, instruments[0], (when, field), codes, issues)
    elif codes.matches(concept, "margin"):
        facts = _margin(resource, when, codes, issues)
    elif codes.matches(concept, "status"):
        facts = _disease_status(resource, when, field, codes, issues)
        if not facts and not any(i.reason == NO_DATE for i in issues):
            return Extracted("Observation", rid, subject, OTHER, (), tuple(issues), latest)
    else:
        facts = _zones(resource, when, codes)
    unknown = codes.unknown_local(concept) + codes.unknown_local(resource.get("valueCodeableConcept"))
    issues += [Issue("code", reasons.UNKNOWN_LOCAL_CODE.format(code)) for code in unknown]
    if facts:
        if when is not None and when.partial:
            issues.insert(0, Issue(field, dates.partial_note(when)))
        if status in OBSERVATION_NOTED:
            issues.append(Issue("status", reasons.USED_STATUS.format(status)))
        return Extracted("Observation", rid, subject, USED, tuple(facts), tuple(issues), latest)
    outcome = REJECTED if issues else OTHER
    return Extracted("Observation", rid, subject, outcome, (), tuple(issues), latest)


def _measure(
    resource: dict[str, Any], name: str, dated: tuple[dates.When | None, str], codes: CodeIndex, issues: list[Issue]
) -> list[Fact]:
    when, field = dated
    if when is None:
        issues.append(Issue(field, NO_DATE))
        return []
    if when.precision == "year":
        issues.append(Issue(field, reasons.YEAR_ONLY))
        return []
    reading = values.read(resource)
    converted = values.convert(reading, codes.study.instruments[name])
    if converted.problem:
        issues.append(Issue(reading.field, converted.problem))
        return []
    if converted.note:
        issues.append(Issue(reading.field, converted.note))
    rank = OBSERVATION_RANK.get(str(resource.get("status")), 1)
    return [Fact("measure", name, when, converted.value, rank)]


def _margin(resource: dict[str, Any], when: dates.When | None, codes: CodeIndex, issues: list[Issue]) -> list[Fact]:
    keys = codes.keys(resource.get("valueCodeableConcept"), "margin_value")
    if not keys:
        issues.append(Issue("valueCodeableConcept", reasons.MARGIN_UNKNOWN))
        return []
    if len(keys) > 1:
        issues.append(Issue("valueCodeableConcept", reasons.CODINGS_DISAGREE.format("margins")))
    return [Fact("margin", keys[0], when)]


def _zones(resource: dict[str, Any], when: dates.When | None, codes: CodeIndex) -> list[Fact]:
    zones = codes.keys(resource.get("code"), "zone") + codes.keys(resource.get("valueCodeableConcept"), "zone")
    return [Fact("zones", "", when, extra=tuple(dict.fromkeys(zones)))] if zones else []


def _disease_status(
    resource: dict[str, Any], when: dates.When | None, field: str, codes: CodeIndex, issues: list[Issue]
) -> list[Fact]:
    found = set(_qualifier_codings(resource))
    table = codes.by_role
    distant = any(c in table["distant"] for c in found)
    worsened = any(c in table["worsened"] for c in found)
    local = any(c in table["local"] for c in found)
    keys = ([DISTANT_METASTASIS] if distant else []) + ([LOCAL_RECURRENCE] if worsened and local else [])
    if worsened and not (local or distant):
        issues.append(Issue("valueCodeableConcept", reasons.WORSENED_WITHOUT_QUALIFIER))
    if keys and when is None:
        issues.append(Issue(field, NO_DATE))
        return []
    return [Fact("status", key, when) for key in keys]


def _qualifier_codings(node: Any, top: bool = True) -> Iterator[Coding]:
    """Every (system, code) in the resource outside its code/subject/meta: value, components, extensions…"""
    if isinstance(node, dict):
        system, code = node.get("system"), node.get("code")
        if isinstance(system, str) and isinstance(code, str):
            yield normalise_system(system), code.strip()
        for key, child in node.items():
            if not (top and key in _NOT_QUALIFIERS) and isinstance(child, dict | list):
                yield from _qualifier_codings(child, False)
    elif isinstance(node, list):
        for child in node:
            yield from _qualifier_codings(child, False)
