"""The codebook of a study's tables: what a statistician needs to open cohort.csv and measures.csv in R or
Stata without asking.

``codebook(study)`` is pure: one row (a dict with the keys of :data:`CODEBOOK_COLUMNS`) per column of
``cohort.csv`` in its order, then one per column of ``measures.csv``, then one per instrument (the ``value``
of the measures.csv rows with ``instrument`` = that name). Labels, codes, allowed values and ranges come from
the study definition; the rules are those of ``docs/mapping.md``. The service writes it as ``codebook.csv``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from config.errors import MappingError
from config.study import Coding, Endpoint, Fact, StudyDefinition
from config.units import DAYS_PER_MONTH
from mapping.cohort import MEASURE_COLUMNS, cohort_columns
from mapping.events import DEATH

CODEBOOK_COLUMNS = (
    "table", "name", "kind", "label", "type", "unit", "values", "min", "max", "missing", "fhir_resource",
    "fhir_codes", "derivation",
)
"""The keys of every codebook row (the columns of codebook.csv), in order."""

TYPES = ("integer", "number", "text", "date", "0-1 flag")
"""The values of a row's ``type``: date is ISO 8601 (YYYY-MM-DD); a 0-1 flag is an integer 0 or 1."""

COHORT, MEASURES = "cohort.csv", "measures.csv"
SEXES = ("male", "female", "other", "unknown")  # FHIR administrative-gender
MONTHS = f"days / {DAYS_PER_MONTH} (months)"
CONDITION_DATE = "onsetDateTime / onsetPeriod.start, else recordedDate"

Row = dict[str, Any]


def codebook(study: StudyDefinition) -> list[Row]:
    """One row per cohort.csv column (in cohort.csv order), per measures.csv column and per instrument."""
    described = {row["name"]: row for row in _cohort_rows(study)}
    rows: list[Row] = []
    for column in cohort_columns(study):
        if column not in described:
            raise MappingError(f"codebook: cohort.csv column {column!r} has no description")
        rows.append(described[column])
    rows += _measures_rows(study)
    rows += [_instrument_row(study, name) for name in study.instruments]
    return [{key: row.get(key, "") for key in CODEBOOK_COLUMNS} for row in rows]


# --------------------------------------------------------------------------- helpers


def _row(name: str, label: str, type_: str, derivation: str, **extra: Any) -> Row:
    assert type_ in TYPES, type_
    return {"table": COHORT, "name": name, "kind": "column", "label": label, "type": type_,
            "derivation": derivation, **extra}


def _flag(name: str, label: str, derivation: str, **extra: Any) -> Row:
    return _row(name, label, "0-1 flag", derivation, values="0; 1", missing="never", **extra)


def _codes(study: StudyDefinition, codings: Iterable[Coding], sep: str = "; ") -> str:
    """Codings as the study file writes them, ``alias|code`` (full URI when the system has no alias)."""
    alias = {uri: name for name, uri in study.systems.items()}
    return sep.join(sorted(f"{alias.get(system, system)}|{code}" for system, code in codings))


def _inline(study: StudyDefinition, codings: Iterable[Coding]) -> str:
    """Codings inside a sentence: separated by commas."""
    return _codes(study, codings, ", ")


def _all_codes(study: StudyDefinition, table: Mapping[str, Iterable[Coding]]) -> str:
    return _codes(study, (coding for codings in table.values() for coding in codings))


def _keyed_codes(study: StudyDefinition, table: Mapping[str, Iterable[Coding]]) -> str:
    """``key = codes`` per key: which codes give which value."""
    return "; ".join(f"{key} = {_inline(study, codings)}" for key, codings in table.items())


def _label(key: str) -> str:
    """A label from a key of the study file that has none: ``deep_infection`` → ``Deep infection``."""
    text = key.replace("_", " ").replace("-", " ")
    return text[:1].upper() + text[1:]


def _values(keys: Iterable[str]) -> str:
    return "; ".join(keys)


# --------------------------------------------------------------------------- cohort.csv


def _cohort_rows(study: StudyDefinition) -> list[Row]:
    return [*_patient_rows(study), *(_fact_row(study, fact) for fact in study.facts.values()),
            *_outcome_rows(study), *_flag_rows(study)]


