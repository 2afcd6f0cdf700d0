"""Synthetic cohorts of any size, in the demo cohort's encodings, for tests and benchmarks.

``generate_synthetic(n, seed, noise)`` returns resources grouped by type: ``n`` study patients, each with
one index procedure (surgeries spread over 2021-2025, data cut-off 2025-12-31), plausible scores, vital
signs at every visit (~55-75 resources per patient), complications and events; plus ``noise`` patients
with NO index procedure (other procedures, conditions — some even a pelvic bone tumour — vital signs and
pain scores) that a correct mapping must leave out of the cohort. Study patients are ``syn-p00001`` ...
``syn-p<n>``; noise patients are numbered after them. Same seed, same output.

``python -m extractor.demo.synthetic --patients 200 --noise 50 --out DIR`` writes ``<Type>.ndjson`` files.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from extractor.demo import resources as fhir
from extractor.demo.ndjson import group_by_type, write_ndjson
from extractor.demo.resources import Resource

FIRST_SURGERY = date(2021, 1, 1)
CUTOFF = date(2025, 12, 31)
TUMOURS = ("chondrosarcoma", "osteosarcoma", "endometrial", "rectal", "hepatocellular")
ZONE_SETS = ("I+II", "I+II+III", "II+III", "I+II+IV", "I+II+III+IV", "II+III+IV")
MARGINS = ("wide", "marginal", "intralesional")
COMPLICATION_RATES = {
    "heterotopic-ossification": 0.30,
    "screw-fracture": 0.05,
    "dislocation": 0.08,
    "delayed-wound-healing": 0.10,
    "deep-infection": 0.05,
    "periprosthetic-osteolysis": 0.03,
    "implant-loosening": 0.03,
}
EVENT_RATES = {"local-recurrence": 0.15, "distant-metastasis": 0.20}
# (LOINC code, display), UCUM unit, plausible range, decimals
VITALS: tuple[tuple[tuple[str, str], str, tuple[float, float], int], ...] = (
    (("8867-4", "Heart rate"), "/min", (55, 100), 0),
    (("8480-6", "Systolic blood pressure"), "mm[Hg]", (100, 160), 0),
    (("8462-4", "Diastolic blood pressure"), "mm[Hg]", (60, 95), 0),
    (("8310-5", "Body temperature"), "Cel", (36.0, 37.8), 1),
    (("9279-1", "Respiratory rate"), "/min", (12, 20), 0),
    (("29463-7", "Body weight"), "kg", (45, 110), 1),
    (("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"), "%", (93, 100), 0),
)
OTHER_PROCEDURES = (
    ("52734007", "Total replacement of hip"),
    ("80146002", "Appendectomy"),
    ("73761001", "Colonoscopy"),
    ("38102005", "Cholecystectomy"),
)
OTHER_CONDITIONS = (
    ("I10", "Essential (primary) hypertension"),
    ("E11.9", "Type 2 diabetes mellitus without complications"),
    ("M16.11", "Unilateral primary osteoarthritis, right hip"),
    ("K80.20", "Calculus of gallbladder without cholecystitis without obstruction"),
    ("J45.909", "Unspecified asthma, uncomplicated"),
)


@dataclass(frozen=True)
class Course:
    """One synthetic study patient's course, in days from surgery."""

    pid: str
    surgery: date
    side: str
    zones: str
    followup: int  # days to last contact (never past the data cut-off)
    visits: dict[str, int]  # timepoint -> day, only those before last contact


def iso(d: date, offset: int = 0) -> str:
    return (d + timedelta(days=offset)).isoformat()


def half_steps(value: float, lo: float = 0.0, hi: float = 10.0) -> float:
    return min(hi, max(lo, round(value * 2) / 2))


def tens(value: float, lo: int = 10, hi: int = 100) -> int:
    return int(min(hi, max(lo, round(value / 10) * 10)))


def make_course(rnd: random.Random, pid: str) -> Course:
    surgery = FIRST_SURGERY + timedelta(days=rnd.randrange((CUTOFF - FIRST_SURGERY).days + 1))
    followup = min(rnd.randint(183, 900), (CUTOFF - surgery).days)
    planned = {
        "pre": -rnd.randint(1, 14),
        "1m": 30 + rnd.randint(-5, 5),
        "3m": 90 + rnd.randint(-7, 7),
        "6m": 180 + rnd.randint(-10, 10),
    }
    visits = {tp: d for tp, d in planned.items() if d <= followup}
    visits.update({f"fu{i}": d for i, d in enumerate(range(270, followup, 90), start=1)})
    visits["last"] = followup
    return Course(pid, surgery, rnd.choice(("left", "right")), rnd.choice(ZONE_SETS), followup, visits)


