"""Procedures: the index procedure (surgery date, its kind, the values of the body_site facts found in its
``bodySite`` and of the observation_value facts found in its ``outcome``), a reoperation (the study's
``[reoperations]`` codes: counted at assembly when performed after surgery), or a clinical date."""

from __future__ import annotations

from typing import Any

from mapping import dates, reasons
from mapping.codes import CodeIndex, values_role
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
        issues.append(Issue("code", reasons.CODINGS_DISAGREE.format("index procedures")))
    if status in PROCEDURE_NOTED:
        issues.append(Issue("status", reasons.USED_STATUS.format(status)))
    when, field = dates.first_of(resource, *PERFORMED)
    if when is None:
        issues.append(Issue(field, reasons.INDEX_WITHOUT_DATE))
        return Extracted("Procedure", rid, subject, REJECTED, issues=tuple(issues))
    if when.partial:
        issues.append(Issue(field, dates.partial_note(when)))
    sites = _body_sites(resource, codes, issues)
    outcomes = _outcomes(resource, codes, issues)
    fact = Fact("index", kinds[0], when, extra=(sites, outcomes))
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


def _body_sites(resource: dict[str, Any], codes: CodeIndex, issues: list[Issue]) -> dict[str, tuple[str, ...]]:
    """Per body_site fact, the values found in ``bodySite`` (in the order found)."""
    found: dict[str, list[str]] = {name: [] for name in codes.body_sites}
    for index, site in enumerate(resource.get("bodySite") or ()):
        for name, keys in found.items():
            for key in codes.keys(site, values_role(name)):
                if key not in keys:
                    keys.append(key)
        for code in codes.unknown_local(site):
            issues.append(Issue(f"bodySite[{index}]", reasons.UNKNOWN_LOCAL_CODE.format(code)))
    return {name: tuple(keys) for name, keys in found.items()}


def _outcomes(resource: dict[str, Any], codes: CodeIndex, issues: list[Issue]) -> dict[str, str | None]:
    """Per observation_value fact, the value recorded as the Procedure's ``outcome`` (None: none)."""
    found: dict[str, str | None] = {}
    for name in codes.observed:
        keys = codes.keys(resource.get("outcome"), values_role(name))
        if len(keys) > 1:
            issues.append(Issue("outcome", reasons.CODINGS_DISAGREE.format(f"{name} values")))
        found[name] = keys[0] if keys else None
    return found
