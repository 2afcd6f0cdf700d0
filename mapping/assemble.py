"""Per patient: from the collected facts to one cohort row, its measures and its events."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from config.study import DiagnosisGroup, StudyDefinition
from config.study import Fact as StudyFact
from mapping import dates, events, impossible, measures, reasons
from mapping.facts import Fact
from mapping.pipeline import PatientState

Log = Callable[[str, str, str, str], None]
KIND_TYPE = {
    "index": "Procedure", "measure": "Observation", "observed": "Observation", "body_site": "Observation",
    "status": "Observation", "complication": "Condition", "event": "Condition", "relapse": "Condition",
    "diagnosis": "Condition", "site": "Condition", "reoperation": "Procedure",
}


@dataclass
class PatientTables:
    row: dict[str, Any]
    measures: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


def assemble(
    state: PatientState, study: StudyDefinition, log: Log, cutoff: date | None = None
) -> PatientTables | None:
    offset = dates.patient_offset([*state.stamps, *(f.when for _, f in state.facts)])
    facts = [(KIND_TYPE[f.kind], rid, _localise(f, offset)) for rid, f in state.facts]
    index = _index_procedure(facts, log)
    if index is None:
        return None
    _, fact = index
    assert fact.when is not None
    surgery = fact.when.day
    latest = max([surgery, *(dates.localise(w, offset).day for w in state.stamps)])
    impossible.log_late(state.late, log)
    age, birth = impossible.age_at_surgery(state.info.birth, surgery, state.study_id, log)
    death_when = dates.localise(state.info.death, offset) if state.info.death is not None else None
    info, death_when = impossible.death_in_follow_up(state.info, death_when, cutoff, state.study_id, log)
    dead = death_when if death_when is not None and death_when.day >= surgery else None
    facts = impossible.screen(facts, cutoff=cutoff, birth=birth, death=dead, log=log)
    flags = events.event_dates([f for f in facts if f[2].kind != "reoperation"], surgery, study.flag_columns, log)
    reoperations = events.event_dates([f for f in facts if f[2].kind == "reoperation"], surgery, study.reoperations,
                                      log)
    result = events.outcome(info, state.study_id, surgery, latest=latest, death_when=death_when, flags=flags, log=log)
    row: dict[str, Any] = {
        "study_id": state.study_id,
        "sex": info.gender,
        "age_at_surgery": age,
        "surgery_date": surgery.isoformat(),
        **_facts(facts, fact, study, surgery=surgery, study_id=state.study_id, log=log),
        "followup_months": dates.months_between(surgery, result.last_contact),
        **{column: value for endpoint in study.endpoints.values()
           for column, value in events.endpoint_columns(endpoint, surgery, result, reoperations).items()},
        **{flag: int(flag in result.flags) for flag in study.flag_columns},
        "death": int(result.death is not None),
        **_reoperations(surgery, result.last_contact, reoperations, study),
    }
    tables = PatientTables(row)
    tables.measures = _measures(facts, surgery, study, state.study_id, log)
    tables.events = _events(result, reoperations, surgery, state.study_id, study)
    return tables


def _localise(fact: Fact, offset: int | None) -> Fact:
    return fact if fact.when is None else fact._replace(when=dates.localise(fact.when, offset))


def _index_procedure(facts: list[tuple[str, str, Fact]], log: Log) -> tuple[str, Fact] | None:
    found = sorted(
        ((f.when.sort_key(), rid, f) for _, rid, f in facts if f.kind == "index" and f.when is not None),
        key=lambda item: (item[0], item[1]),
    )
    if not found:
        return None
    for _, rid, _fact in found[1:]:
        log("Procedure", rid, "code", reasons.SEVERAL_INDEX)
    return found[0][1], found[0][2]


def _reoperations(surgery: date, last_contact: date, found: dict[str, date], study: StudyDefinition) -> dict[str, Any]:
    """Per reoperation of the study: the 0/1 flag and the months to the first one (else to last contact)."""
    row: dict[str, Any] = {}
    for key in study.reoperations:
        row[key] = int(key in found)
        row[f"{key}_months"] = dates.months_between(surgery, found.get(key, last_contact))
    return row


def _facts(
    facts: list[tuple[str, str, Fact]], index: Fact, study: StudyDefinition, *, surgery: date, study_id: str, log: Log
) -> dict[str, Any]:
    """The study's facts, in cohort.csv order: each derived as its ``from`` says (docs/mapping.md)."""
    values: dict[str, Any] = {}
    diagnosis: tuple[str | None, str | None] | None = None
    sites, outcomes = index.extra
    for name, spec in study.facts.items():
        if spec.source == "index_procedure":
            values[name] = index.key
        elif spec.source in ("diagnosis_group", "diagnosis_detail"):
            if diagnosis is None:
                diagnosis = _diagnosis(facts, surgery, study, study_id, log)
            values[name] = diagnosis[0] if spec.source == "diagnosis_group" else diagnosis[1]
        elif spec.source == "body_site":
            values[name] = _body_site(facts, sites.get(name, ()), spec, study_id, log)
        elif spec.source == "observation_value":
            values[name] = _observed(facts, outcomes.get(name), spec, surgery=surgery, study_id=study_id, log=log)
    for name, spec in study.facts.items():
        if spec.is_flag:
            values[name] = _rule(name, study, values)
    return {name: values[name] for name in study.facts}