def patient_resource(rnd: random.Random, pid: str, number: int, on: date, deceased: str | None = None) -> Resource:
    """A Patient aged 14-80 on date ``on``."""
    birth = on - timedelta(days=rnd.randint(14 * 365, 80 * 365))
    return fhir.patient(
        pid,
        mrn=f"SYN-{number:06d}",
        given=f"Synthetic{number}",
        family="Test",
        gender=rnd.choice(("male", "female")),
        birth_date=birth.isoformat(),
        deceased=deceased,
    )


def tumour_resources(rnd: random.Random, course: Course) -> list[Resource]:
    tumour, p = rnd.choice(TUMOURS), course.pid
    onset = iso(course.surgery, -rnd.randint(20, 120))
    if tumour in fhir.HISTOLOGY:
        return [fhir.primary_bone_tumour(f"{p}-tumour", p, tumour, onset, course.side)]
    primary = fhir.primary_carcinoma(f"{p}-primary-carcinoma", p, tumour, iso(course.surgery, -rnd.randint(200, 2000)))
    return [primary, fhir.secondary_bone_tumour(f"{p}-tumour", p, primary["id"], onset, course.side)]


def surgery_resources(rnd: random.Random, course: Course) -> list[Resource]:
    p, when = course.pid, iso(course.surgery)
    reconstruction = "screw-connected" if rnd.random() < 0.3 else "standard"
    return [
        fhir.index_procedure(
            f"{p}-surgery", p, reconstruction=reconstruction, date=when, side=course.side,
            zones=tuple(course.zones.split("+")),
        ),
        fhir.margin(f"{p}-margin", p, when, rnd.choices(MARGINS, weights=(5, 4, 1))[0]),
    ]


def score_resources(rnd: random.Random, course: Course) -> list[Resource]:
    """VAS and KPS at every scored timepoint, MSTS pre/3m, SIJ pre/6m."""
    p, out = course.pid, []
    vas, kps = half_steps(rnd.uniform(4, 10)), tens(rnd.uniform(30, 80))
    for tp in ("pre", "1m", "3m", "6m"):
        if tp not in course.visits:
            continue
        when = iso(course.surgery, course.visits[tp])
        out += [fhir.vas(f"{p}-vas-{tp}", p, when, vas), fhir.kps(f"{p}-kps-{tp}", p, when, kps)]
        vas, kps = half_steps(vas - rnd.uniform(-0.5, 2.5)), tens(kps + rnd.uniform(-5, 20))
    msts_pre = rnd.randint(3, 20)
    msts = {"pre": msts_pre, "3m": min(30, msts_pre + rnd.randint(3, 16))}
    sij_pre = round(rnd.uniform(2.0, 4.0), 1)
    widening = rnd.uniform(0.2, 1.0) if "IV" in course.zones else rnd.uniform(-0.2, 0.2)
    sij = {"pre": sij_pre, "6m": round(sij_pre + widening, 1)}
    contralateral = "left" if course.side == "right" else "right"
    for tp, value in msts.items():
        if tp in course.visits:
            out.append(fhir.msts(f"{p}-msts-{tp}", p, iso(course.surgery, course.visits[tp]), value))
    for tp, mm in sij.items():
        if tp in course.visits:
            out.append(fhir.sij(f"{p}-sij-{tp}", p, iso(course.surgery, course.visits[tp]), mm, contralateral))
    return out


def vital_resources(rnd: random.Random, pid: str, dates: Sequence[str]) -> list[Resource]:
    out = []
    for v, when in enumerate(dates):
        for loinc, unit, (lo, hi), decimals in VITALS:
            value = round(rnd.uniform(lo, hi), decimals)
            out.append(fhir.vital(f"{pid}-v{v}-{loinc[0]}", pid, when, loinc, value=value, unit=unit))
    return out


def event_days(rnd: random.Random, course: Course, rates: dict[str, float], first: int) -> list[tuple[str, int]]:
    """Events drawn at their rates, dated between day ``first`` and the last contact."""
    if course.followup <= first:
        return []
    return [(kind, rnd.randint(first, course.followup)) for kind, rate in rates.items() if rnd.random() < rate]


