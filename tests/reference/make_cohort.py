"""Write the two reference cohorts: ``generated/`` (120 patients) and ``small/`` (7 patients, study-shaped).

Both in the cohort.csv / measures.csv layout of the mapping issue.

``generated``: a seeded, deterministic cohort of 120 patients, large enough that every Cox model is
estimable with at least 10 events per term. Event times are whole days (so tied event times occur, as
in real data, and Efron's tie handling is exercised).
Scores are whole numbers (ties and zero differences occur, so the Wilcoxon normal approximation is
exercised); the SIJ space has two decimals (no ties, so the exact signed-rank test is exercised in the
zone-IV subgroups of fewer than 50 patients).

``small``: seven hand-written patients shaped like the seed study (4 male / 3 female, 3 with zone IV,
margins 3/3/1, one death, four progressions). Its OS Cox models and the margin and multivariable PFS
models show separation (a level without events), which the analysis must report as not estimable; the
VAS pre-vs-1m differences are distinct (exact signed-rank test), the 3m-vs-6m ones have zeros and ties.

Both also get the reoperation columns of the study (``revision``, ``revision_months``) and an
``events.csv`` (the mapping's events table: days from surgery of each patient's first complication, event,
death and revision), drawn after everything else (generated: from their own seeds), so the columns above
stay as they were.

Run from the repository root: ``.venv/bin/python tests/reference/make_cohort.py``; then
``Rscript tests/reference/make_reference.R tests/reference/generated tests/reference/reference_generated.json``.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20240601
N_PATIENTS = 120
DAYS_PER_MONTH = 30.4375
CUTOFF = date(2024, 12, 31)
HERE = Path(__file__).parent

FLAGS = (
    "heterotopic_ossification", "screw_fracture", "dislocation", "delayed_wound_healing", "deep_infection",
    "periprosthetic_osteolysis", "implant_loosening",
)
FLAG_RATES = (0.35, 0.08, 0.10, 0.15, 0.05, 0.04, 0.03)
ZONES = ("I+II", "II+III", "I+II+III", "I", "I+II+IV", "I+II+III+IV", "I+IV")
PRIMARY = ("chondrosarcoma", "osteosarcoma", "ewing-sarcoma")
SECONDARY = ("endometrial", "rectal", "hepatocellular")
TIMEPOINTS = {"pre": -7, "1m": 30, "3m": 90, "6m": 180}


def _patient(i: int, rng: np.random.Generator) -> dict[str, object]:
    secondary = rng.random() < 0.4
    zones = str(rng.choice(ZONES))
    surgery = date(2015, 1, 1) + timedelta(days=int(rng.integers(0, 365 * 8)))
    return {
        "study_id": f"GEN-{i:03d}",
        "sex": "female" if rng.random() < 0.45 else "male",
        "age_at_surgery": int(rng.integers(16, 81)),
        "surgery_date": surgery,
        "diagnosis": f"metastatic {rng.choice(SECONDARY)} carcinoma" if secondary else str(rng.choice(PRIMARY)),
        "tumor_category": "secondary" if secondary else "primary",
        "enneking_zones": zones,
        "zone_iv": int("IV" in zones.split("+")),
        "resection_margin": str(rng.choice(["wide", "marginal", "intralesional"], p=[0.45, 0.35, 0.20])),
        "reconstruction": "screw-connected" if rng.random() < 0.3 else "standard",
    }


def _log_hazard(p: dict[str, object]) -> float:
    margin = {"wide": 0.0, "marginal": 0.4, "intralesional": 0.9}[str(p["resection_margin"])]
    return (
        -0.3 * (p["sex"] == "female") + 0.8 * (p["tumor_category"] == "secondary") + margin
        + 0.3 * int(str(p["zone_iv"]))
    )


def _outcomes(p: dict[str, object], rng: np.random.Generator) -> dict[str, object]:
    risk = float(np.exp(_log_hazard(p)))
    surgery = p["surgery_date"]
    assert isinstance(surgery, date)
    admin = (CUTOFF - surgery).days
    lost = int(rng.exponential(3000)) + 1
    death = int(rng.exponential(2000 / risk)) + 1
    progression = int(rng.exponential(1300 / risk)) + 1
    last = min(admin, lost, death)
    died = death <= min(admin, lost)
    local = progression <= last and rng.random() < 0.5
    distant = progression <= last and not local
    pfs_days = min(progression, last) if (local or distant) else last
    flags = {name: int(rng.random() < rate) for name, rate in zip(FLAGS, FLAG_RATES, strict=True)}
    return {
        "followup_months": last / DAYS_PER_MONTH,
        "os_months": last / DAYS_PER_MONTH,
        "os_event": int(died),
        "pfs_months": pfs_days / DAYS_PER_MONTH,
        "pfs_event": int(died or local or distant),
        **flags,
        "local_recurrence": int(local),
        "distant_metastasis": int(distant),
        "death": int(died),
    }


REVISION_RATE = 0.2


def _implant_and_timing(cohort: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Revision flag and months (time to revision, else to last contact), and the events table."""
    rng = np.random.default_rng(seed)
    last = (cohort["followup_months"] * DAYS_PER_MONTH).round().astype(int)
    revised = rng.random(len(cohort)) < REVISION_RATE
    day = np.array([int(rng.integers(1, d + 1)) for d in last])
    cohort = cohort.assign(revision=revised.astype(int),
                           revision_months=np.where(revised, day, last) / DAYS_PER_MONTH)
    return cohort, _events(cohort, rng)


