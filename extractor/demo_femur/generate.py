"""The proximal femur demo cohort: 36 invented patients with a modular tumour endoprosthesis, as FHIR R4.

``python -m extractor.demo_femur.generate`` rewrites ``extractor/demo_femur/data/<Type>.ndjson`` and
``manifest.json`` byte for byte from the tables below (no clock, no randomness). It is the demo of the second
bundled study, ``config/study-proximal-femur.toml``: another site, procedure, instruments, timepoints and
subgroups than the pelvic study (see docs/second-study.md).

The tables were written by hand so that every trajectory has a clinical reason: patients with bone
metastases start lower and die sooner, a dislocation or an infection shows in the next score, a revision or a
local recurrence lowers the 24-month function. Visit days vary around their targets by fixed arithmetic on
the patient number, and alive patients' last contact falls in the months before the data cut-off.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from extractor.demo import resources as fhir
from extractor.demo.ndjson import group_by_type, write_ndjson
from extractor.demo.resources import Resource

DATA_DIR = Path(__file__).resolve().parent / "data"
LOCAL = "https://example.org/fhir/CodeSystem/proximal-femur-outcomes"
MRN_SYSTEM = "https://example.org/fhir/sid/femur-demo-mrn"
CUTOFF = date(2025, 9, 30)
"""The data cut-off: no clinical date after it (the manifest's extracted_at is the latest clinical date)."""

FEMUR_SITE = ("71341001", "Bone structure of femur")
BODY_WEIGHT = ("29463-7", "Body weight")
FIXATION_CODES = {
    "cemented": ("pfr-endoprosthesis-cemented", "Proximal femur resection, modular endoprosthesis, cemented stem"),
    "uncemented": ("pfr-endoprosthesis-uncemented",
                   "Proximal femur resection, modular endoprosthesis, uncemented stem"),
}
LEVELS = {
    "intertrochanteric": "Resection level: intertrochanteric",
    "subtrochanteric": "Resection level: subtrochanteric",
    "diaphyseal": "Resection level: femoral diaphysis",
}
MARGINS = {"r0": "R0, microscopically clear", "r1": "R1, microscopic residual", "r2": "R2, macroscopic residual"}
HISTOLOGY = {
    "osteosarcoma": ("9180/3", "Osteosarcoma, NOS"),
    "chondrosarcoma": ("9220/3", "Chondrosarcoma, NOS"),
    "dedifferentiated-chondrosarcoma": ("9243/3", "Dedifferentiated chondrosarcoma"),
    "ewing-sarcoma": ("9260/3", "Ewing sarcoma"),
    "undifferentiated-pleomorphic-sarcoma": ("8830/3", "Undifferentiated pleomorphic sarcoma"),
}
BONE_SARCOMA = {  # ICD-10-CM by side
    "right": ("C40.21", "Malignant neoplasm of long bones of right lower limb"),
    "left": ("C40.22", "Malignant neoplasm of long bones of left lower limb"),
}
BONE_METASTASIS = ("C79.51", "Secondary malignant neoplasm of bone")
PRIMARY_CARCINOMA = {  # ICD-10-CM, and days before surgery of the carcinoma's diagnosis
    "renal": ("C64.9", "Malignant neoplasm of unspecified kidney, except renal pelvis", -1460),
    "breast": ("C50.919", "Malignant neoplasm of unspecified site of unspecified female breast", -2190),
    "lung": ("C34.90", "Malignant neoplasm of unspecified part of unspecified bronchus or lung", -240),
    "prostate": ("C61", "Malignant neoplasm of prostate", -1825),
    "thyroid": ("C73", "Malignant neoplasm of thyroid gland", -2920),
}
UNKNOWN_PRIMARY = "unknown"
CONDITIONS = {  # post-operative complications and events (local codes)
    "dislocation": "Dislocation of the endoprosthesis",
    "wound-dehiscence": "Wound dehiscence",
    "stem-loosening": "Aseptic loosening of the femoral stem",
    "periprosthetic-fracture": "Periprosthetic femoral fracture",
    "deep-infection": "Deep periprosthetic infection",
    "local-recurrence": "Local recurrence",
}
REOPERATIONS = {
    "endoprosthesis-revision": "Revision of the endoprosthesis (exchange or removal of a component)",
    "debridement-implant-retention": "Debridement, antibiotics and implant retention",
}
INSTRUMENTS = {
    "tess": ("tess-lower-extremity", "Toronto Extremity Salvage Score, lower extremity"),
    "msts": ("msts-1993-percent", "MSTS 1993 functional score, percent of 30 points"),
    "harris_hip": ("harris-hip-score", "Harris Hip Score"),
}
TIMEPOINTS = ("pre", "3m", "12m", "24m")


@dataclass(frozen=True)
class Case:
    """One patient's baseline. ``tumour``: a histology (bone sarcoma), a primary carcinoma site or "unknown"."""

    key: str
    gender: str
    birth: str
    surgery: str
    side: str
    tumour: str
    level: str | None  # distal resection level; None: not recorded
    margin: str
    fixation: str


# fmt: off
#            gender    birth date    surgery       side
DEMOGRAPHICS: dict[str, tuple[str, str, str, str]] = {
    "f01": ("male",   "2002-04-17", "2019-03-12", "right"),
    "f02": ("female", "1953-08-02", "2019-05-07", "left"),
    "f03": ("male",   "1961-11-23", "2019-06-25", "right"),
    "f04": ("female", "1948-02-14", "2019-09-03", "right"),
    "f05": ("male",   "1999-07-30", "2019-10-22", "left"),
    "f06": ("male",   "1957-05-09", "2019-12-10", "left"),
    "f07": ("female", "1969-12-01", "2020-02-18", "right"),
    "f08": ("male",   "1950-03-26", "2020-04-14", "right"),
    "f09": ("female", "2004-09-12", "2020-06-09", "left"),
    "f10": ("male",   "1946-06-18", "2020-07-28", "left"),
    "f11": ("female", "1962-01-07", "2020-09-15", "right"),
    "f12": ("male",   "1975-10-29", "2020-11-03", "right"),
    "f13": ("male",   "1955-04-04", "2021-01-12", "left"),
    "f14": ("female", "1998-03-15", "2021-02-23", "right"),
    "f15": ("male",   "1959-08-21", "2021-04-13", "right"),
    "f16": ("female", "1966-06-10", "2021-06-01", "left"),
    "f17": ("female", "1944-11-19", "2021-07-20", "left"),
    "f18": ("male",   "2003-02-08", "2021-09-07", "left"),
    "f19": ("female", "1971-09-25", "2021-10-26", "right"),
    "f20": ("male",   "1952-12-30", "2021-12-14", "right"),
    "f21": ("female", "1958-07-14", "2022-02-01", "left"),
    "f22": ("male",   "1980-05-05", "2022-03-22", "left"),
    "f23": ("male",   "1963-10-11", "2022-05-10", "right"),
    "f24": ("female", "2006-01-28", "2022-06-28", "right"),
    "f25": ("male",   "1949-09-03", "2022-08-16", "left"),
    "f26": ("female", "1972-04-22", "2022-10-04", "left"),
    "f27": ("male",   "1960-02-16", "2022-11-22", "right"),
    "f28": ("female", "2000-12-07", "2023-01-10", "left"),
    "f29": ("male",   "1956-06-29", "2023-02-28", "right"),
    "f30": ("female", "1951-03-18", "2023-04-18", "right"),
    "f31": ("female", "1967-08-08", "2023-06-06", "left"),
    "f32": ("male",   "1984-11-14", "2023-07-25", "right"),
    "f33": ("male",   "1958-01-21", "2023-08-22", "left"),
    "f34": ("female", "1961-05-17", "2023-09-12", "right"),
    "f35": ("male",   "2005-06-03", "2024-01-16", "right"),
    "f36": ("female", "1955-10-09", "2024-03-05", "left"),
}

#            tumour                                  distal level         margin fixation
TUMOURS: dict[str, tuple[str, str | None, str, str]] = {
    "f01": ("osteosarcoma",                         "diaphyseal",        "r0", "uncemented"),
    "f02": ("renal",                                "subtrochanteric",   "r1", "cemented"),
    "f03": ("chondrosarcoma",                       "intertrochanteric", "r0", "cemented"),
    "f04": ("breast",                               "intertrochanteric", "r2", "cemented"),
    "f05": ("ewing-sarcoma",                        "diaphyseal",        "r0", "uncemented"),
    "f06": ("lung",                                 "subtrochanteric",   "r2", "cemented"),
    "f07": ("chondrosarcoma",                       "subtrochanteric",   "r0", "uncemented"),
    "f08": ("renal",                                "diaphyseal",        "r0", "cemented"),
    "f09": ("osteosarcoma",                         "subtrochanteric",   "r0", "uncemented"),
    "f10": ("undifferentiated-pleomorphic-sarcoma", "intertrochanteric", "r1", "cemented"),
    "f11": ("breast",                               "subtrochanteric",   "r1", "cemented"),
    "f12": ("chondrosarcoma",                       "intertrochanteric", "r0", "uncemented"),
    "f13": ("prostate",                             "intertrochanteric", "r2", "cemented"),
    "f14": ("osteosarcoma",                         "diaphyseal",        "r1", "uncemented"),
    "f15": ("renal",                                "subtrochanteric",   "r0", "uncemented"),
    "f16": ("dedifferentiated-chondrosarcoma",      "subtrochanteric",   "r0", "cemented"),
    "f17": ("lung",                                 "intertrochanteric", "r2", "cemented"),
    "f18": ("osteosarcoma",                         "diaphyseal",        "r0", "uncemented"),
    "f19": ("thyroid",                              "subtrochanteric",   "r0", "uncemented"),
    "f20": ("undifferentiated-pleomorphic-sarcoma", "diaphyseal",        "r0", "cemented"),
    "f21": ("breast",                               "intertrochanteric", "r1", "cemented"),
    "f22": ("chondrosarcoma",                       "subtrochanteric",   "r0", "uncemented"),
    "f23": ("renal",                                "diaphyseal",        "r1", "cemented"),
    "f24": ("ewing-sarcoma",                        "subtrochanteric",   "r0", "uncemented"),
    "f25": (UNKNOWN_PRIMARY,                        "intertrochanteric", "r2", "cemented"),
    "f26": ("chondrosarcoma",                       "intertrochanteric", "r0", "uncemented"),
    "f27": ("lung",                                 "subtrochanteric",   "r1", "cemented"),
    "f28": ("osteosarcoma",                         "diaphyseal",        "r0", "uncemented"),
    "f29": ("renal",                                "intertrochanteric", "r0", "uncemented"),
    "f30": ("undifferentiated-pleomorphic-sarcoma", None,                "r0", "cemented"),
    "f31": ("breast",                               "subtrochanteric",   "r1", "uncemented"),
    "f32": ("chondrosarcoma",                       "subtrochanteric",   "r0", "uncemented"),
    "f33": ("dedifferentiated-chondrosarcoma",      "diaphyseal",        "r1", "cemented"),
    "f34": ("renal",                                "subtrochanteric",   "r0", "cemented"),
    "f35": ("osteosarcoma",                         "subtrochanteric",   "r0", "uncemented"),
    "f36": ("breast",                               "intertrochanteric", "r1", "cemented"),
}
# fmt: on

CASES = tuple(Case(key, *DEMOGRAPHICS[key], *TUMOURS[key]) for key in DEMOGRAPHICS)
MARGIN_ON_PROCEDURE = frozenset({"f07", "f19", "f29"})
"""Patients whose margin is coded on the index Procedure's outcome instead of a margin Observation."""


@dataclass(frozen=True)
class Scores:
    tess: tuple[float | None, float | None, float | None, float | None]  # pre, 3m, 12m, 24m (0-100)
    msts: tuple[int | None, int | None, int | None]  # 3m, 12m, 24m, points of 30 (recorded as a percentage)
    hhs: tuple[int | None, int | None]  # Harris Hip Score pre, 12m


# None: no value (died before the visit, not yet due at the cut-off, or a missed visit).
# fmt: off
SCORES: dict[str, Scores] = {
    #                  TESS pre / 3m / 12m / 24m       MSTS 3m/12m/24m   HHS pre/12m
    "f01": Scores((52.4, 55.0, 82.1, 86.5), (15, 23, 26),         (48, 84)),
    "f02": Scores((31.2, 50.8, 68.3, 70.1), (13, 20, 21),         (32, 71)),
    "f03": Scores((49.0, 41.7, 76.4, 80.2), (11, 22, 24),         (45, 78)),    # dislocation day 34
    "f04": Scores((28.5, 47.3, 61.0, 58.4), (12, 18, 17),         (27, 63)),    # R2, progressing by 24m
    "f05": Scores((57.9, 60.2, 85.7, 90.3), (16, 25, 27),         (55, 88)),
    "f06": Scores((26.1, 40.5, None, None), (10, None, None),     (25, None)),  # died day 201
    "f07": Scores((55.3, None, 84.0, 87.9), (None, 24, 26),       (52, 86)),    # missed the 3-month visit
    "f08": Scores((35.0, 52.6, 72.9, 76.0), (14, 22, 23),         (36, 74)),
    "f09": Scores((50.6, 57.1, 80.8, 72.5), (15, 24, 21),         (47, 83)),    # infection day 520
    "f10": Scores((42.3, 48.9, 70.5, 64.0), (13, 21, 19),         (40, 72)),    # local recurrence day 700
    "f11": Scores((33.7, 51.9, 66.2, 69.8), (13, 20, 21),         (30, 68)),
    "f12": Scores((58.8, 62.5, 87.3, 91.0), (17, 25, 27),         (58, 90)),
    "f13": Scores((30.4, 46.0, 59.7, None), (12, 18, None),       (29, 61)),    # died day 640
    "f14": Scores((47.5, 38.2, 62.4, 55.1), (9, 17, 15),          (44, 58)),    # infection, revision, recurrence
    "f15": Scores((36.6, 54.3, 74.8, 78.9), (14, 23, 24),         (37, 77)),
    "f16": Scores((44.1, 47.0, 65.3, 74.6), (14, 18, 22),         (42, 66)),    # infection day 150, revision
    "f17": Scores((24.8, 35.2, None, None), (9, None, None),      (22, None)),  # dislocation, died day 118
    "f18": Scores((54.0, 58.3, 83.5, 76.8), (15, 24, 22),         (51, 85)),    # fracture + revision day 610
    "f19": Scores((39.8, 55.6, 76.1, 80.4), (15, 23, 25),         (40, 79)),
    "f20": Scores((40.2, 43.8, 69.0, None), (12, 20, None),       (38, 70)),    # wound dehiscence, died day 690
    "f21": Scores((32.9, 50.1, 67.7, 66.0), (13, 21, 20),         (31, 69)),
    "f22": Scores((56.1, 61.4, None, 89.2), (16, None, 26),       (54, None)),  # missed the 12-month visit
    "f23": Scores((34.4, 51.0, 70.2, 68.9), (13, 21, 20),         (33, 72)),    # infection day 410 (retained)
    "f24": Scores((59.4, 63.0, 88.6, 92.1), (17, 26, 28),         (57, 91)),
    "f25": Scores((27.0, 38.9, None, None), (10, None, None),     (24, None)),  # dislocation, died day 262
    "f26": Scores((53.2, 59.9, 71.4, 82.7), (16, 20, 24),         (50, 74)),    # fracture day 300 (fixed)
    "f27": Scores((29.6, 45.5, 58.8, None), (11, 17, None),       (28, 60)),    # died day 455
    "f28": Scores((51.7, 56.4, 81.3, 85.0), (15, 24, 26),         (49, 82)),
    "f29": Scores((37.3, 53.8, 73.5, 77.2), (14, 22, 24),         (35, 76)),
    "f30": Scores((43.0, 49.5, 72.8, 75.3), (13, 22, 23),         (41, 75)),
    "f31": Scores((34.9, 42.0, 67.0, 71.2), (12, 20, 22),         (34, 67)),    # dislocation, revision day 70
    "f32": Scores((57.0, 60.8, 86.1, 88.4), (16, 25, 27),         (56, 87)),
    "f33": Scores((41.5, 46.2, 60.1, None), (12, 17, None),       (39, 62)),    # recurrence, died day 540
    "f34": Scores((38.1, 52.2, 71.9, 75.8), (14, 22, 23),         (36, 73)),
    "f35": Scores((53.8, 57.7, 80.2, None), (15, 23, None),       (50, 81)),    # 24 months not yet due
    "f36": Scores((30.8, 49.2, 64.4, None), (12, 19, None),       (30, 66)),    # 24 months not yet due
}

# Days from surgery of the death (absent: alive at the last contact).
DEATH: dict[str, int] = {
    "f02": 1390, "f04": 842, "f06": 201, "f09": 1290, "f10": 980, "f11": 1105, "f13": 640, "f14": 1150, "f15": 1200,
    "f17": 118, "f20": 690, "f21": 905, "f25": 262, "f27": 455, "f29": 790, "f33": 540,
}

# Post-operative complications and events, and reoperations: (local code, day from surgery).
EVENTS: dict[str, tuple[tuple[str, int], ...]] = {
    "f01": (("stem-loosening", 1450), ("endoprosthesis-revision", 1500)),
    "f03": (("dislocation", 34), ("stem-loosening", 1300), ("endoprosthesis-revision", 1340)),
    "f06": (("wound-dehiscence", 18),),
    "f08": (("stem-loosening", 1120), ("endoprosthesis-revision", 1180)),
    "f09": (("deep-infection", 520), ("debridement-implant-retention", 525)),
    "f10": (("local-recurrence", 700),),
    "f14": (("deep-infection", 75), ("debridement-implant-retention", 80), ("endoprosthesis-revision", 240),
            ("local-recurrence", 500)),
    "f16": (("deep-infection", 150), ("endoprosthesis-revision", 200)),
    "f17": (("dislocation", 22),),
    "f18": (("periprosthetic-fracture", 610), ("endoprosthesis-revision", 615)),
    "f20": (("wound-dehiscence", 25),),
    "f23": (("deep-infection", 410), ("debridement-implant-retention", 415)),
    "f25": (("dislocation", 48),),
    "f26": (("periprosthetic-fracture", 300),),
    "f31": (("dislocation", 66), ("endoprosthesis-revision", 70)),
    "f33": (("local-recurrence", 300),),
}
# fmt: on


def number(case: Case) -> int:
    return int(case.key[1:])


def visit_days(case: Case) -> tuple[int, int, int, int]:
    """Days from surgery of the pre-op, 3-, 12- and 24-month visits: fixed scatter around the targets."""
    n = number(case)
    return -(3 + n % 9), 91 + (n * 5) % 15 - 7, 365 + (n * 7) % 29 - 14, 730 + (n * 11) % 41 - 20


def diagnosis_day(case: Case) -> int:
    """Days from surgery of the bone tumour's diagnosis: a biopsy weeks before, or a recent metastasis."""
    n = number(case)
    return -(35 + (n * 13) % 50) if case.tumour in HISTOLOGY else -(12 + (n * 3) % 25)


def last_contact_day(case: Case) -> int:
    """Days from surgery of the last contact: the death, or a clinic visit in the 120 days before the cut-off
    (not before the patient's last scored visit or event)."""
    if case.key in DEATH:
        return DEATH[case.key]
    visit = CUTOFF - timedelta(days=(number(case) * 37) % 120)
    seen = [offset for offset, value in zip(visit_days(case), SCORES[case.key].tess, strict=True) if value is not None]
    seen += [offset for _, offset in EVENTS.get(case.key, ())]
    return max((visit - date.fromisoformat(case.surgery)).days, *seen)


def day(case: Case, offset: int) -> str:
    """ISO date ``offset`` days from the case's surgery."""
    return (date.fromisoformat(case.surgery) + timedelta(days=offset)).isoformat()


def pid(case: Case) -> str:
    return f"femur-{case.key}"


def local(code: str, display: str | None = None) -> dict[str, str]:
    return fhir.coding(LOCAL, code, display)


# ---------------------------------------------------------------- resources


def patient_resource(case: Case) -> Resource:
    death = DEATH.get(case.key)
    out = fhir.patient(
        pid(case), mrn=f"FEMUR-{number(case):04d}", given=f"Case {number(case):02d}", family="Femur-Demo",
        gender=case.gender, birth_date=case.birth, deceased=None if death is None else day(case, death),
    )
    out["identifier"][0]["system"] = MRN_SYSTEM
    return out


def index_procedure(case: Case) -> Resource:
    """Resection + modular endoprosthesis; bodySite: the femur (with laterality) and the distal resection level."""
    code, display = FIXATION_CODES[case.fixation]
    body_sites = [fhir.site(*FEMUR_SITE, case.side)]
    if case.level is not None:
        body_sites.append(fhir.concept(local(f"resection-level-{case.level}", LEVELS[case.level])))
    out: Resource = {
        "resourceType": "Procedure",
        "id": f"{pid(case)}-surgery",
        "status": "completed",
        "code": fhir.concept(local(code, display)),
        "subject": fhir.subject(pid(case)),
        "performedDateTime": case.surgery,
        "bodySite": body_sites,
    }
    if case.key in MARGIN_ON_PROCEDURE:
        out["outcome"] = fhir.concept(local(f"margin-{case.margin}", MARGINS[case.margin]))
    return out


def margin_resource(case: Case) -> list[Resource]:
    if case.key in MARGIN_ON_PROCEDURE:
        return []
    code = fhir.concept(local("surgical-margin", "Surgical margin (R classification)"))
    value = {"valueCodeableConcept": fhir.concept(local(f"margin-{case.margin}", MARGINS[case.margin]))}
    return [fhir.observation(f"{pid(case)}-margin", pid(case), code, case.surgery, value=value,
                             category="laboratory")]


def tumour_resources(case: Case) -> list[Resource]:
    p, onset = pid(case), day(case, diagnosis_day(case))
    femur = [fhir.site(*FEMUR_SITE, case.side)]
    if case.tumour in HISTOLOGY:
        out = fhir.condition(f"{p}-tumour", p, fhir.concept(fhir.coding(fhir.ICD10, *BONE_SARCOMA[case.side])),
                             onset)
        morphology = fhir.concept(fhir.coding(fhir.ICDO3, *HISTOLOGY[case.tumour]))
        out["extension"] = [{"url": fhir.HISTOLOGY_EXT, "valueCodeableConcept": morphology}]
        out["bodySite"] = femur
        return [out]
    metastasis = fhir.condition(f"{p}-tumour", p, fhir.concept(fhir.coding(fhir.ICD10, *BONE_METASTASIS)), onset)
    metastasis["bodySite"] = femur
    if case.tumour == UNKNOWN_PRIMARY:
        return [metastasis]
    code, display, diagnosed = PRIMARY_CARCINOMA[case.tumour]
    primary_id = f"{p}-primary-carcinoma"
    metastasis["extension"] = [
        {"url": fhir.RELATED_PRIMARY_EXT, "valueReference": {"reference": f"Condition/{primary_id}"}}
    ]
    primary = fhir.condition(primary_id, p, fhir.concept(fhir.coding(fhir.ICD10, code, display)),
                             day(case, diagnosed - number(case) * 7))
    return [primary, metastasis]


def score(case: Case, instrument: str, timepoint: str, offset: int, value: dict[str, Any]) -> Resource:
    code, display = INSTRUMENTS[instrument]
    return fhir.observation(f"{pid(case)}-{instrument.replace('_', '-')}-{timepoint}", pid(case),
                            fhir.concept(local(code, display)), day(case, offset), value=value, category="survey")


def score_resources(case: Case) -> list[Resource]:
    scores, visits = SCORES[case.key], dict(zip(TIMEPOINTS, visit_days(case), strict=True))
    out: list[Resource] = []
    for tp, tess in zip(TIMEPOINTS, scores.tess, strict=True):
        if tess is not None:
            out.append(score(case, "tess", tp, visits[tp], fhir.quantity(tess, "{score}", "{score}")))
    for tp, points in zip(TIMEPOINTS[1:], scores.msts, strict=True):
        if points is not None:
            percent = round(points * 100 / 30, 1)
            out.append(score(case, "msts", tp, visits[tp], fhir.quantity(percent, "%", "%")))
    for tp, hhs in zip(("pre", "12m"), scores.hhs, strict=True):
        if hhs is not None:
            out.append(score(case, "harris_hip", tp, visits[tp], {"valueInteger": hhs}))
    return out


def event_resources(case: Case) -> list[Resource]:
    """Complication/event Conditions and reoperation Procedures after surgery."""
    p, out = pid(case), []
    for kind, offset in EVENTS.get(case.key, ()):
        if kind in REOPERATIONS:
            out.append(fhir.other_procedure(f"{p}-{kind}", p, local(kind, REOPERATIONS[kind]), day(case, offset)))
        else:
            out.append(fhir.condition(f"{p}-{kind}", p, fhir.concept(local(kind, CONDITIONS[kind])),
                                      day(case, offset), "encounter-diagnosis"))
    return out


def last_contact_resources(case: Case) -> list[Resource]:
    """A clinic visit's body weight on the last contact of a patient alive at the cut-off (no study code)."""
    if case.key in DEATH:
        return []
    weight = 58.0 + (number(case) * 7) % 35 + (12.0 if case.gender == "male" else 0.0)
    return [fhir.vital(f"{pid(case)}-weight-last", pid(case), day(case, last_contact_day(case)), BODY_WEIGHT,
                       value=weight, unit="kg")]


def case_resources(case: Case) -> list[Resource]:
    return [
        patient_resource(case),
        index_procedure(case),
        *margin_resource(case),
        *tumour_resources(case),
        *score_resources(case),
        *event_resources(case),
        *last_contact_resources(case),
    ]


def build_cohort() -> dict[str, list[Resource]]:
    """The cohort grouped by resource type, each list sorted by id."""
    return group_by_type(r for case in CASES for r in case_resources(case))


def clinical_dates(resource: Resource) -> list[str]:
    keys = ("performedDateTime", "effectiveDateTime", "onsetDateTime", "deceasedDateTime")
    return [str(resource[k])[:10] for k in keys if k in resource]


def manifest(grouped: dict[str, list[Resource]]) -> dict[str, Any]:
    """The snapshot manifest: the data cut-off is the day of the latest clinical date."""
    latest = max(d for items in grouped.values() for r in items for d in clinical_dates(r))
    return {
        "source": "bundled demo cohort",
        "kind": "files",
        "extracted_at": f"{latest}T23:59:59+00:00",
        "details": {
            "note": "Invented proximal femur endoprosthesis cohort of 36 patients "
                    "(extractor/demo_femur/generate.py, study config/study-proximal-femur.toml); extracted_at is "
                    "the demo's data cut-off, the day of its latest clinical date."
        },
    }


def write(out_dir: Path) -> list[Path]:
    grouped = build_cohort()
    paths = write_ndjson(grouped, out_dir)
    path = out_dir / "manifest.json"
    path.write_bytes((json.dumps(manifest(grouped), ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
    return [*paths, path]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the proximal femur demo cohort as NDJSON.")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help=f"output folder (default {DATA_DIR})")
    args = parser.parse_args(argv)
    for path in write(args.out):
        print(path)


if __name__ == "__main__":
    main()
