"""FHIR R4 resource builders shared by the demo cohort and the synthetic generator.

All resources are plain JSON-ready dicts in one canonical encoding (see docs/demo-cohort.md):
dates are ISO dates without time, references are ``<Type>/<id>``, local codes use :data:`LOCAL`.
"""

from __future__ import annotations

from typing import Any

Resource = dict[str, Any]

LOCAL = "https://example.org/fhir/CodeSystem/pelvic-outcomes"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
ICDO3 = "http://terminology.hl7.org/CodeSystem/icd-o-3"
UCUM = "http://unitsofmeasure.org"
MRN_SYSTEM = "https://example.org/fhir/sid/demo-mrn"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
MCODE_SD = "http://hl7.org/fhir/us/mcode/StructureDefinition/"
HISTOLOGY_EXT = MCODE_SD + "mcode-histology-morphology-behavior"
RELATED_PRIMARY_EXT = MCODE_SD + "mcode-related-primary-cancer-condition"
LATERALITY_EXT = MCODE_SD + "mcode-laterality-qualifier"

LATERALITY = {"right": ("24028007", "Right"), "left": ("7771000", "Left")}
ZONES = ("I", "II", "III", "IV")
RECONSTRUCTION_CODES = {
    "standard": ("pelvic-prosthesis-standard", "3D-printed custom hemipelvic/iliac prosthesis, standard"),
    "screw-connected": ("pelvic-prosthesis-screw-connected", "3D-printed hemipelvic prosthesis, screw-connected"),
}
MARGIN_DISPLAY = {"wide": "Wide margin", "marginal": "Marginal margin", "intralesional": "Intralesional margin"}
HISTOLOGY = {"chondrosarcoma": ("9220/3", "Chondrosarcoma, NOS"), "osteosarcoma": ("9180/3", "Osteosarcoma, NOS")}
PRIMARY_SITES = {
    "endometrial": ("C54.1", "Malignant neoplasm of endometrium"),
    "rectal": ("C20", "Malignant neoplasm of rectum"),
    "hepatocellular": ("C22.0", "Liver cell carcinoma"),
}
COMPLICATIONS = {
    "heterotopic-ossification": "Heterotopic ossification",
    "screw-fracture": "Pubic screw fracture",
    "dislocation": "Femoral neck (hip) dislocation",
    "delayed-wound-healing": "Delayed wound healing",
    "deep-infection": "Deep infection",
    "periprosthetic-osteolysis": "Periprosthetic osteolysis",
    "implant-loosening": "Implant loosening",
    "local-recurrence": "Local recurrence",
    "distant-metastasis": "Distant metastasis",
}
EXTRA_SNOMED = {"heterotopic-ossification": ("444748003", "Postoperative heterotopic ossification")}
DISEASE_STATUS = {
    "stable": ("359746009", "Patient's condition stable"),
    "worsened": ("271299001", "Patient's condition worsened"),
}


def coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    out = {"system": system, "code": code}
    if display is not None:
        out["display"] = display
    return out


def concept(*codings: dict[str, str], text: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"coding": list(codings)}
    if text is not None:
        out["text"] = text
    return out


def local(code: str, display: str | None = None) -> dict[str, str]:
    return coding(LOCAL, code, display)


def subject(patient_id: str) -> dict[str, str]:
    return {"reference": f"Patient/{patient_id}"}


def laterality_ext(side: str) -> dict[str, Any]:
    code, display = LATERALITY[side]
    return {"url": LATERALITY_EXT, "valueCodeableConcept": concept(coding(SNOMED, code, display))}


def site(code: str, display: str, side: str | None = None) -> dict[str, Any]:
    out = concept(coding(SNOMED, code, display))
    if side is not None:
        out["extension"] = [laterality_ext(side)]
    return out


def patient(
    pid: str, *, mrn: str, given: str, family: str, gender: str, birth_date: str, deceased: str | None = None
) -> Resource:
    out: Resource = {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": MRN_SYSTEM, "value": mrn}],
        "name": [{"use": "official", "family": family, "given": [given]}],
        "gender": gender,
        "birthDate": birth_date,
    }
    if deceased is not None:
        out["deceasedDateTime"] = deceased
    return out


def index_procedure(
    rid: str, pid: str, *, reconstruction: str, date: str, side: str, zones: tuple[str, ...]
) -> Resource:
    """The study's index procedure: resection + 3D-printed prosthesis; one bodySite per Enneking zone."""
    code, display = RECONSTRUCTION_CODES[reconstruction]
    body_sites = [site("12921003", "Pelvic structure", side)]
    body_sites += [concept(local(f"enneking-zone-{z}", f"Enneking zone {z}")) for z in zones]
    return {
        "resourceType": "Procedure",
        "id": rid,
        "status": "completed",
        "code": concept(local(code, display)),
        "subject": subject(pid),
        "performedDateTime": date,
        "bodySite": body_sites,
    }


def other_procedure(rid: str, pid: str, code: dict[str, str], date: str) -> Resource:
    """A procedure that is not the study's index procedure; ``code`` is one Coding."""
    return {
        "resourceType": "Procedure",
        "id": rid,
        "status": "completed",
        "code": concept(code),
        "subject": subject(pid),
        "performedDateTime": date,
    }


