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
from config.study import Coding, StudyDefinition
from config.units import DAYS_PER_MONTH
from mapping.cohort import MEASURE_COLUMNS, cohort_columns
from mapping.conditions import DISTANT_METASTASIS, LOCAL_RECURRENCE
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
    return [*_patient_rows(study), *_tumour_rows(study), *_outcome_rows(study), *_flag_rows(study)]


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


def _tumour_rows(study: StudyDefinition) -> list[Row]:
    histology = [key.replace("-", " ") for key in study.primary_histology]
    sites = [f"metastatic {key.replace('-', ' ')} carcinoma" for key in study.secondary_primary_site]
    diagnosis_codes = _codes(study, study.primary_condition | study.secondary_condition)
    return [
        _row("diagnosis", "Diagnosis", "text",
             "the diagnosis Condition (the latest on or before surgery). Primary tumour: its histology "
             f"(ICD-O-3 morphology from the extension {study.histology_extension} or the Condition's own coding: "
             f"{_keyed_codes(study, study.primary_histology)}). Secondary tumour: 'metastatic <site> carcinoma', "
             f"the site from the Condition the extension {study.related_primary_extension} references "
             f"({_keyed_codes(study, study.secondary_primary_site)}), else 'metastatic carcinoma'",
             values=_values([*histology, *sites, "metastatic carcinoma"]),
             missing="no diagnosis Condition, or a primary tumour of unknown histology (logged)",
             fhir_resource="Condition", fhir_codes=diagnosis_codes),
        _row("tumor_category", "Tumour category", "text",
             f"primary: Condition coded {_inline(study, study.primary_condition)}; secondary: Condition coded "
             f"{_inline(study, study.secondary_condition)}", values="primary; secondary",
             missing="no diagnosis Condition (logged)", fhir_resource="Condition", fhir_codes=diagnosis_codes),
        _row("enneking_zones", "Resected zones", "text",
             "zones of the index Procedure's bodySite, else of Observations coded or valued with zone codes, in "
             f"the study file's order, joined by '+' ({_keyed_codes(study, study.enneking_zones)})",
             values=f"combinations of {', '.join(study.enneking_zones)} joined by '+', e.g. "
                    f"{'+'.join(list(study.enneking_zones)[:2])}",
             missing="no zone found (logged)", fhir_resource="Procedure; Observation",
             fhir_codes=_all_codes(study, study.enneking_zones)),
        _flag("zone_iv", "Zone IV involved", "1 if IV is among enneking_zones, else 0 (also 0 when no zone is found)",
              fhir_resource="Procedure; Observation", fhir_codes=_codes(study, study.enneking_zones.get("IV", ()))),
        _row("resection_margin", "Resection margin", "text",
             "the index Procedure's outcome; else the margin Observation (code "
             f"{_inline(study, study.margin_code)}) nearest to surgery, valued "
             f"{_keyed_codes(study, study.margin_values)}",
             values=_values(study.margin_values), missing="no margin found (logged)",
             fhir_resource="Procedure; Observation",
             fhir_codes=_codes(study, study.margin_code | frozenset().union(*study.margin_values.values()))),
        _row("reconstruction", "Reconstruction (index procedure)", "text",
             f"the key whose codes the index Procedure's code matches ({_keyed_codes(study, study.index_procedure)})",
             values=_values(study.index_procedure), missing="never", fhir_resource="Procedure",
             fhir_codes=_all_codes(study, study.index_procedure)),
    ]


def _outcome_rows(study: StudyDefinition) -> list[Row]:
    progression = " or ".join(key for key in (LOCAL_RECURRENCE, DISTANT_METASTASIS) if key in study.flag_columns)
    contact = ("last contact: the latest clinical date of the patient in any used resource, not before "
               "surgery; the death date for a patient who died")
    return [
        _row("followup_months", "Follow-up", "number", f"surgery_date to {contact}, {MONTHS}", unit="months",
             missing="never", fhir_resource="Patient; Procedure; Condition; Observation"),
        _row("os_months", "Overall survival time", "number", f"surgery_date to death, else to last contact, {MONTHS}",
             unit="months", missing="never", fhir_resource="Patient"),
        _flag("os_event", "Death (overall survival event)",
              "1 if the patient died (Patient.deceasedDateTime on/after surgery, or deceasedBoolean true), else 0 "
              "(censored at last contact)", fhir_resource="Patient"),
        _row("pfs_months", "Progression-free survival time", "number",
             f"surgery_date to the earliest of {progression} or death, else to last contact, {MONTHS}",
             unit="months", missing="never", fhir_resource="Condition; Observation; Patient"),
        _flag("pfs_event", "Progression or death (PFS event)",
              f"1 at the earliest of {progression} or death, else 0 (censored at last contact)",
              fhir_resource="Condition; Observation; Patient"),
    ]


def _flag_rows(study: StudyDefinition) -> list[Row]:
    counted = f"dated ({CONDITION_DATE}) strictly after surgery_date"
    rows = [
        _flag(key, _label(key), f"1 if a Condition with these codes is {counted}, else 0",
              fhir_resource="Condition", fhir_codes=_codes(study, codes))
        for key, codes in study.complications.items()
    ]
    observation = f"a disease-status Observation ({_inline(study, study.disease_status_code)})"
    status = {LOCAL_RECURRENCE: f"{observation} valued {_inline(study, study.disease_status_worsened)} with "
                                f"qualifier {_inline(study, study.disease_status_local)}, or a relapse Condition of "
                                "the tumour",
              DISTANT_METASTASIS: f"{observation} valued {_inline(study, study.disease_status_distant)}"}
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
    return {
        "table": MEASURES, "name": name, "kind": "instrument", "label": spec.label, "type": "number",
        "unit": spec.unit, "values": f"{spec.min:g} to {spec.max:g}", "min": spec.min, "max": spec.max,
        "missing": "no value in the time point's window: no row",
        "fhir_resource": "Observation", "fhir_codes": _codes(study, spec.codes),
        "derivation": f"value of the measures.csv rows with instrument = {name}: an Observation with these codes, "
                      f"value converted to the scale {spec.min:g}-{spec.max:g}{' ' + spec.unit if spec.unit else ''}"
                      f"; values outside it are rejected (logged){improvement}",
    }
