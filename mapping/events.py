"""Complications, events, death, follow-up and survival for one patient (see docs/mapping.md).

* A complication or event counts only when its date is after the surgery date (strictly). A partial date
  counts when its whole span is after surgery; when the span contains the surgery date it is not counted.
* A relapse Condition (clinicalStatus ``relapse``) of the diagnosis is the [progression] ``local`` event,
  dated by its onset, or by its recordedDate when the onset is not after surgery.
* Death: ``deceasedDateTime`` on or after surgery; ``deceasedBoolean`` without a date takes the last
  contact as its date. ``last_contact`` is the latest clinical date, or the death date.
* An endpoint ([endpoints.NAME]): the earliest of its events (complications, events, reoperations, death);
  otherwise censored at last contact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Any, NamedTuple

from config.study import Endpoint
from mapping import dates, reasons
from mapping.facts import Fact, PatientInfo

Log = Callable[[str, str, str, str], None]  # (resource type, id, field, reason)
EVENT_KINDS = frozenset({"complication", "event", "status", "relapse", "reoperation"})
DEATH = "death"


class Outcome(NamedTuple):
    flags: dict[str, date]  # flag column -> earliest date after surgery
    last_contact: date
    death: date | None


def event_dates(
    facts: Iterable[tuple[str, str, Fact]], surgery: date, flags: Iterable[str], log: Log
) -> dict[str, date]:
    """Earliest counted date per flag; facts are (resource type, resource id, localised fact)."""
    allowed = set(flags)
    found: dict[str, date] = {}
    for resource_type, rid, fact in facts:
        if fact.kind not in EVENT_KINDS or fact.when is None:
            continue
        if fact.key not in allowed:
            log(resource_type, rid, "code", reasons.UNKNOWN_EVENT.format(fact.key))
            continue
        day = _counted_day(resource_type, rid, fact, surgery, log)
        if day is not None and (fact.key not in found or day < found[fact.key]):
            found[fact.key] = day
    return found


def _counted_day(resource_type: str, rid: str, fact: Fact, surgery: date, log: Log) -> date | None:
    when = fact.when
    assert when is not None
    if fact.kind == "relapse" and when.last <= surgery:
        recorded = fact.extra if isinstance(fact.extra, dates.When) else None
        if recorded is not None and recorded.first > surgery:
            return recorded.day
        log(resource_type, rid, "onset[x]", reasons.RELAPSE_WITHOUT_DATE)
        return None
    if when.first > surgery:
        return when.day
    if when.last > surgery:
        log(resource_type, rid, "onset[x]", reasons.PARTIAL_SPANS_SURGERY)
    elif fact.kind != "relapse":
        log(resource_type, rid, "onset[x]", reasons.NOT_AFTER_SURGERY)
    return None


def outcome(
    info: PatientInfo,
    study_id: str,
    surgery: date,
    *,
    latest: date,
    death_when: dates.When | None,
    flags: dict[str, date],
    log: Log,
) -> Outcome:
    """Death and last contact from the localised latest clinical date and the event dates."""
    death: date | None = None
    if death_when is not None:
        if death_when.day < surgery:
            log("Patient", study_id, "deceasedDateTime", reasons.DEATH_BEFORE_SURGERY)
        else:
            death = death_when.day
    if info.deceased and death is None:
        log("Patient", study_id, "deceased[x]", reasons.DEATH_WITHOUT_DATE)
        death = latest
    if death is not None and latest > death:
        log("Patient", study_id, "deceasedDateTime", reasons.DATES_AFTER_DEATH)
    last_contact = death if death is not None else latest
    return Outcome(flags, last_contact, death)


def endpoint_columns(
    endpoint: Endpoint, surgery: date, result: Outcome, reoperations: Mapping[str, date]
) -> dict[str, Any]:
    """``<name>_months`` (to the first of the endpoint's events, else to last contact) and ``<name>_event``."""
    found = {**result.flags, **reoperations}
    if result.death is not None:
        found[DEATH] = result.death
    first = min((found[key] for key in endpoint.events if key in found), default=None)
    months, event = endpoint.columns
    return {months: dates.months_between(surgery, first if first is not None else result.last_contact),
            event: int(first is not None)}