def _events(cohort: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for _, p in cohort.iterrows():
        last = round(p["followup_months"] * DAYS_PER_MONTH)
        days = {flag: int(rng.integers(1, last + 1)) for flag in FLAGS if p[flag] == 1}
        progression = round(p["pfs_months"] * DAYS_PER_MONTH)
        days.update({flag: progression for flag in ("local_recurrence", "distant_metastasis") if p[flag] == 1})
        if p["death"] == 1:
            days["death"] = round(p["os_months"] * DAYS_PER_MONTH)
        if p["revision"] == 1:
            days["revision"] = round(p["revision_months"] * DAYS_PER_MONTH)
        surgery = date.fromisoformat(str(p["surgery_date"]))
        rows += [{"study_id": p["study_id"], "event": flag, "date": (surgery + timedelta(days=d)).isoformat(),
                  "days_from_surgery": d} for flag, d in sorted(days.items(), key=lambda item: (item[1], item[0]))]
    return pd.DataFrame(rows, columns=["study_id", "event", "date", "days_from_surgery"])


def _row(instrument: str, timepoint: str, value: float, day: int) -> dict[str, object]:
    return {"instrument": instrument, "timepoint": timepoint, "value": float(value), "day": day}


def _measures(p: dict[str, object], rng: np.random.Generator) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    vas = {"pre": 7.0, "1m": 5.0, "3m": 3.5, "6m": 3.0}
    kps = {"pre": 55.0, "1m": 60.0, "3m": 68.0, "6m": 75.0}
    for tp, day in TIMEPOINTS.items():
        rows.append(_row("vas", tp, np.clip(round(vas[tp] + rng.normal(0, 1.5)), 0, 10), day))
        rows.append(_row("kps", tp, np.clip(10 * round((kps[tp] + rng.normal(0, 12)) / 10), 10, 100), day))
    for tp, mean in (("pre", 11.0), ("3m", 22.0)):
        rows.append(_row("msts93", tp, np.clip(round(mean + rng.normal(0, 4.5)), 0, 30), TIMEPOINTS[tp]))
    sij_pre = float(rng.normal(3.0, 0.5))
    shift = 0.35 if p["zone_iv"] == 1 else 0.05
    for tp, value in (("pre", sij_pre), ("6m", sij_pre + shift + float(rng.normal(0, 0.3)))):
        rows.append(_row("sij_contralateral_mm", tp, round(value, 2), TIMEPOINTS[tp]))
    kept = [r for r in rows if rng.random() > 0.06]  # about 6 % of values missing at random
    surgery = p["surgery_date"]
    assert isinstance(surgery, date)
    return [
        {
            "study_id": p["study_id"], "instrument": r["instrument"], "timepoint": r["timepoint"],
            "value": r["value"], "date": (surgery + timedelta(days=int(str(r["day"])))).isoformat(),
            "days_from_surgery": r["day"],
        }
        for r in kept
    ]


def generated() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(SEED)
    patients, measures = [], []
    for i in range(1, N_PATIENTS + 1):
        p = _patient(i, rng)
        p.update(_outcomes(p, rng))
        patients.append(p)
        measures.extend(_measures(p, rng))
    return pd.DataFrame(patients), pd.DataFrame(measures)


# study_id, sex, age, surgery, diagnosis, zones, margin, reconstruction, last-contact day, death day,
# progression day (local or distant), complications
_SMALL = [
    ("SM-1", "male", 16, "2022-06-15", "osteosarcoma", "I+II", "wide", "standard", 554, None, None, "ho"),
    ("SM-2", "male", 54, "2022-09-02", "chondrosarcoma", "I+II+III", "marginal", "standard", 460, None,
     ("local", 300), "ho"),
    ("SM-3", "female", 48, "2022-11-20", "metastatic endometrial carcinoma", "I+II+IV", "marginal",
     "screw-connected", 377, None, ("distant", 200), "screw_fracture"),
    ("SM-4", "male", 38, "2023-01-10", "osteosarcoma", "II+III", "wide", "standard", 298, None, None, "ho"),
    ("SM-5", "female", 51, "2023-03-05", "metastatic rectal carcinoma", "I+II+III+IV", "intralesional",
     "standard", 244, 244, ("local+distant", 150), "dislocation"),
    ("SM-6", "male", 45, "2023-06-18", "chondrosarcoma", "I+II+III", "wide", "standard", 198, None, None, "ho"),
    ("SM-7", "female", 42, "2023-09-30", "metastatic hepatocellular carcinoma", "I+II+IV", "marginal",
     "screw-connected", 183, None, ("local", 120), "delayed_wound_healing"),
]
_SMALL_SCORES = {  # instrument -> timepoint -> values of SM-1..SM-7 (None = missing)
    "vas": {"pre": [7, 6, 9, 8, 7.5, 6.5, 10], "1m": [4, 4.5, 5, 3.5, 5, 6, 4],
            "3m": [3, 3, 4.5, 2, 4, 5, 2], "6m": [2.5, 3, 3.5, 2, 2, 4, 1]},
    "kps": {"pre": [60, 40, 60, 50, 40, 70, 60], "1m": [60, 50, 70, 60, 50, 70, 60],
            "3m": [70, 60, 80, 70, 60, 80, 70], "6m": [80, 70, 80, None, 70, 80, 80]},
    "msts93": {"pre": [11, 5, 15, 12, 8, 17, 9], "3m": [24, 19, 28, 25, 20, 29, 22]},
    "sij_contralateral_mm": {"pre": [3.05, 2.90, 2.85, 3.20, 3.10, 2.75, 2.60],
                             "6m": [3.10, 2.98, 3.40, 3.13, 3.55, 2.90, 3.30]},
}
_SMALL_DAYS = {"pre": -3, "1m": 30, "3m": 91, "6m": 182}


def small() -> tuple[pd.DataFrame, pd.DataFrame]:
    patients = []
    for sid, sex, age, surgery, diagnosis, zones, margin, recon, last, death, progression, comp in _SMALL:
        kind, prog_day = progression if progression else ("", None)
        row: dict[str, object] = {
            "study_id": sid, "sex": sex, "age_at_surgery": age, "surgery_date": date.fromisoformat(surgery),
            "diagnosis": diagnosis, "tumor_category": "secondary" if "metastatic" in diagnosis else "primary",
            "enneking_zones": zones, "zone_iv": int("IV" in zones.split("+")), "resection_margin": margin,
            "reconstruction": recon, "followup_months": last / DAYS_PER_MONTH, "os_months": last / DAYS_PER_MONTH,
            "os_event": int(death is not None), "pfs_months": (prog_day or last) / DAYS_PER_MONTH,
            "pfs_event": int(prog_day is not None or death is not None),
        }
        row.update({flag: int(comp == flag or (comp == "ho" and flag == FLAGS[0])) for flag in FLAGS})
        row.update(local_recurrence=int("local" in kind), distant_metastasis=int("distant" in kind),
                   death=int(death is not None))
        patients.append(row)
    measures = [
        {"study_id": p["study_id"], "instrument": instrument, "timepoint": tp, "value": float(value),
         "date": (date.fromisoformat(str(p["surgery_date"])) + timedelta(days=_SMALL_DAYS[tp])).isoformat(),
         "days_from_surgery": _SMALL_DAYS[tp]}
        for instrument, by_tp in _SMALL_SCORES.items()
        for tp, values in by_tp.items()
        for p, value in zip(patients, values, strict=True)
        if value is not None
    ]
    return pd.DataFrame(patients), pd.DataFrame(measures)


def write(name: str, cohort: pd.DataFrame, measures: pd.DataFrame, seed: int) -> None:
    out = HERE / name
    out.mkdir(exist_ok=True)
    cohort = cohort.assign(surgery_date=cohort["surgery_date"].map(date.isoformat))
    cohort, events = _implant_and_timing(cohort, seed)
    cohort.to_csv(out / "cohort.csv", index=False, float_format="%.15g")
    measures.to_csv(out / "measures.csv", index=False, float_format="%.15g")
    events.to_csv(out / "events.csv", index=False)
    print(f"{name}: {len(cohort)} patients, OS events {cohort.os_event.sum()}, PFS events {cohort.pfs_event.sum()}, "
          f"revisions {cohort.revision.sum()}")


def main() -> None:
    write("generated", *generated(), seed=SEED + 1)
    write("small", *small(), seed=SEED + 2)


if __name__ == "__main__":
    main()
