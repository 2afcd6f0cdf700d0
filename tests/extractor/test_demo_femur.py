"""The proximal femur demo cohort (extractor/demo_femur): byte-for-byte reproducible, valid FHIR, coded as its study.

The committed files are read with plain json; nothing here depends on the mapping package.
"""

from __future__ import annotations

import json
import tomllib
from collections import Counter
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from extractor.demo_femur import generate

DATA = Path(generate.__file__).resolve().parent / "data"
STUDY = Path(__file__).resolve().parents[2] / "config" / "study-proximal-femur.toml"
TYPES = ("Patient", "Procedure", "Condition", "Observation")
Res = dict[str, Any]


@cache
def load(resource_type: str) -> tuple[Res, ...]:
    lines = (DATA / f"{resource_type}.ndjson").read_text(encoding="utf-8").splitlines()
    return tuple(json.loads(line) for line in lines)


@cache
def study() -> dict[str, Any]:
    return tomllib.loads(STUDY.read_text(encoding="utf-8"))


def local_codes(concept: Res) -> set[str]:
    return {c["code"] for c in concept.get("coding", []) if c["system"] == generate.LOCAL}


def study_local_codes() -> set[str]:
    """Every local code the study file lists, anywhere."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str) and node.startswith("local|"):
            found.add(node.removeprefix("local|"))

    walk(study())
    return found


def test_regenerating_reproduces_committed_files_byte_for_byte(tmp_path):
    generate.main(["--out", str(tmp_path)])
    produced = sorted(p.name for p in tmp_path.iterdir())
    assert produced == sorted([*(f"{t}.ndjson" for t in TYPES), "manifest.json"])
    for name in produced:
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name


def test_two_builds_are_identical():
    assert json.dumps(generate.build_cohort()) == json.dumps(generate.build_cohort())


def test_files_sorted_one_resource_per_line_ids_unique():
    for t in TYPES:
        ids = [r["id"] for r in load(t)]
        assert ids == sorted(ids), t
        assert len(ids) == len(set(ids)), t
        assert all(r["resourceType"] == t for r in load(t))


@pytest.mark.parametrize("resource_type", TYPES)
def test_every_resource_is_valid_fhir_r4(resource_type):
    model = get_fhir_model_class(resource_type)
    for resource in load(resource_type):
        model.model_validate(resource)


def test_cohort_size_and_mix():
    cases = generate.CASES
    assert len(load("Patient")) == len(cases) == 36
    groups = Counter("sarcoma" if c.tumour in generate.HISTOLOGY else "metastatic" for c in cases)
    assert groups == {"sarcoma": 19, "metastatic": 17}
    assert Counter(c.fixation for c in cases) == {"cemented": 19, "uncemented": 17}
    assert len(generate.DEATH) == 16


def test_every_local_code_used_is_in_the_study_file():
    """The demo speaks its study's codes: no local code the study file does not list."""
    listed = study_local_codes()
    used = {code for t in TYPES[1:] for r in load(t) for code in local_codes(r["code"])}
    used |= {code for r in load("Procedure") for site in r.get("bodySite", []) for code in local_codes(site)}
    used |= {code for r in load("Procedure") if "outcome" in r for code in local_codes(r["outcome"])}
    used |= {code for r in load("Observation") if "valueCodeableConcept" in r
             for code in local_codes(r["valueCodeableConcept"])}
    assert used <= listed, sorted(used - listed)


def test_no_date_after_the_cutoff_and_the_manifest_names_it():
    manifest = json.loads((DATA / "manifest.json").read_text(encoding="utf-8"))
    cutoff = date.fromisoformat(manifest["extracted_at"][:10])
    assert manifest["source"] == "bundled demo cohort"
    assert cutoff <= generate.CUTOFF
    dates = [d for t in TYPES for r in load(t) for d in generate.clinical_dates(r)]
    assert max(date.fromisoformat(d) for d in dates) == cutoff


def test_nothing_happens_after_a_death_and_visits_fall_in_their_windows():
    windows = {name: tp["window"] for name, tp in study()["timepoints"].items()}
    for case in generate.CASES:
        visits = dict(zip(generate.TIMEPOINTS, generate.visit_days(case), strict=True))
        for tp, offset in visits.items():
            assert windows[tp][0] <= offset <= windows[tp][1], (case.key, tp)
        death = generate.DEATH.get(case.key)
        if death is None:
            continue
        assert all(offset < death for _, offset in generate.EVENTS.get(case.key, ())), case.key
        scored = [visits[tp] for tp, v in zip(generate.TIMEPOINTS, generate.SCORES[case.key].tess, strict=True)
                  if v is not None]
        assert max(scored) < death, case.key


def test_scores_within_the_instruments_ranges():
    instruments = study()["instruments"]
    for obs in load("Observation"):
        codes = local_codes(obs["code"])
        for spec in instruments.values():
            if {c.removeprefix("local|") for c in spec["codes"]} & codes:
                value = obs.get("valueQuantity", {}).get("value", obs.get("valueInteger"))
                assert spec["min"] <= value <= spec["max"], obs["id"]