def _patient_rows(study: StudyDefinition) -> list[Row]:
    hashed = f"a keyed hash of the source and the FHIR Patient id: {study.pseudonym_prefix!r} + 10 hex digits"
    identifier = f"Patient.identifier with system {study.study_id_system}" if study.study_id_system else hashed
    return [
        _row("study_id", "Study identifier (pseudonym)", "text", f"{identifier}; never the FHIR id",
             missing="never", fhir_resource="Patient"),
        _row("sex", "Sex", "text", "Patient.gender", values=_values(SEXES), missing="no gender recorded (logged)",
             fhir_resource="Patient"),
        _row("age_at_surgery", "Age at surgery", "integer",
             "completed years from Patient.birthDate to surgery_date", unit="years",
             missing="no birth date, or an impossible one (logged)", fhir_resource="Patient"),
        _row("surgery_date", "Date of the index surgery", "date",
             "the earliest index Procedure: performedDateTime, else performedPeriod.start (.end if only that); "
             "in the patient's local day", missing="never (no index procedure: not in the cohort)",
             fhir_resource="Procedure", fhir_codes=_all_codes(study, study.index_procedure)),
    ]


# --------------------------------------------------------------------------- the facts, by their source


def _fact_row(study: StudyDefinition, fact: Fact) -> Row:
    """The codebook row of a fact, described from its ``from`` and its tables (docs/mapping.md, *Facts*)."""
    describe = {
        "index_procedure": _index_fact, "diagnosis_group": _group_fact, "diagnosis_detail": _detail_fact,
        "body_site": _body_site_fact, "observation_value": _observed_fact, "rule": _rule_fact,
    }[fact.source]
    row = describe(study, fact)
    if fact.level_labels:
        labels = "; ".join(f"{value} = {label}" for value, label in fact.level_labels.items())
        row["derivation"] += f". Labels in the report: {labels}"
    return row


def _index_fact(study: StudyDefinition, fact: Fact) -> Row:
    keyed = _keyed_codes(study, study.index_procedure)
    return _row(fact.name, fact.label, "text", f"the key whose codes the index Procedure's code matches ({keyed})",
                values=_values(fact.levels), missing="never", fhir_resource="Procedure",
                fhir_codes=_all_codes(study, study.index_procedure))


def _diagnosis_codes(study: StudyDefinition) -> str:
    return _codes(study, frozenset().union(*(group.condition for group in study.diagnosis.values())))


def _group_fact(study: StudyDefinition, fact: Fact) -> Row:
    groups = "; ".join(f"{name}: Condition coded {_inline(study, group.condition)}"
                       for name, group in study.diagnosis.items())
    return _row(fact.name, fact.label, "text",
                f"the diagnosis group of the diagnosis Condition (the latest on or before surgery): {groups}",
                values=_values(fact.levels), missing="no diagnosis Condition (logged)", fhir_resource="Condition",
                fhir_codes=_diagnosis_codes(study))


def _detail_fact(study: StudyDefinition, fact: Fact) -> Row:
    parts: list[str] = []
    values: list[str] = []
    unknown: list[str] = []
    for name, group in study.diagnosis.items():
        if group.detail is None:
            parts.append(f"{name}: its histology (ICD-O-3 morphology from the extension {study.histology_extension} "
                         f"or the Condition's own coding: {_keyed_codes(study, group.histology)})")
            values += [key.replace("-", " ") for key in group.histology]
            unknown.append(f"a {name} diagnosis of unknown histology")
            continue
        otherwise = f"'{group.detail_unknown}'" if group.detail_unknown else "empty"
        parts.append(f"{name}: '{group.detail.replace('{site}', '<site>')}', the site from the Condition the "
                     f"extension {study.related_primary_extension} references "
                     f"({_keyed_codes(study, group.primary_site)}), else {otherwise}")
        values += [group.detail.replace("{site}", key) for key in group.primary_site]
        values += [group.detail_unknown] if group.detail_unknown else []
        if not group.detail_unknown:
            unknown.append(f"a {name} diagnosis of unknown site")
    missing = ", or ".join(["no diagnosis Condition", *unknown]) + " (logged)"
    return _row(fact.name, fact.label, "text",
                f"the diagnosis Condition (the latest on or before surgery), by its group. {'. '.join(parts)}",
                values=_values(values), missing=missing, fhir_resource="Condition",
                fhir_codes=_diagnosis_codes(study))


