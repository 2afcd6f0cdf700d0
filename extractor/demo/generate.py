"""The bundled demo cohort: a synthetic reconstruction of the seed study's 7 patients as FHIR R4.

``python -m extractor.demo.generate`` rewrites ``extractor/demo/data/<Type>.ndjson`` byte for byte from the
tables below (no clock, no randomness). The VAS/KPS/MSTS/SIJ values come from
``python -m extractor.demo.search``; their assignment to patients was made by hand so that every
non-improving trajectory has a clinical reason (dislocation, recurrence, screw fracture). The recurrences and
metastases are placed so that no PFS log-rank test (sex, tumour category, margin, Zone IV) is significant, as the
abstract reports. See docs/demo-cohort.md.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from extractor.demo import resources as fhir
from extractor.demo.ndjson import group_by_type, write_ndjson
from extractor.demo.resources import Resource

DATA_DIR = Path(__file__).resolve().parent / "data"
TIMEPOINTS = ("pre", "1m", "3m", "6m")


@dataclass(frozen=True)
class Case:
    """One patient's baseline. ``tumour`` is a histology (primary) or the primary site (metastasis)."""

    key: str
    gender: str
    birth: str
    surgery: str
    side: str
    tumour: str
    zones: str
    margin: str
    reconstruction: str


# fmt: off
#            gender    birth date    surgery       tumour side
DEMOGRAPHICS: dict[str, tuple[str, str, str, str]] = {
    "p1": ("male",   "2005-10-03", "2022-06-14", "right"),
    "p2": ("male",   "1972-03-11", "2022-09-20", "left"),
    "p3": ("female", "1968-07-25", "2022-11-08", "right"),
    "p4": ("female", "1998-12-02", "2023-02-21", "left"),
    "p5": ("male",   "1971-01-19", "2023-05-16", "right"),
    "p6": ("male",   "1970-04-30", "2023-08-22", "left"),
    "p7": ("female", "1978-08-14", "2023-12-05", "right"),
}

#            tumour            Enneking zones  margin           reconstruction
TUMOURS: dict[str, tuple[str, str, str, str]] = {
    "p1": ("osteosarcoma",   "I+II+III",    "wide",          "standard"),
    "p2": ("chondrosarcoma", "I+II",        "wide",          "standard"),
    "p3": ("endometrial",    "II+III",      "marginal",      "standard"),
    "p4": ("osteosarcoma",   "I+II+IV",     "wide",          "screw-connected"),
    "p5": ("rectal",         "I+II+III+IV", "marginal",      "screw-connected"),
    "p6": ("hepatocellular", "I+II+IV",     "intralesional", "standard"),
    "p7": ("chondrosarcoma", "I+II",        "marginal",      "standard"),
}
# fmt: on

CASES = tuple(Case(key, *DEMOGRAPHICS[key], *TUMOURS[key]) for key in DEMOGRAPHICS)
NAMES = ("One", "Two", "Three", "Four", "Five", "Six", "Seven")


@dataclass(frozen=True)
class Scores:
    vas: tuple[float, float, float, float]  # pre, 1m, 3m, 6m (0-10)
    kps: tuple[int, int, int, int]  # pre, 1m, 3m, 6m
    msts: tuple[int, int]  # pre, 3m (0-30)
    sij: tuple[float, float]  # contralateral SIJ space (mm), pre and 6m


SCORES = {
    #              VAS pre/1m/3m/6m       KPS pre/1m/3m/6m   MSTS pre/3m  SIJ mm pre/6m
    "p1": Scores((8.5, 3.0, 2.0, 2.0), (60, 80, 80, 80), (13, 28), (3.2, 3.3)),
    "p2": Scores((6.0, 3.0, 3.0, 3.5), (60, 60, 60, 70), (15, 26), (2.9, 2.8)),   # screw fracture at 6m visit
    "p3": Scores((6.0, 6.0, 6.5, 3.5), (40, 40, 60, 80), (7, 17), (3.0, 3.0)),   # dislocation day 64
    "p4": Scores((7.0, 4.0, 2.0, 2.0), (40, 60, 80, 80), (10, 27), (2.6, 3.0)),
    "p5": Scores((8.5, 4.0, 3.5, 2.5), (40, 40, 60, 60), (4, 23), (2.8, 3.7)),
    "p6": Scores((5.0, 4.0, 5.5, 4.5), (60, 80, 70, 70), (13, 20), (3.1, 4.0)),   # recurrence at 3m visit
    "p7": Scores((8.5, 6.0, 2.0, 2.0), (60, 60, 80, 80), (15, 26), (2.7, 2.9)),
}

# fmt: off

# Days from surgery: tumour diagnosis, the four scored visits, last contact; None = alive at last contact.
#       diagnosis  pre  1m  3m   6m      last death
VISITS = {
    "p1": (-62,  (-2, 30, 91, 182), 554, None),
    "p2": (-75,  (-1, 29, 92, 183), 377, None),
    "p3": (-48,  (-3, 31, 89, 178), 338, None),
    "p4": (-81,  (-2, 28, 89, 181), 292, None),
    "p5": (-57,  (-1, 32, 92, 181), 274, None),
    "p6": (-40,  (-2, 31, 88, 180), 215, 240),
    "p7": (-90,  (-3, 30, 90, 183), 183, None),
}