def _rule(name: str, study: StudyDefinition, values: dict[str, Any]) -> int:
    """A rule fact's 0/1: its test over the value of the fact it reads (a missing value: 0)."""
    spec = study.facts[name]
    assert spec.rule_fact is not None
    source = study.facts[spec.rule_fact]
    value = _rule(source.name, study, values) if source.is_flag else values.get(source.name)
    if value is None:
        return 0
    text = str(value)
    if spec.rule_op == "contains":
        return int(spec.rule_values[0] in text.split("+"))
    if spec.rule_op == "equals":
        return int(text == spec.rule_values[0])
    return int(text in spec.rule_values)


def _body_site(
    facts: list[tuple[str, str, Fact]], on_index: tuple[str, ...], spec: StudyFact, study_id: str, log: Log
) -> str | None:
    """The values found on the index Procedure's bodySite, else on Observations; in the study file's order."""
    found: set[str] = set(on_index)
    if not found:
        for _, _, fact in facts:
            if fact.kind == "body_site" and fact.key == spec.name:
                found.update(fact.extra)
    if not found:
        log("Patient", study_id, "Procedure.bodySite", reasons.NO_FACT_VALUE.format(reasons.inline(spec.label)))
        return None
    return "+".join(key for key in spec.values if key in found)


def _observed(
    facts: list[tuple[str, str, Fact]], on_index: str | None, spec: StudyFact, *, surgery: date, study_id: str,
    log: Log,
) -> str | None:
    """The index Procedure's outcome, else the Observation nearest to surgery (conflicts logged)."""
    if on_index is not None:
        return on_index
    found = [
        (abs((f.when.day - surgery).days) if f.when else 10**6, rid, str(f.extra))
        for _, rid, f in facts if f.kind == "observed" and f.key == spec.name
    ]
    label = reasons.inline(spec.label)
    if not found:
        log("Patient", study_id, "Observation", reasons.NO_FACT_VALUE.format(label))
        return None
    found.sort()
    for _, rid, key in found[1:]:
        if key != found[0][2]:
            log("Observation", rid, "valueCodeableConcept", reasons.FACT_CONFLICT.format(label))
    return found[0][2]