def _body_site_fact(study: StudyDefinition, fact: Fact) -> Row:
    keys = list(fact.values)
    return _row(fact.name, fact.label, "text",
                "values of the index Procedure's bodySite, else of Observations coded or valued with these codes, in "
                f"the study file's order, joined by '+' ({_keyed_codes(study, fact.values)})",
                values=f"combinations of {', '.join(keys)} joined by '+', e.g. {'+'.join(keys[:2])}",
                missing="none found (logged)", fhir_resource="Procedure; Observation",
                fhir_codes=_all_codes(study, fact.values))


def _observed_fact(study: StudyDefinition, fact: Fact) -> Row:
    return _row(fact.name, fact.label, "text",
                "the index Procedure's outcome; else the Observation (code "
                f"{_inline(study, fact.code)}) nearest to surgery, valued {_keyed_codes(study, fact.values)}",
                values=_values(fact.levels), missing="none found (logged)", fhir_resource="Procedure; Observation",
                fhir_codes=_codes(study, fact.code | frozenset().union(*fact.values.values())))


def _rule_fact(study: StudyDefinition, fact: Fact) -> Row:
    source = study.facts[str(fact.rule_fact)]
    wanted = ", ".join(fact.rule_values)
    test = {"contains": f"{wanted} is among {source.name} (values joined by '+')",
            "equals": f"{source.name} is {wanted}", "in": f"{source.name} is one of {wanted}"}[str(fact.rule_op)]
    codes = [coding for key in fact.rule_values for coding in source.values.get(key, ())]
    origin = _fact_row(study, source)
    return _flag(fact.name, fact.label, f"1 if {test}, else 0 (also 0 when {source.name} is empty)",
                 fhir_resource=origin.get("fhir_resource", ""), fhir_codes=_codes(study, codes))


# --------------------------------------------------------------------------- outcomes


def _event_resources(study: StudyDefinition, keys: Iterable[str]) -> str:
    """The FHIR resource types the events come from."""
    progression = {study.progression.local, study.progression.distant}
    found: list[str] = []
    for key in keys:
        if key == DEATH:
            found.append("Patient")
        elif key in study.reoperations:
            found.append("Procedure")
        else:
            found += ["Condition", "Observation"] if key in progression else ["Condition"]
    return "; ".join(dict.fromkeys(found))


def _endpoint_rows(study: StudyDefinition, endpoint: Endpoint) -> list[Row]:
    months, event = endpoint.columns
    first = " or ".join(endpoint.events)
    resources = _event_resources(study, endpoint.events)
    return [
        _row(months, f"{endpoint.label} time", "number",
             f"surgery_date to the earliest of {first} after surgery, else to last contact, {MONTHS}",
             unit="months", missing="never", fhir_resource=resources),
        _flag(event, f"{endpoint.label} event",
              f"1 at the earliest of {first} after surgery, else 0 (censored at last contact)",
              fhir_resource=resources),
    ]


def _outcome_rows(study: StudyDefinition) -> list[Row]:
    contact = ("last contact: the latest clinical date of the patient in any used resource, not before "
               "surgery; the death date for a patient who died")
    return [
        _row("followup_months", "Follow-up", "number", f"surgery_date to {contact}, {MONTHS}", unit="months",
             missing="never", fhir_resource="Patient; Procedure; Condition; Observation"),
        *(row for endpoint in study.endpoints.values() for row in _endpoint_rows(study, endpoint)),
    ]


