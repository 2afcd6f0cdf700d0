"""Observations: instrument values, the values of observation_value and body_site facts, and cancer disease
status (progression events, as the study's [progression] names them)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from config.study import Coding
from mapping import dates, reasons, values
from mapping.codes import CodeIndex, normalise_system, values_role
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
    observed = codes.observed_fact(concept) if not instruments else None
    if instruments:
        facts = _measure(resource, instruments[0], (when, field), codes, issues)
    elif observed is not None:
        facts = _observed(resource, observed, when, codes, issues)
    elif codes.matches(concept, "status"):
        facts = _disease_status(resource, when, field, codes, issues)
        if not facts and not any(i.reason == NO_DATE for i in issues):
            return Extracted("Observation", rid, subject, OTHER, (), tuple(issues), latest)
    else:
        facts = _body_sites(resource, when, codes)
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
    instrument = codes.study.instruments[name]
    reading = values.read(resource, instrument)
    converted = values.convert(reading, instrument)
    if converted.problem:
        issues.append(Issue(reading.field, converted.problem))
        return []
    if converted.note:
        issues.append(Issue(reading.field, converted.note))
    rank = OBSERVATION_RANK.get(str(resource.get("status")), 1)
    return [Fact("measure", name, when, converted.value, rank)]


def _observed(
    resource: dict[str, Any], name: str, when: dates.When | None, codes: CodeIndex, issues: list[Issue]
) -> list[Fact]:
    """An observation_value fact: the key of its values matching valueCodeableConcept (Fact key: the fact)."""
    keys = codes.keys(resource.get("valueCodeableConcept"), values_role(name))
    label = reasons.inline(codes.study.facts[name].label)
    if not keys:
        issues.append(Issue("valueCodeableConcept", reasons.FACT_VALUE_UNKNOWN.format(label)))
        return []
    if len(keys) > 1:
        issues.append(Issue("valueCodeableConcept", reasons.CODINGS_DISAGREE.format(f"{name} values")))
    return [Fact("observed", name, when, extra=keys[0])]


def _body_sites(resource: dict[str, Any], when: dates.When | None, codes: CodeIndex) -> list[Fact]:
    """Body_site facts coded or valued by the Observation (Fact key: the fact, extra: the values found)."""
    facts = []
    for name in codes.body_sites:
        role = values_role(name)
        keys = codes.keys(resource.get("code"), role) + codes.keys(resource.get("valueCodeableConcept"), role)
        if keys:
            facts.append(Fact("body_site", name, when, extra=tuple(dict.fromkeys(keys))))
    return facts


def _disease_status(
    resource: dict[str, Any], when: dates.When | None, field: str, codes: CodeIndex, issues: list[Issue]
) -> list[Fact]:
    codings_found = set(_qualifier_codings(resource))
    table = codes.by_role
    distant = any(c in table["distant"] for c in codings_found)
    worsened = any(c in table["worsened"] for c in codings_found)
    local = any(c in table["local"] for c in codings_found)
    progression = codes.study.progression
    keys: list[str] = []
    events = (("distant", progression.distant, distant), ("local", progression.local, worsened and local))
    for kind, key, seen in events:
        if seen and key is None:
            issues.append(Issue("valueCodeableConcept", reasons.PROGRESSION_NOT_MAPPED.format(kind)))
        elif seen and key is not None:
            keys.append(key)
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