def _diagnosis(
    facts: list[tuple[str, str, Fact]], surgery: date, study: StudyDefinition, study_id: str, log: Log
) -> tuple[str | None, str | None]:
    """(group, detail) of the diagnosis Condition, the latest on or before surgery."""
    found = [(rid, f) for _, rid, f in facts if f.kind == "diagnosis"]
    if not found:
        log("Patient", study_id, "Condition", reasons.NO_DIAGNOSIS)
        return None, None
    before = [item for item in found if item[1].when is None or item[1].when.day <= surgery] or found
    before.sort(key=lambda item: (item[1].when.sort_key() if item[1].when else (date.min, 0), item[0]))
    rid, fact = before[-1]
    for other_rid, other in found:
        if other.key != fact.key or other.extra[0] != fact.extra[0]:
            log("Condition", other_rid, "code", reasons.SEVERAL_DIAGNOSES)
    histology, related, own_sites = fact.extra
    group = study.diagnosis[fact.key]
    if group.detail is None:  # a histology group
        if histology not in group.histology:
            histology = None
        if histology is None:
            log("Condition", rid, "extension", reasons.NO_HISTOLOGY.format(group.name))
        return group.name, histology.replace("-", " ") if histology else None
    own = tuple(site for site in own_sites if site in group.primary_site)
    site = _primary_site(facts, rid, related, own, group=group, log=log)
    detail = group.detail or "{site}"
    return group.name, detail.replace("{site}", site) if site else group.detail_unknown


def _primary_site(
    facts: list[tuple[str, str, Fact]], rid: str, related: str | None, own_sites: tuple[str, ...], *,
    group: DiagnosisGroup, log: Log,
) -> str | None:
    sites: dict[str, str] = {}
    for _, site_rid, fact in facts:
        if fact.kind == "site" and fact.key in group.primary_site:
            sites.setdefault(site_rid, fact.key)
    if related is not None and related in sites:
        return sites[related]
    if own_sites:
        return own_sites[0]
    distinct = set(sites.values())
    if len(distinct) == 1:
        log("Condition", rid, "extension", reasons.SITE_BY_ELIMINATION)
        return distinct.pop()
    log("Condition", rid, "extension", reasons.SITE_UNKNOWN.format(group.name))
    return None


def _measures(
    facts: list[tuple[str, str, Fact]], surgery: date, study: StudyDefinition, study_id: str, log: Log
) -> list[dict[str, Any]]:
    by_instrument: dict[str, list[measures.Candidate]] = defaultdict(list)
    for _, rid, fact in facts:
        if fact.kind == "measure" and fact.when is not None and fact.value is not None:
            minute = fact.when.minute if fact.when.minute is not None else 0
            by_instrument[fact.key].append(measures.Candidate(rid, fact.when.day, minute, int(fact.extra), fact.value))
    rows: list[dict[str, Any]] = []
    for name in study.instruments:
        def log_obs(rid: str, field_name: str, reason: str) -> None:
            log("Observation", rid, field_name, reason)

        for chosen in measures.select(by_instrument.get(name, []), surgery, study.timepoints, log_obs):
            rows.append({
                "study_id": study_id, "instrument": name, "timepoint": chosen.timepoint,
                "value": chosen.candidate.value, "date": chosen.candidate.day.isoformat(),
                "days_from_surgery": chosen.days,
            })
    return rows


def _events(
    result: events.Outcome, reoperations: dict[str, date], surgery: date, study_id: str, study: StudyDefinition
) -> list[dict[str, Any]]:
    found = [(day, flag) for flag, day in result.flags.items()]
    found += [(day, key) for key, day in reoperations.items()]
    if result.death is not None:
        found.append((result.death, events.DEATH))
    order = {flag: index for index, flag in enumerate((*study.flag_columns, events.DEATH, *study.reoperations))}
    found.sort(key=lambda item: (item[0], order.get(item[1], len(order))))
    return [
        {"study_id": study_id, "event": flag, "date": day.isoformat(), "days_from_surgery": (day - surgery).days}
        for day, flag in found
    ]
