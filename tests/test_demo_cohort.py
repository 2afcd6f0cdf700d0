"""The bundled demo cohort agrees with every figure of the seed abstract (docs/demo-cohort.md).

The committed NDJSON files are read with plain json: nothing here depends on the mapping package.
Timepoints use the default windows of the study definition (days from surgery): pre = latest in
[-90, 0]; 1m / 3m / 6m = closest to 30 / 90 / 180 in [15, 45] / [60, 120] / [150, 240].
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fhir.resources.R4B import get_fhir_model_class
from lifelines.statistics import logrank_test, multivariate_logrank_test
from scipy import stats

from extractor.demo import generate, search
from extractor.demo.synthetic import generate_synthetic

DATA = Path(generate.__file__).resolve().parent / "data"
Res = dict[str, Any]
TYPES = ("Patient", "Procedure", "Condition", "Observation")
LOCAL = "https://example.org/fhir/CodeSystem/pelvic-outcomes"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
MCODE = "http://hl7.org/fhir/us/mcode/StructureDefinition/"
INDEX_CODES = {"pelvic-prosthesis-standard", "pelvic-prosthesis-screw-connected"}
WINDOWS = {"pre": (-90, 0, None), "1m": (15, 45, 30), "3m": (60, 120, 90), "6m": (150, 240, 180)}
INSTRUMENTS = {"vas": (LOINC, "72514-3"), "kps": (LOINC, "89243-0"), "msts93": (LOCAL, "msts93"),
               "sij": (LOCAL, "sij-space-contralateral")}
MONTH = 30.4375


# ---------------------------------------------------------------- reading the files

@cache
def load(resource_type: str) -> tuple[Res, ...]:
    lines = (DATA / f"{resource_type}.ndjson").read_text(encoding="utf-8").splitlines()
    return tuple(json.loads(line) for line in lines)


def codes(concept: Res, system: str | None = None) -> set[str]:
    return {c["code"] for c in concept.get("coding", []) if system is None or c["system"] == system}


def patient_of(resource: Res) -> str:
    return str(resource["subject"]["reference"]).removeprefix("Patient/")


def clinical_date(resource: Res) -> str | None:
    for key in ("performedDateTime", "effectiveDateTime", "onsetDateTime"):
        if key in resource:
            return str(resource[key])
    return None


def days(a: str, b: str) -> int:
    return (date.fromisoformat(b[:10]) - date.fromisoformat(a[:10])).days


@cache
def surgery() -> dict[str, str]:
    """Patient id -> date of the (earliest) index procedure."""
    out: dict[str, str] = {}
    for proc in load("Procedure"):
        if codes(proc["code"], LOCAL) & INDEX_CODES:
            pid = patient_of(proc)
            out[pid] = min(out.get(pid, "9999"), proc["performedDateTime"])
    return out


def index_procedures() -> list[Res]:
    return [p for p in load("Procedure") if codes(p["code"], LOCAL) & INDEX_CODES]


def age(birth: str, on: str) -> int:
    b, d = date.fromisoformat(birth), date.fromisoformat(on)
    return d.year - b.year - ((d.month, d.day) < (b.month, b.day))


def obs_value(obs: Res) -> float:
    if "valueQuantity" in obs:
        return float(obs["valueQuantity"]["value"])
    return float(obs["valueInteger"])


def pick(points: list[tuple[int, float]], timepoint: str) -> float | None:
    lo, hi, target = WINDOWS[timepoint]
    inside = sorted(p for p in points if lo <= p[0] <= hi)
    if not inside:
        return None
    if target is None:
        return inside[-1][1]
    return min(inside, key=lambda p: (abs(p[0] - target), p[0]))[1]


@cache
def measures() -> dict[tuple[str, str], dict[str, float]]:
    """(instrument, timepoint) -> {patient id: value}."""
    points: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for obs in load("Observation"):
        for name, (system, code) in INSTRUMENTS.items():
            if code in codes(obs["code"], system):
                pid = patient_of(obs)
                points.setdefault((name, pid), []).append((days(surgery()[pid], obs["effectiveDateTime"]),
                                                            obs_value(obs)))
    out: dict[tuple[str, str], dict[str, float]] = {}
    for (name, pid), pts in points.items():
        for tp in WINDOWS:
            value = pick(pts, tp)
            if value is not None:
                out.setdefault((name, tp), {})[pid] = value
    return out


def series(name: str, tp: str, patients: list[str] | None = None) -> list[float]:
    values = measures()[(name, tp)]
    return [values[p] for p in (patients or sorted(surgery()))]


def conditions_with(code: str, system: str = LOCAL) -> list[Res]:
    return [c for c in load("Condition") if code in codes(c["code"], system)]


def zones_of(proc: Res) -> list[str]:
    zones = [c.removeprefix("enneking-zone-") for s in proc["bodySite"] for c in codes(s, LOCAL)]
    return sorted(zones, key=["I", "II", "III", "IV"].index)


def last_contact(pid: str) -> str:
    dates = [clinical_date(r) for t in TYPES[1:] for r in load(t) if patient_of(r) == pid]
    patient = next(p for p in load("Patient") if p["id"] == pid)
    dates.append(patient.get("deceasedDateTime"))
    return max(d for d in dates if d is not None)


def followup_months() -> list[float]:
    return [days(s, last_contact(pid)) / MONTH for pid, s in surgery().items()]


def r7(values: list[float]) -> tuple[float, float, float]:
    q1, med, q3 = np.percentile(values, [25, 50, 75])  # numpy default 'linear' = R type 7
    return float(med), float(q1), float(q3)


# ---------------------------------------------------------------- demographics and surgery

def test_seven_patients_each_with_one_index_procedure():
    assert len(load("Patient")) == 7
    assert sorted(Counter(patient_of(p) for p in index_procedures()).values()) == [1] * 7


def test_four_males_three_females():
    assert Counter(p["gender"] for p in load("Patient")) == {"male": 4, "female": 3}


def test_mean_age_42_range_16_to_54():
    ages = [age(p["birthDate"], surgery()[p["id"]]) for p in load("Patient")]
    assert round(statistics.mean(ages)) == 42
    assert (min(ages), max(ages)) == (16, 54)


def test_two_chondrosarcomas_two_osteosarcomas():
    primaries = conditions_with("C41.4", ICD10)
    morphology = Counter(
        code for c in primaries for e in c["extension"] if e["url"] == MCODE + "mcode-histology-morphology-behavior"
        for code in codes(e["valueCodeableConcept"])
    )
    assert morphology == {"9220/3": 2, "9180/3": 2}


def test_three_metastases_endometrial_rectal_hepatocellular():
    by_id = {c["id"]: c for c in load("Condition")}
    sites: list[str] = []
    for met in conditions_with("C79.51", ICD10):
        (ext,) = [e for e in met["extension"] if e["url"] == MCODE + "mcode-related-primary-cancer-condition"]
        primary = by_id[ext["valueReference"]["reference"].removeprefix("Condition/")]
        assert patient_of(primary) == patient_of(met)
        sites += codes(primary["code"], ICD10)
    assert sorted(sites) == ["C20", "C22.0", "C54.1"]


def test_tumours_diagnosed_before_surgery():
    for c in conditions_with("C41.4", ICD10) + conditions_with("C79.51", ICD10):
        assert c["onsetDateTime"] < surgery()[patient_of(c)]
        assert codes(c["clinicalStatus"]) == {"active"} and codes(c["verificationStatus"]) == {"confirmed"}


def test_enneking_zones():
    combos = ["+".join(zones_of(p)) for p in index_procedures()]
    without_iv = [c for c in combos if "IV" not in c.split("+")]
    with_iv = [c for c in combos if "IV" in c.split("+")]
    assert len(without_iv) == 4 and set(without_iv) == {"I+II", "I+II+III", "II+III"}
    assert len(with_iv) == 3 and set(with_iv) == {"I+II+IV", "I+II+III+IV"}


def test_resection_margins_wide_3_marginal_3_intralesional_1():
    margins = [o for o in load("Observation") if "resection-margin" in codes(o["code"], LOCAL)]
    assert Counter(c for o in margins for c in codes(o["valueCodeableConcept"], LOCAL)) == {
        "margin-wide": 3, "margin-marginal": 3, "margin-intralesional": 1}
    assert sorted(patient_of(o) for o in margins) == sorted(surgery())
    assert all(o["effectiveDateTime"] == surgery()[patient_of(o)] for o in margins)


def test_five_standard_two_screw_connected():
    assert Counter(c for p in index_procedures() for c in codes(p["code"], LOCAL)) == {
        "pelvic-prosthesis-standard": 5, "pelvic-prosthesis-screw-connected": 2}


def test_index_procedure_body_site_pelvis_with_laterality():
    for proc in index_procedures():
        (pelvis,) = [s for s in proc["bodySite"] if "12921003" in codes(s, SNOMED)]
        (lat,) = pelvis["extension"]
        assert lat["url"] == MCODE + "mcode-laterality-qualifier"
        assert codes(lat["valueCodeableConcept"], SNOMED) <= {"24028007", "7771000"}
        assert proc["status"] == "completed"


def test_surgeries_june_2022_to_december_2023():
    dates = sorted(surgery().values())
    assert dates[0].startswith("2022-06") and dates[-1].startswith("2023-12")


# ---------------------------------------------------------------- scores

PRINTED = {
    ("vas", "pre"): (7.0, 6.0, 8.5), ("vas", "1m"): (4.0, 3.5, 5.0),
    ("vas", "3m"): (3.0, 2.0, 4.5), ("vas", "6m"): (2.5, 2.0, 3.5),
    ("kps", "pre"): (60.0, 40.0, 60.0), ("kps", "1m"): (60.0, 50.0, 70.0),
    ("kps", "3m"): (70.0, 60.0, 80.0), ("kps", "6m"): (80.0, 70.0, 80.0),
}


@pytest.mark.parametrize(("instrument", "timepoint"), sorted(PRINTED))
def test_vas_kps_median_iqr_r_type_7(instrument, timepoint):
    values = series(instrument, timepoint)
    assert len(values) == 7
    assert r7(values) == PRINTED[(instrument, timepoint)]


def test_every_score_inside_its_window_once():
    expected = {"vas": WINDOWS, "kps": WINDOWS, "msts93": ("pre", "3m"), "sij": ("pre", "6m")}
    for name, timepoints in expected.items():
        for tp in timepoints:
            assert len(measures()[(name, tp)]) == 7, (name, tp)
    n_scores = sum(1 for o in load("Observation") for s, c in INSTRUMENTS.values() if c in codes(o["code"], s))
    assert n_scores == 7 * (4 + 4 + 2 + 2)


def test_vas_and_kps_values_admissible():
    for tp in WINDOWS:
        assert all(v * 2 == int(v * 2) and 0 <= v <= 10 for v in series("vas", tp))
        assert all(v % 10 == 0 and 0 <= v <= 100 for v in series("kps", tp))


@pytest.mark.parametrize(("instrument", "printed_chi2", "printed_p"), [("vas", 9.46, 0.024), ("kps", 13.36, 0.004)])
def test_friedman_chi2_as_printed(instrument, printed_chi2, printed_p):
    result = stats.friedmanchisquare(*(series(instrument, tp) for tp in WINDOWS))
    assert abs(result.statistic - printed_chi2) < 0.005  # rounds to the printed two decimals
    assert round(result.pvalue, 3) == printed_p


def test_msts_mean_sd_and_paired_t():
    pre, post = series("msts93", "pre"), series("msts93", "3m")
    assert all(float(v).is_integer() and 0 <= v <= 30 for v in pre + post)
    assert (round(statistics.mean(pre), 2), round(statistics.stdev(pre), 2)) == (11.00, 4.20)
    assert (round(statistics.mean(post), 2), round(statistics.stdev(post), 2)) == (23.86, 4.06)
    assert stats.ttest_rel(pre, post).pvalue < 0.001


def test_sij_space_paired_t_zone_iv_vs_non_iv():
    zone_iv = {patient_of(p) for p in index_procedures() if "IV" in zones_of(p)}
    iv, other = sorted(zone_iv), sorted(set(surgery()) - zone_iv)
    assert round(stats.ttest_rel(series("sij", "pre", iv), series("sij", "6m", iv)).pvalue, 3) == 0.048
    assert stats.ttest_rel(series("sij", "pre", other), series("sij", "6m", other)).pvalue >= 0.05


def test_sij_encoding():
    for obs in load("Observation"):
        if "sij-space-contralateral" in codes(obs["code"], LOCAL):
            assert obs["valueQuantity"]["code"] == "mm" and obs["valueQuantity"]["system"] == "http://unitsofmeasure.org"
            assert "39723000" in codes(obs["bodySite"], SNOMED)


# ---------------------------------------------------------------- complications, events, follow-up

@pytest.mark.parametrize(("code", "count"), [
    ("heterotopic-ossification", 4), ("screw-fracture", 1), ("dislocation", 1), ("delayed-wound-healing", 1),
    ("local-recurrence", 2), ("distant-metastasis", 2),
    ("deep-infection", 0), ("periprosthetic-osteolysis", 0), ("implant-loosening", 0),
])
def test_complication_counts(code, count):
    found = conditions_with(code)
    assert len({patient_of(c) for c in found}) == len(found) == count
    assert all(c["onsetDateTime"] > surgery()[patient_of(c)] for c in found)


def test_heterotopic_ossification_also_snomed():
    assert all("444748003" in codes(c["code"], SNOMED) for c in conditions_with("heterotopic-ossification"))


def test_one_death_with_recurrence_and_metastasis():
    dead = [p for p in load("Patient") if "deceasedDateTime" in p]
    assert len(dead) == 1
    pid = dead[0]["id"]
    assert pid in {patient_of(c) for c in conditions_with("local-recurrence")}
    assert pid in {patient_of(c) for c in conditions_with("distant-metastasis")}
    assert last_contact(pid) == dead[0]["deceasedDateTime"]


def test_followup_mean_10_6_range_6_0_to_18_2():
    months = followup_months()
    assert round(statistics.mean(months), 1) == 10.6
    assert (round(min(months), 1), round(max(months), 1)) == (6.0, 18.2)


def test_last_contact_is_a_disease_status_observation():
    events = conditions_with("local-recurrence") + conditions_with("distant-metastasis")
    progressed = {patient_of(c) for c in events}
    for pid in surgery():
        status = [o for o in load("Observation") if patient_of(o) == pid and "97509-4" in codes(o["code"], LOINC)]
        last = max(status, key=lambda o: o["effectiveDateTime"])
        dated = [clinical_date(r) for t in TYPES[1:] for r in load(t) if patient_of(r) == pid]
        assert last["effectiveDateTime"] == max(d for d in dated if d)
        expected = "271299001" if pid in progressed else "359746009"
        assert codes(last["valueCodeableConcept"], SNOMED) == {expected}


# ---------------------------------------------------------------- survival: no prognostic factor is significant

def covariates() -> dict[str, dict[str, str]]:
    """Covariate -> patient id -> group, read from the resources (the cohort schema's four factors)."""
    primary = {patient_of(c) for c in conditions_with("C41.4", ICD10)}
    margins = {patient_of(o): c for o in load("Observation") if "resection-margin" in codes(o["code"], LOCAL)
               for c in codes(o["valueCodeableConcept"], LOCAL)}
    zone_iv = {patient_of(p) for p in index_procedures() if "IV" in zones_of(p)}
    return {
        "sex": {p["id"]: p["gender"] for p in load("Patient")},
        "tumor_category": {pid: "primary" if pid in primary else "secondary" for pid in surgery()},
        "resection_margin": {pid: margins[pid].removeprefix("margin-") for pid in surgery()},
        "zone_iv": {pid: str(int(pid in zone_iv)) for pid in surgery()},
    }


def survival(endpoint: str) -> dict[str, tuple[float, int]]:
    """Patient id -> (months, event). OS: death, else censored at last contact. PFS: the earliest of local
    recurrence, distant metastasis or death, else censored at last contact."""
    deaths = {p["id"]: p["deceasedDateTime"] for p in load("Patient") if "deceasedDateTime" in p}
    out: dict[str, tuple[float, int]] = {}
    for pid, surgery_date in surgery().items():
        dates = [deaths[pid]] if pid in deaths else []
        if endpoint == "pfs":
            dates += [c["onsetDateTime"] for code in ("local-recurrence", "distant-metastasis")
                      for c in conditions_with(code) if patient_of(c) == pid]
        end = min(dates) if dates else last_contact(pid)
        out[pid] = (days(surgery_date, end) / MONTH, int(bool(dates)))
    return out


def logrank_p(endpoint: str, covariate: str) -> float:
    """Two groups: ``logrank_test``; more: ``multivariate_logrank_test`` (as analysis/survival.py)."""
    times = survival(endpoint)
    pids = sorted(times)
    group = covariates()[covariate]
    levels = sorted({group[pid] for pid in pids})
    if len(levels) == 2:
        a = [times[pid] for pid in pids if group[pid] == levels[0]]
        b = [times[pid] for pid in pids if group[pid] == levels[1]]
        result = logrank_test([t for t, _ in a], [t for t, _ in b], [e for _, e in a], [e for _, e in b])
    else:
        result = multivariate_logrank_test([times[pid][0] for pid in pids], [group[pid] for pid in pids],
                                           [times[pid][1] for pid in pids])
    return float(result.p_value)


def test_pfs_events_three_patients_and_os_one_death():
    assert sum(e for _, e in survival("pfs").values()) == 3
    assert sum(e for _, e in survival("os").values()) == 1


@pytest.mark.parametrize("endpoint", ["pfs", "os"])
@pytest.mark.parametrize("covariate", ["sex", "tumor_category", "resection_margin", "zone_iv"])
def test_logrank_not_significant(endpoint, covariate):
    """The abstract: sex, tumour type, extent of resection and Zone IV do not affect PFS (nor, here, OS)."""
    assert logrank_p(endpoint, covariate) >= 0.05


# ---------------------------------------------------------------- files, ids, validity

def test_regenerating_reproduces_committed_files_byte_for_byte(tmp_path):
    generate.main(["--out", str(tmp_path)])
    produced = sorted(p.name for p in tmp_path.iterdir())
    assert produced == sorted(f"{t}.ndjson" for t in TYPES)
    for name in produced:
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name


def test_files_sorted_one_resource_per_line_ids_stable():
    for t in TYPES:
        resources = load(t)
        ids = [r["id"] for r in resources]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        assert all(r["resourceType"] == t and r["id"].startswith("demo-p") and not r["id"].isdigit()
                   for r in resources)


def test_references_resolve():
    patients = {p["id"] for p in load("Patient")}
    assert all(patient_of(r) in patients for t in TYPES[1:] for r in load(t))


@pytest.mark.parametrize("resource_type", TYPES)
def test_every_resource_validates_with_fhir_resources_r4b(resource_type):
    model = get_fhir_model_class(resource_type)
    for resource in load(resource_type):
        model.model_validate(resource)


# ---------------------------------------------------------------- the numeric search

def test_search_friedman_matches_scipy():
    rng = np.random.default_rng(0)
    for _ in range(50):
        rows = rng.integers(0, 5, size=(7, 4)).astype(float)
        if (rows == rows[:, :1]).all():
            continue
        assert math.isclose(search.friedman_chi2(rows.tolist()), stats.friedmanchisquare(*rows.T).statistic)


def test_search_columns_reproduce_printed_quartiles():
    problem = search.vas_problem()
    for columns, timepoint in zip(problem.columns, WINDOWS, strict=True):
        assert columns
        assert all(r7(list(c)) == PRINTED[("vas", timepoint)] for c in columns[:: max(1, len(columns) // 20)])


def test_search_msts_and_sij_match_table():
    pre, post = search.msts_columns()
    assert sorted(s.msts[0] for s in generate.SCORES.values()) == list(pre)
    assert sorted(s.msts[1] for s in generate.SCORES.values()) == list(post)
    zone_iv = [k for k, t in generate.TUMOURS.items() if "IV" in t[1].split("+")]
    widening = sorted(round(generate.SCORES[k].sij[1] - generate.SCORES[k].sij[0], 1) for k in zone_iv)
    assert tuple(widening) == search.sij_iv_differences()


@pytest.mark.slow
@pytest.mark.parametrize(("name", "seed"), [("vas", 4), ("kps", 9)])
def test_search_reproduces_the_table_rows(name, seed):
    """The rows in generate.SCORES are the search's best (python -m extractor.demo.search), reassigned."""
    problem = search.vas_problem() if name == "vas" else search.kps_problem()
    found = search.anneal(problem, seed, 400_000)
    table = sorted(tuple(float(v) for v in getattr(s, name)) for s in generate.SCORES.values())
    assert sorted(found.rows) == table


# ---------------------------------------------------------------- synthetic cohorts

def index_patients(grouped: Res) -> Counter[str]:
    return Counter(patient_of(p) for p in grouped["Procedure"] if codes(p["code"], LOCAL) & INDEX_CODES)


def test_synthetic_is_deterministic_for_a_seed():
    a, b = generate_synthetic(30, seed=7, noise_patients=10), generate_synthetic(30, seed=7, noise_patients=10)
    assert a == b
    assert generate_synthetic(30, seed=8, noise_patients=10) != a


def test_synthetic_noise_patients_have_no_index_procedure():
    grouped = generate_synthetic(40, seed=1, noise_patients=25)
    patients = sorted(p["id"] for p in grouped["Patient"])
    study, noise = patients[:40], patients[40:]
    assert len(noise) == 25
    index = index_patients(grouped)
    assert sorted(index) == study and set(index.values()) == {1}
    noise_resources = [r for t in TYPES[1:] for r in grouped[t] if patient_of(r) in set(noise)]
    assert noise_resources and not any(patient_of(r) in index for r in noise_resources)
    assert any("72514-3" in codes(r["code"], LOINC) for r in noise_resources if r["resourceType"] == "Observation")


def test_synthetic_values_and_dates_plausible():
    grouped = generate_synthetic(60, seed=2, noise_patients=5)
    years = {d[:4] for d in surgery_dates(grouped)}
    assert years <= {"2021", "2022", "2023", "2024", "2025"} and len(years) >= 4
    for obs in grouped["Observation"]:
        if "72514-3" in codes(obs["code"], LOINC):
            assert 0 <= obs["valueQuantity"]["value"] <= 10
        if "89243-0" in codes(obs["code"], LOINC):
            assert obs["valueInteger"] % 10 == 0
    ids = [r["id"] for t in TYPES for r in grouped[t]]
    assert len(ids) == len(set(ids))


def surgery_dates(grouped: Res) -> list[str]:
    return [p["performedDateTime"] for p in grouped["Procedure"] if codes(p["code"], LOCAL) & INDEX_CODES]


def test_synthetic_resources_validate():
    grouped = generate_synthetic(20, seed=3, noise_patients=10)
    for t in TYPES:
        model = get_fhir_model_class(t)
        for resource in grouped[t]:
            model.model_validate(resource)


def test_synthetic_scales_to_100k_resources():
    grouped = generate_synthetic(2000, seed=0)
    assert len(grouped["Patient"]) == 2000
    assert sum(len(v) for v in grouped.values()) >= 100_000


def test_synthetic_cli_writes_ndjson(tmp_path):
    from extractor.demo import synthetic

    synthetic.main(["--patients", "5", "--noise", "2", "--seed", "4", "--out", str(tmp_path)])
    lines = (tmp_path / "Patient.ndjson").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 7 and all(json.loads(line)["resourceType"] == "Patient" for line in lines)
