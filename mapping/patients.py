"""Patients: study ids (pseudonyms) and the demographic facts of a Patient resource."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from config.errors import MappingError
from config.study import StudyDefinition
from mapping import dates, reasons
from mapping.facts import USED, Extracted, Issue, PatientInfo

PSEUDONYM_HEX = 10


def pseudonym(study: StudyDefinition, source_id: str, patient_id: str, key: bytes) -> str:
    """A stable study id: HMAC-SHA256 over server and patient id, ``<prefix><10 hex>``.

    The same server, patient and key give the same id every night; without the key the id cannot be
    traced back. ``source_id`` is compared without a trailing slash.
    """
    if not key:
        raise MappingError("the pseudonym key is empty; set the environment variable named by study.pseudonym_key_env")
    message = f"{source_id.rstrip('/')}\x1f{patient_id}".encode()
    digest = hmac.new(key, message, hashlib.sha256).hexdigest()
    return f"{study.pseudonym_prefix}{digest[:PSEUDONYM_HEX]}"


def study_identifier(patient: dict[str, Any], system: str) -> str | None:
    """The value of the Patient.identifier with the study's identifier system, if configured and present."""
    if not system:
        return None
    for identifier in patient.get("identifier") or ():
        if isinstance(identifier, dict) and identifier.get("system") == system:
            value = identifier.get("value")
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


def extract_patient(patient: dict[str, Any], rid: str, study: StudyDefinition) -> Extracted:
    """Demographics, death and the study identifier of a (validated) Patient."""
    issues: list[Issue] = []
    gender = patient.get("gender")
    if not isinstance(gender, str):
        gender = None
        issues.append(Issue("gender", reasons.NO_GENDER))
    birth = dates.parse(patient.get("birthDate"))
    if birth is None:
        issues.append(Issue("birthDate", reasons.NO_BIRTH_DATE))
    elif birth.partial:
        issues.append(Issue("birthDate", f"partial birth date ({birth.precision}): middle of the span assumed"))
    death = dates.parse(patient.get("deceasedDateTime"))
    deceased = death is not None or patient.get("deceasedBoolean") is True
    if death is not None and death.partial:
        issues.append(Issue("deceasedDateTime", f"partial date ({death.precision}): middle of the span assumed"))
    identifier = study_identifier(patient, study.study_id_system)
    if study.study_id_system and identifier is None:
        issues.append(Issue("identifier", reasons.NO_STUDY_ID))
    info = PatientInfo(rid, identifier, gender, birth, deceased, death)
    return Extracted("Patient", rid, rid, USED, (), tuple(issues), death, info)