def observation(
    rid: str, pid: str, code: dict[str, Any], date: str, *, value: dict[str, Any], category: str
) -> Resource:
    """A final Observation; ``value`` is one ``value[x]`` entry, e.g. ``{"valueInteger": 60}``."""
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "category": [concept(coding(OBS_CATEGORY, category))],
        "code": code,
        "subject": subject(pid),
        "effectiveDateTime": date,
        **value,
    }


def quantity(value: float, unit: str, code: str) -> dict[str, Any]:
    return {"valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": code}}


def vas(rid: str, pid: str, date: str, value: float) -> Resource:
    code = concept(coding(LOINC, "72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported"))
    return observation(rid, pid, code, date, value=quantity(value, "{score}", "{score}"), category="survey")


def kps(rid: str, pid: str, date: str, value: int) -> Resource:
    code = concept(coding(LOINC, "89243-0", "Karnofsky Performance Status score"))
    return observation(rid, pid, code, date, value={"valueInteger": value}, category="survey")


def msts(rid: str, pid: str, date: str, value: int) -> Resource:
    code = concept(local("msts93", "MSTS 93 total score"))
    return observation(rid, pid, code, date, value={"valueInteger": value}, category="survey")


def sij(rid: str, pid: str, date: str, value_mm: float, side: str) -> Resource:
    """Contralateral SIJ space; ``side`` is the contralateral (measured) side."""
    code = concept(local("sij-space-contralateral", "Contralateral sacroiliac joint space"))
    out = observation(rid, pid, code, date, value=quantity(value_mm, "mm", "mm"), category="imaging")
    out["bodySite"] = site("39723000", "Sacroiliac joint structure", side)
    return out


def margin(rid: str, pid: str, date: str, kind: str) -> Resource:
    code = concept(local("resection-margin", "Resection margin"))
    value = {"valueCodeableConcept": concept(local(f"margin-{kind}", MARGIN_DISPLAY[kind]))}
    return observation(rid, pid, code, date, value=value, category="laboratory")


def disease_status(rid: str, pid: str, date: str, status: str) -> Resource:
    code = concept(coding(LOINC, "97509-4", "Cancer disease progression"))
    value = {"valueCodeableConcept": concept(coding(SNOMED, *DISEASE_STATUS[status]))}
    return observation(rid, pid, code, date, value=value, category="exam")


def vital(rid: str, pid: str, date: str, loinc: tuple[str, str], *, value: float, unit: str) -> Resource:
    code = concept(coding(LOINC, *loinc))
    return observation(rid, pid, code, date, value=quantity(value, unit, unit), category="vital-signs")


def condition(
    rid: str, pid: str, code: dict[str, Any], onset: str, category: str = "problem-list-item"
) -> Resource:
    return {
        "resourceType": "Condition",
        "id": rid,
        "clinicalStatus": concept(coding(CONDITION_CLINICAL, "active")),
        "verificationStatus": concept(coding(CONDITION_VERIFICATION, "confirmed")),
        "category": [concept(coding(CONDITION_CATEGORY, category))],
        "code": code,
        "subject": subject(pid),
        "onsetDateTime": onset,
    }


def primary_bone_tumour(rid: str, pid: str, histology: str, onset: str, side: str) -> Resource:
    """mCODE Primary Cancer Condition: ICD-10-CM C41.4 with ICD-O-3 histology."""
    code = concept(coding(ICD10, "C41.4", "Malignant neoplasm of pelvic bones, sacrum and coccyx"))
    out = condition(rid, pid, code, onset)
    morphology = concept(coding(ICDO3, *HISTOLOGY[histology]))
    out["extension"] = [{"url": HISTOLOGY_EXT, "valueCodeableConcept": morphology}]
    out["bodySite"] = [site("12921003", "Pelvic structure", side)]
    return out


def primary_carcinoma(rid: str, pid: str, primary_site: str, onset: str) -> Resource:
    """The primary carcinoma a bone metastasis comes from (C54.1 / C20 / C22.0)."""
    return condition(rid, pid, concept(coding(ICD10, *PRIMARY_SITES[primary_site])), onset)


def secondary_bone_tumour(rid: str, pid: str, primary_id: str, onset: str, side: str) -> Resource:
    """mCODE Secondary Cancer Condition: ICD-10-CM C79.51 with the related-primary extension."""
    code = concept(coding(ICD10, "C79.51", "Secondary malignant neoplasm of bone"))
    out = condition(rid, pid, code, onset)
    out["extension"] = [{"url": RELATED_PRIMARY_EXT, "valueReference": {"reference": f"Condition/{primary_id}"}}]
    out["bodySite"] = [site("12921003", "Pelvic structure", side)]
    return out


def complication(rid: str, pid: str, kind: str, onset: str) -> Resource:
    """A post-operative complication or event (local code; SNOMED added where one is known)."""
    codings = [local(kind, COMPLICATIONS[kind])]
    if kind in EXTRA_SNOMED:
        codings.append(coding(SNOMED, *EXTRA_SNOMED[kind]))
    return condition(rid, pid, concept(*codings), onset, "encounter-diagnosis")


def other_condition(rid: str, pid: str, code: dict[str, str], onset: str) -> Resource:
    """A condition outside the study's definitions; ``code`` is one Coding."""
    return condition(rid, pid, concept(code), onset)
