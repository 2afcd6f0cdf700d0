"""Impossible dates: values a cohort row must not use, each set aside with a data-quality entry.

Rules (docs/mapping.md, *Impossible dates*), applied per patient at assembly:

* a birth date after surgery, or an age at surgery above :data:`MAX_AGE` -> age unknown (the birth date is
  then not used for anything else either);
* a death date after the data cut-off -> not a death within follow-up (the patient is followed to the last
  contact, alive);
* a fact dated after the cut-off -> not used (complications and events: not counted);
* an Observation dated before the birth date or after the death date -> its value is not used;
* a resource whose latest date is after the cut-off -> that date is not a last contact (noted by the
  pipeline, logged here so that only cohort patients are logged).

Index procedures after the cut-off are removed earlier, by the pipeline: they decide who is in the cohort.
The cut-off is optional (``None``: no cut-off rule).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date

from mapping import dates, reasons
from mapping.events import EVENT_KINDS
from mapping.facts import Fact, PatientInfo

Log = Callable[[str, str, str, str], None]  # (resource type, id, field, reason)
Located = tuple[str, str, Fact]  # (resource type, resource id, localised fact)

MAX_AGE = 110
FIELDS = {"Procedure": "performed[x]", "Condition": "onset[x]", "Observation": "effective[x]"}


def age_at_surgery(birth: dates.When | None, surgery: date, study_id: str, log: Log) -> tuple[int | None,
                                                                                              dates.When | None]:
    """Completed years at surgery and the birth date, or (None, None) when there is none or it is impossible."""
    if birth is None:
        return None, None
    if birth.day > surgery:
        log("Patient", study_id, "birthDate", reasons.BIRTH_AFTER_SURGERY)
        return None, None
    age = dates.completed_years(birth.day, surgery)
    if age > MAX_AGE:
        log("Patient", study_id, "birthDate", reasons.AGE_ABOVE_LIMIT.format(MAX_AGE))
        return None, None
    return age, birth


def death_in_follow_up(
    info: PatientInfo, death: dates.When | None, cutoff: date | None, study_id: str, log: Log
) -> tuple[PatientInfo, dates.When | None]:
    """The patient's death as the row may use it: a death after the cut-off is no death within follow-up."""
    if death is None or cutoff is None or not dates.after_cutoff(death, cutoff):
        return info, death
    log("Patient", study_id, "deceasedDateTime", reasons.DEATH_AFTER_CUTOFF)
    return info._replace(deceased=False, death=None), None


def screen(
    facts: Iterable[Located],
    *,
    cutoff: date | None,
    birth: dates.When | None,
    death: dates.When | None,
    log: Log,
) -> list[Located]:
    """The facts the row may use; every other one is logged once per resource and reason."""
    kept: list[Located] = []
    logged: set[tuple[str, str]] = set()
    for resource_type, rid, fact in facts:
        reason = _impossible(resource_type, fact, cutoff, birth, death)
        if reason is None:
            kept.append((resource_type, rid, _without_late_record(resource_type, rid, fact, cutoff, log)))
        elif (rid, reason) not in logged:
            logged.add((rid, reason))
            log(resource_type, rid, FIELDS.get(resource_type, "date"), reason)
    return kept


def log_late(late: Iterable[tuple[str, str]], log: Log) -> None:
    """Resources whose latest date lies after the cut-off: that date was not taken as a last contact."""
    for resource_type, rid in late:
        log(resource_type, rid, "date", reasons.LATEST_AFTER_CUTOFF)


def _impossible(
    resource_type: str, fact: Fact, cutoff: date | None, birth: dates.When | None, death: dates.When | None
) -> str | None:
    when = fact.when
    if when is None or fact.kind == "index":
        return None
    if cutoff is not None and dates.after_cutoff(when, cutoff):
        return reasons.EVENT_AFTER_CUTOFF if fact.kind in EVENT_KINDS else reasons.AFTER_CUTOFF
    if resource_type != "Observation":
        return None
    if birth is not None and when.last < birth.first:
        return reasons.BEFORE_BIRTH
    if death is not None and when.first > death.last:
        return reasons.AFTER_DEATH
    return None


def _without_late_record(resource_type: str, rid: str, fact: Fact, cutoff: date | None, log: Log) -> Fact:
    """A relapse's recordedDate (its fallback date) after the cut-off is not used."""
    recorded = fact.extra
    if fact.kind != "relapse" or cutoff is None or not isinstance(recorded, dates.When):
        return fact
    if not dates.after_cutoff(recorded, cutoff):
        return fact
    log(resource_type, rid, "recordedDate", reasons.EVENT_AFTER_CUTOFF)
    return fact._replace(extra=None)