def _flag_rows(study: StudyDefinition) -> list[Row]:
    counted = f"dated ({CONDITION_DATE}) strictly after surgery_date"
    rows = [
        _flag(key, _label(key), f"1 if a Condition with these codes is {counted}, else 0",
              fhir_resource="Condition", fhir_codes=_codes(study, codes))
        for key, codes in study.complications.items()
    ]
    observation = f"a disease-status Observation ({_inline(study, study.disease_status_code)})"
    status: dict[str | None, str] = {
        study.progression.local: f"{observation} valued {_inline(study, study.disease_status_worsened)} with "
                                 f"qualifier {_inline(study, study.disease_status_local)}, or a relapse Condition "
                                 "of the diagnosis",
        study.progression.distant: f"{observation} valued {_inline(study, study.disease_status_distant)}",
    }
    for key, codes in study.events.items():
        also = f"; or {status[key]}" if key in status else ""
        rows.append(_flag(key, _label(key), f"1 if a Condition with these codes is {counted}{also}, else 0",
                          fhir_resource="Condition; Observation" if also else "Condition",
                          fhir_codes=_codes(study, codes)))
    rows.append(_flag(DEATH, "Death", "1 if Patient.deceasedDateTime is on/after surgery or deceasedBoolean is true",
                      fhir_resource="Patient"))
    for key, codes in study.reoperations.items():
        rows.append(_flag(key, _label(key), "1 if a Procedure with these codes (not an index procedure) is "
                          "performed strictly after surgery_date, else 0", fhir_resource="Procedure",
                          fhir_codes=_codes(study, codes)))
        rows.append(_row(f"{key}_months", f"Time to {_label(key).lower()}", "number",
                         f"surgery_date to the first {key} Procedure, else to last contact (followup_months), "
                         f"{MONTHS}", unit="months", missing="never", fhir_resource="Procedure",
                         fhir_codes=_codes(study, codes)))
    return rows


# --------------------------------------------------------------------------- measures.csv


def _measures_rows(study: StudyDefinition) -> list[Row]:
    windows = "; ".join(
        f"{name} (days {spec.low} to {spec.high}: "
        + ("the latest)" if spec.rule == "latest" else f"closest to day {spec.target}, a tie to the earlier)")
        for name, spec in study.timepoints.items()
    )
    described = {
        "study_id": ("Study identifier (pseudonym)", "text", "", "as in cohort.csv"),
        "instrument": ("Instrument", "text", _values(study.instruments), "the instrument whose codes the "
                       "Observation's code matches (rows below)"),
        "timepoint": ("Time point", "text", _values(study.timepoints), f"the window the date falls in: {windows}"),
        "value": ("Value", "number", "the instrument's range (rows below)", "Observation.value[x], converted to "
                  "the instrument's scale and unit; one value per patient, instrument and time point"),
        "date": ("Date of the measurement", "date", "", "Observation.effectiveDateTime / effectivePeriod.start / "
                 "effectiveInstant, in the patient's local day"),
        "days_from_surgery": ("Days from surgery", "integer", "", "date - surgery_date in days (negative: before)"),
    }
    rows = []
    for column in MEASURE_COLUMNS:
        label, type_, values, derivation = described[column]
        rows.append({"table": MEASURES, "name": column, "kind": "column", "label": label, "type": type_,
                     "unit": "days" if column == "days_from_surgery" else "", "values": values, "missing": "never",
                     "fhir_resource": "Observation", "derivation": derivation})
    return rows


def _instrument_row(study: StudyDefinition, name: str) -> Row:
    spec = study.instruments[name]
    improvement = (f"; minimal clinically important difference {spec.mcid:g}, {spec.better} is better"
                   if spec.mcid is not None else "")
    if spec.answers:
        improvement = (f"; coded answers: {', '.join(f'{_codes(study, [c])} = {v:g}' for c, v in spec.answers.items())}"
                       + improvement)
    return {
        "table": MEASURES, "name": name, "kind": "instrument", "label": spec.label, "type": "number",
        "unit": spec.unit, "values": f"{spec.min:g} to {spec.max:g}", "min": spec.min, "max": spec.max,
        "missing": "no value in the time point's window: no row",
        "fhir_resource": "Observation", "fhir_codes": _codes(study, spec.codes),
        "derivation": f"value of the measures.csv rows with instrument = {name}: an Observation with these codes, "
                      f"value converted to the scale {spec.min:g}-{spec.max:g}{' ' + spec.unit if spec.unit else ''}"
                      f"; values outside it are rejected (logged){improvement}",
    }