def event_resources(rnd: random.Random, course: Course) -> list[Resource]:
    p = course.pid
    complications = event_days(rnd, course, COMPLICATION_RATES, 14)
    progression = event_days(rnd, course, EVENT_RATES, 60)
    out = [fhir.complication(f"{p}-{k}", p, k, iso(course.surgery, d)) for k, d in complications + progression]
    out += [fhir.disease_status(f"{p}-status-{k}", p, iso(course.surgery, d), "worsened") for k, d in progression]
    final = "worsened" if progression else "stable"
    out.append(fhir.disease_status(f"{p}-status-last", p, iso(course.surgery, course.followup), final))
    return out


def death_date(rnd: random.Random, course: Course, progressed: bool) -> str | None:
    """Some patients with progression die 1-60 days after their last contact (before the cut-off)."""
    if not progressed or rnd.random() >= 0.4:
        return None
    died = course.surgery + timedelta(days=course.followup + rnd.randint(1, 60))
    return died.isoformat() if died <= CUTOFF else None


def study_patient(rnd: random.Random, number: int) -> list[Resource]:
    course = make_course(rnd, f"syn-p{number:05d}")
    body = [
        *surgery_resources(rnd, course),
        *tumour_resources(rnd, course),
        *score_resources(rnd, course),
        *event_resources(rnd, course),
    ]
    dates = [iso(course.surgery, d) for d in sorted(set(course.visits.values()))]
    body += vital_resources(rnd, course.pid, dates)
    progressed = any(r["id"].endswith(("-local-recurrence", "-distant-metastasis")) for r in body)
    deceased = death_date(rnd, course, progressed)
    return [patient_resource(rnd, course.pid, number, course.surgery, deceased), *body]


def noise_patient(rnd: random.Random, number: int) -> list[Resource]:
    """A patient with no index procedure: other procedures and conditions, vitals, pain scores."""
    pid = f"syn-p{number:05d}"
    start = FIRST_SURGERY + timedelta(days=rnd.randrange((CUTOFF - FIRST_SURGERY).days - 400))
    dates = sorted({iso(start, rnd.randint(0, 400)) for _ in range(rnd.randint(4, 7))})
    out = [patient_resource(rnd, pid, number, start)]
    for i, (code, display) in enumerate(rnd.sample(OTHER_PROCEDURES, rnd.randint(1, 2))):
        out.append(fhir.other_procedure(f"{pid}-proc{i}", pid, fhir.coding(fhir.SNOMED, code, display), dates[0]))
    for i, (code, display) in enumerate(rnd.sample(OTHER_CONDITIONS, rnd.randint(1, 3))):
        out.append(fhir.other_condition(f"{pid}-cond{i}", pid, fhir.coding(fhir.ICD10, code, display), iso(start, -30)))
    if rnd.random() < 0.2:  # a pelvic bone tumour treated otherwise: still not in the cohort
        out.append(fhir.primary_bone_tumour(f"{pid}-tumour", pid, "chondrosarcoma", iso(start, -10), "left"))
    out += [fhir.vas(f"{pid}-vas{i}", pid, d, half_steps(rnd.uniform(0, 8))) for i, d in enumerate(dates)]
    out += vital_resources(rnd, pid, dates)
    return out


def generate_synthetic(n_patients: int, seed: int, noise_patients: int = 0) -> dict[str, list[Resource]]:
    """``n_patients`` study patients and ``noise_patients`` non-cohort patients, grouped by type."""
    rnd = random.Random(seed)
    resources: list[Resource] = []
    for number in range(1, n_patients + 1):
        resources += study_patient(rnd, number)
    for number in range(n_patients + 1, n_patients + noise_patients + 1):
        resources += noise_patient(rnd, number)
    return group_by_type(resources)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a synthetic cohort as NDJSON.")
    parser.add_argument("--patients", type=int, default=200, help="study patients (with an index procedure)")
    parser.add_argument("--noise", type=int, default=0, help="patients without an index procedure")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    grouped = generate_synthetic(args.patients, args.seed, args.noise)
    write_ndjson(grouped, args.out)
    print(f"{sum(len(v) for v in grouped.values())} resources written to {args.out}")


if __name__ == "__main__":
    main()