# Post-operative complications and events: (local code, day from surgery).
EVENTS: dict[str, tuple[tuple[str, int], ...]] = {
    "p1": (("distant-metastasis", 70), ("heterotopic-ossification", 91)),
    "p2": (("heterotopic-ossification", 92), ("screw-fracture", 183)),
    "p3": (("dislocation", 64), ("local-recurrence", 300)),
    "p4": (("heterotopic-ossification", 89),),
    "p5": (("delayed-wound-healing", 21), ("heterotopic-ossification", 92)),
    "p6": (("local-recurrence", 88), ("distant-metastasis", 150)),
    "p7": (),
}

# Metastases: how long before surgery the primary carcinoma was diagnosed (days).
PRIMARY_CARCINOMA_DAY = {"endometrial": -1140, "rectal": -905, "hepatocellular": -610}
# fmt: on

PROGRESSION = ("local-recurrence", "distant-metastasis")
CONTRALATERAL = {"right": "left", "left": "right"}


def day(case: Case, offset: int) -> str:
    """ISO date ``offset`` days from the case's surgery."""
    return (date.fromisoformat(case.surgery) + timedelta(days=offset)).isoformat()


def pid(case: Case) -> str:
    return f"demo-{case.key}"


def patient_resource(case: Case) -> Resource:
    death = VISITS[case.key][3]
    number = int(case.key[1:])
    return fhir.patient(
        pid(case),
        mrn=f"DEMO-{number:04d}",
        given=NAMES[number - 1],
        family="Demo",
        gender=case.gender,
        birth_date=case.birth,
        deceased=None if death is None else day(case, death),
    )


def procedure_resources(case: Case) -> list[Resource]:
    zones = tuple(case.zones.split("+"))
    return [
        fhir.index_procedure(
            f"{pid(case)}-surgery", pid(case), reconstruction=case.reconstruction, date=case.surgery,
            side=case.side, zones=zones,
        ),
        fhir.margin(f"{pid(case)}-margin", pid(case), case.surgery, case.margin),
    ]


def tumour_resources(case: Case) -> list[Resource]:
    p, onset = pid(case), day(case, VISITS[case.key][0])
    if case.tumour in fhir.HISTOLOGY:
        return [fhir.primary_bone_tumour(f"{p}-tumour", p, case.tumour, onset, case.side)]
    primary_id = f"{p}-primary-carcinoma"
    return [
        fhir.primary_carcinoma(primary_id, p, case.tumour, day(case, PRIMARY_CARCINOMA_DAY[case.tumour])),
        fhir.secondary_bone_tumour(f"{p}-tumour", p, primary_id, onset, case.side),
    ]


def score_resources(case: Case) -> list[Resource]:
    p, scores, visits = pid(case), SCORES[case.key], VISITS[case.key][1]
    out: list[Resource] = []
    for tp, offset, vas, kps in zip(TIMEPOINTS, visits, scores.vas, scores.kps, strict=True):
        out.append(fhir.vas(f"{p}-vas-{tp}", p, day(case, offset), vas))
        out.append(fhir.kps(f"{p}-kps-{tp}", p, day(case, offset), kps))
    for tp, offset, msts in zip(("pre", "3m"), (visits[0], visits[2]), scores.msts, strict=True):
        out.append(fhir.msts(f"{p}-msts-{tp}", p, day(case, offset), msts))
    for tp, offset, mm in zip(("pre", "6m"), (visits[0], visits[3]), scores.sij, strict=True):
        out.append(fhir.sij(f"{p}-sij-{tp}", p, day(case, offset), mm, CONTRALATERAL[case.side]))
    return out


def event_resources(case: Case) -> list[Resource]:
    """Complication/event Conditions, a 'worsened' disease status on each progression date, and the
    final disease status at the last contact."""
    p = pid(case)
    out = [fhir.complication(f"{p}-{kind}", p, kind, day(case, offset)) for kind, offset in EVENTS[case.key]]
    progressed = [(kind, offset) for kind, offset in EVENTS[case.key] if kind in PROGRESSION]
    out += [fhir.disease_status(f"{p}-status-{kind}", p, day(case, offset), "worsened") for kind, offset in progressed]
    final = "worsened" if progressed else "stable"
    out.append(fhir.disease_status(f"{p}-status-last", p, day(case, VISITS[case.key][2]), final))
    return out


def case_resources(case: Case) -> list[Resource]:
    return [
        patient_resource(case),
        *procedure_resources(case),
        *tumour_resources(case),
        *score_resources(case),
        *event_resources(case),
    ]


def build_cohort() -> dict[str, list[Resource]]:
    """The demo cohort grouped by resource type, each list sorted by id."""
    return group_by_type(r for case in CASES for r in case_resources(case))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the demo cohort as NDJSON.")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help=f"output folder (default {DATA_DIR})")
    args = parser.parse_args(argv)
    for path in write_ndjson(build_cohort(), args.out):
        print(path)


if __name__ == "__main__":
    main()
