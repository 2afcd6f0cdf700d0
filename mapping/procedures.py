"""Procedures: the index procedure (surgery date, reconstruction, Enneking zones, margin), a reoperation (the
study's ``[reoperations]`` codes: counted at assembly when performed after surgery), or a clinical date."""

from __future__ import annotations

from typing import Any

from mapping import dates, reasons
from mapping.codes import CodeIndex
from mapping.facts import EXCLUDED, OTHER, REJECTED, USED, Extracted, Fact, Issue
from mapping.statuses import PROCEDURE_EXCLUDED, PROCEDURE_NOTED

PERFORMED = ("performedDateTime", "performedPeriod.start", "performedPeriod.end", "performedString")


def extract_procedure(resource: dict[str, Any], rid: str, subject: str, codes: CodeIndex) -> Extracted:
    status = resource.get("status")
    if status in PROCEDURE_EXCLUDED:
        issue = Issue("status", reasons.EXCLUDED_STATUS.format(status))
        return Extracted("Procedure", rid, subject, EXCLUDED, issues=(issue,))
    latest = dates.latest_of(resource, *PERFORMED[:3])
    kinds = codes.keys(resource.get("code"), "index")
    if not kinds:
        return _reoperation(resource, (rid, subject), codes, status=status, latest=latest)
    issues: list[Issue] = []
    if len(kinds) > 1:
        issues.append(Issue("code", reasons.CODINGS_DISAGREE.format("reconstructions")))
    if status in PROCEDURE_NOTED:
        issues.append(Issue("status", reasons.USED_STATUS.format(status)))
    when, field = dates.first_of(resource, *PERFORMED)
    if when is None:
        issues.append(Issue(field, reasons.INDEX_WITHOUT_DATE))
        return Extracted("Procedure", rid, subject, REJECTED, issues=tuple(issues))
    if when.partial:
        issues.append(Issue(field, dates.partial_note(when)))
    zones = _zones(resource, codes, issues)
    margins = codes.keys(resource.get("outcome"), "margin_value")
    if len(margins) > 1:
        issues.append(Issue("outcome", reasons.CODINGS_DISAGREE.format("margins")))
    fact = Fact("index", kinds[0], when, extra=(zones, margins[0] if margins else None))
    return Extracted("Procedure", rid, subject, USED, (fact,), tuple(issues), latest)


def _reoperation(
    resource: dict[str, Any], ids: tuple[str, str], codes: CodeIndex, *, status: Any, latest: dates.When | None
) -> Extracted:
    rid, subject = ids
    keys = codes.keys(resource.get("code"), "reoperation")
    if not keys:
        return Extracted("Procedure", rid, subject, OTHER, latest=latest)
    issues: list[Issue] = []
    if len(keys) > 1:
        issues.append(Issue("code", reasons.CODINGS_DISAGREE.format("reoperations")))
    if status in PROCEDURE_NOTED:
        issues.append(Issue("status", reasons.USED_STATUS.format(status)))
    when, field = dates.first_of(resource, *PERFORMED)
    if when is None:
        issues.append(Issue(field, reasons.REOPERATION_WITHOUT_DATE))
        return Extracted("Procedure", rid, subject, REJECTED, issues=tuple(issues), latest=latest)
    if when.partial:
        issues.append(Issue(field, dates.partial_note(when)))
    return Extracted("Procedure", rid, subject, USED, (Fact("reoperation", keys[0], when),), tuple(issues), latest)


def _zones(resource: dict[str, Any], codes: CodeIndex, issues: list[Issue]) -> tuple[str, ...]:
    found: list[str] = []
    for index, site in enumerate(resource.get("bodySite") or ()):
        for zone in codes.keys(site, "zone"):
            if zone not in found:
                found.append(zone)
        for code in codes.unknown_local(site):
            issues.append(Issue(f"bodySite[{index}]", reasons.UNKNOWN_LOCAL_CODE.format(code)))
    return tuple(found)
