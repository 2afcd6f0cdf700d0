"""Conditions: the diagnosis (its group, histology, related primary condition), primary-site Conditions,
complications and events, and relapses of the diagnosis (the [progression] ``local`` event).

Whether a complication or event counts (onset after surgery) is decided per patient at assembly; here each
Condition only says what it is and when it began: ``onset[x]``, or ``recordedDate`` when onset is absent.
"""

from __future__ import annotations

from typing import Any

from mapping import dates, reasons
from mapping.codes import CodeIndex
from mapping.facts import EXCLUDED, OTHER, REJECTED, USED, Extracted, Fact, Issue, patient_reference
from mapping.statuses import CONDITION_EXCLUDED, CONDITION_NOTED, clinical, verification

ONSET = ("onsetDateTime", "onsetPeriod.start", "onsetString", "recordedDate")
NO_DATE = reasons.NO_ONSET
CLINICAL_DATES = (
    "onsetDateTime", "onsetPeriod.start", "onsetPeriod.end", "abatementDateTime", "abatementPeriod.end", "recordedDate",
)


def extract_condition(resource: dict[str, Any], rid: str, subject: str, codes: CodeIndex) -> Extracted:
    status = verification(resource)
    if status in CONDITION_EXCLUDED:
        issue = Issue("verificationStatus", reasons.EXCLUDED_VERIFICATION.format(status))
        return Extracted("Condition", rid, subject, EXCLUDED, issues=(issue,))
    issues: list[Issue] = []
    onset, field = dates.first_of(resource, *ONSET)
    facts = _events(resource, codes, onset, field, issues) + _diagnosis(resource, codes, onset)
    latest = dates.latest_of(resource, *CLINICAL_DATES)
    concept = resource.get("code")
    for code in codes.unknown_local(concept):
        issues.append(Issue("code", reasons.UNKNOWN_LOCAL_CODE.format(code)))
    if not facts:
        unusable = any(i.reason == NO_DATE or i.field == "code" for i in issues)
        return Extracted("Condition", rid, subject, REJECTED if unusable else OTHER, (), tuple(issues), latest)
    if onset is not None and onset.partial:
        issues.insert(0, Issue(field, dates.partial_note(onset)))
    if status in CONDITION_NOTED:
        issues.append(Issue("verificationStatus", reasons.USED_VERIFICATION.format(status)))
    return Extracted("Condition", rid, subject, USED, tuple(facts), tuple(issues), latest)


def _events(
    resource: dict[str, Any], codes: CodeIndex, onset: dates.When | None, field: str, issues: list[Issue]
) -> list[Fact]:
    concept = resource.get("code")
    keys = codes.keys(concept, "complication") + codes.keys(concept, "event")
    local = codes.study.progression.local
    relapse = clinical(resource) == "relapse" and codes.group(concept) is not None
    if relapse and local is None:
        issues.append(Issue("clinicalStatus", reasons.PROGRESSION_NOT_MAPPED.format("local")))
        relapse = False
    if not keys and not relapse:
        return []
    if onset is None:
        issues.append(Issue(field, NO_DATE))
        return []
    if len(keys) > 1:
        issues.append(Issue("code", reasons.CODINGS_DISAGREE.format("complications/events")))
    facts = [Fact("complication" if keys[0] in codes.study.complications else "event", keys[0], onset)] if keys else []
    if relapse and local is not None:
        recorded = dates.parse(resource.get("recordedDate"))
        facts.append(Fact("relapse", local, onset, extra=recorded))
    return facts


def _diagnosis(resource: dict[str, Any], codes: CodeIndex, onset: dates.When | None) -> list[Fact]:
    concept = resource.get("code")
    facts: list[Fact] = [Fact("site", site, onset) for site in codes.keys(concept, "site")]
    group = codes.group(concept)
    if group is None:
        return facts
    histology = codes.keys(concept, "histology")
    related: str | None = None
    for extension in resource.get("extension") or ():
        if not isinstance(extension, dict):
            continue
        if extension.get("url") == codes.study.histology_extension:
            histology += codes.keys(extension.get("valueCodeableConcept"), "histology")
        elif extension.get("url") == codes.study.related_primary_extension:
            related = patient_reference(extension.get("valueReference"))[1]
    sites = tuple(fact.key for fact in facts)
    facts.append(Fact("diagnosis", group, onset, extra=(histology[0] if histology else None, related, sites)))
    return facts
