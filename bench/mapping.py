"""Benchmark: resources/s through validate + map, and peak memory, on >= 100k generated resources.

    .venv/bin/python bench/mapping.py                 # full run (about a minute on 2 cores)
    .venv/bin/python bench/mapping.py --patients 300  # quick look

The resources are built here from hand-written templates, perturbed deterministically (seeded): dates
spread over 2021-2024, VAS on the 100 mm scale or SIJ in cm now and then, UTC and partial dates, ~1 %
invalid values, references to missing patients, patients without an index procedure, and a share of
unrelated observations (vital signs) such as any real pull brings, and daily pain scores on the ward
(days 1-7, before the first window) as EHRs record them. They are written as a raw snapshot
(NDJSON, the extractor's format) and read back from disk, so JSON parsing is part of every figure.

Each strategy runs in its own process, so that its peak resident memory (self + worker processes,
``resource.getrusage``) is its own:

* ``before``  in-process, every resource validated (``model_validate`` per resource, the naive design)
* ``lazy``    in-process, validating only what can reach the cohort tables: unrelated codes and instrument
              values outside every timepoint window are validated only if they decide last contact
* ``workers`` forked worker processes (one per CPU), every resource validated
* ``after``   the default of ``map_cohort``: lazy validation, plus one worker per free CPU when a phase is
              large and two or more CPUs are free (on a busy machine it stays in-process)
* ``nocheck`` in-process without fhir.resources at all: the cost of mapping alone (reference only)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from config.study import load_study  # noqa: E402
from extractor.snapshot import Snapshot, SnapshotWriter  # noqa: E402
from mapping import build_cohort  # noqa: E402

LOCAL = "https://example.org/fhir/CodeSystem/pelvic-outcomes"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
UCUM = "http://unitsofmeasure.org"
HISTOLOGY = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-histology-morphology-behavior"
RELATED = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-related-primary-cancer-condition"
KEY = b"bench-key"
SOURCE = "https://bench.example.org/fhir"
STRATEGIES = {
    "before": {"workers": 0, "lazy": False},
    "lazy": {"workers": 0, "lazy": True},
    "workers": {"workers": os.cpu_count() or 2, "lazy": False},
    "after": {"workers": None, "lazy": True},
    "nocheck": {"workers": 0, "lazy": True, "validate": False},
}


# ----------------------------------------------------------------------------- generation


def cc(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


class Generator:
    def __init__(self, seed: int, unrelated: int) -> None:
        self.rng = random.Random(seed)
        self.unrelated = unrelated
        self.n = 0

    def rid(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}-{self.n}"

    def day(self, base: int, offset: int) -> str:
        ordinal = base + offset
        from datetime import date

        text = date.fromordinal(ordinal).isoformat()
        roll = self.rng.random()
        if roll < 0.05:
            return text[:7]  # partial date
        if roll < 0.15:
            return f"{text}T{self.rng.randint(0, 23):02d}:{self.rng.randint(0, 59):02d}:00Z"
        if roll < 0.5:
            return f"{text}T{self.rng.randint(7, 19):02d}:15:00+01:00"
        return text

    def patient(self, index: int) -> Iterator[dict[str, Any]]:
        from datetime import date

        pid = f"pat-{index}"
        ref = {"reference": f"Patient/{pid}"}
        surgery = date(2021, 1, 1).toordinal() + self.rng.randint(0, 900)
        yield {
            "resourceType": "Patient",
            "id": pid,
            "gender": self.rng.choice(["male", "female"]),
            "birthDate": f"{self.rng.randint(1950, 2005)}-0{self.rng.randint(1, 9)}-1{self.rng.randint(0, 9)}",
            "identifier": [{"system": "urn:oid:1.2.3.4.5", "value": f"MRN{index:07d}"}],
            "name": [{"family": f"Family{index}", "given": ["Given"]}],
            "address": [{"city": "Example City", "postalCode": f"{10000 + index}"}],
        }
        if self.rng.random() > 0.02:  # 2 % without an index procedure
            yield self.index(ref, surgery)
        yield {
            "resourceType": "Procedure",
            "id": self.rid("proc"),
            "status": "completed",
            "subject": ref,
            "code": cc(SNOMED, "86273004", "Biopsy"),
            "performedDateTime": self.day(surgery, -30),
        }
        yield from self.conditions(ref, surgery)
        yield from self.observations(ref, surgery)

    def index(self, ref: dict[str, Any], surgery: int) -> dict[str, Any]:
        zones = self.rng.choice([("I", "II"), ("I", "II", "III"), ("II", "III"), ("I", "II", "IV")])
        return {
            "resourceType": "Procedure",
            "id": self.rid("proc"),
            "status": "completed",
            "subject": ref,
            "code": cc(LOCAL, self.rng.choice(["pelvic-prosthesis-standard", "pelvic-prosthesis-screw-connected"])),
            "performedPeriod": {"start": self.day(surgery, 0)[:10] + "T08:00:00+01:00"},
            "bodySite": [cc(LOCAL, f"enneking-zone-{zone}") for zone in zones] + [cc(SNOMED, "12921003")],
            "outcome": cc(LOCAL, self.rng.choice(["margin-wide", "margin-marginal", "margin-intralesional"])),
        }

    def conditions(self, ref: dict[str, Any], surgery: int) -> Iterator[dict[str, Any]]:
        base = {"resourceType": "Condition", "subject": ref}
        if self.rng.random() < 0.6:
            morphology = self.rng.choice(["9220/3", "9180/3"])
            yield {
                **base,
                "id": self.rid("cond"),
                "code": cc(ICD10, "C41.4"),
                "onsetDateTime": self.day(surgery, -60),
                "extension": [
                    {
                        "url": HISTOLOGY,
                        "valueCodeableConcept": cc("http://terminology.hl7.org/CodeSystem/icd-o-3", morphology),
                    }
                ],
            }
        else:
            site_id = self.rid("cond")
            yield {
                **base,
                "id": site_id,
                "code": cc(ICD10, self.rng.choice(["C54.1", "C20", "C22.0"])),
                "onsetDateTime": self.day(surgery, -400),
            }
            yield {
                **base,
                "id": self.rid("cond"),
                "code": cc(ICD10, "C79.51"),
                "onsetDateTime": self.day(surgery, -50),
                "extension": [{"url": RELATED, "valueReference": {"reference": f"Condition/{site_id}"}}],
            }
        for code in ("heterotopic-ossification", "screw-fracture", "dislocation", "local-recurrence"):
            if self.rng.random() < 0.3:
                yield {
                    **base,
                    "id": self.rid("cond"),
                    "code": cc(LOCAL, code),
                    "onsetDateTime": self.day(surgery, self.rng.randint(-20, 400)),
                    "clinicalStatus": cc("http://terminology.hl7.org/CodeSystem/condition-clinical", "active"),
                }
        yield {
            **base,
            "id": self.rid("cond"),
            "code": cc(SNOMED, "38341003", "Hypertension"),
            "onsetDateTime": self.day(surgery, -900),
        }

    def observations(self, ref: dict[str, Any], surgery: int) -> Iterator[dict[str, Any]]:
        for offset in (1, 2, 3, 4, 5, 6, 7):  # daily pain scores on the ward
            yield self.measure(ref, "vas", surgery, offset)
        for offset in (-60, -20, -5, 28, 33, 70, 91, 100, 175, 185, 210, 300):
            yield self.measure(ref, "vas", surgery, offset + self.rng.randint(-3, 3))
        for offset in (-10, -2, 30, 88, 95, 180, 200, 320):
            yield self.measure(ref, "kps", surgery, offset + self.rng.randint(-3, 3))
        for offset in (-5, 90, 185):
            yield self.measure(ref, "msts", surgery, offset)
        for offset in (-5, 180):
            yield self.measure(ref, "sij", surgery, offset)
        yield {
            "resourceType": "Observation",
            "id": self.rid("obs"),
            "status": "final",
            "subject": ref,
            "code": cc(LOCAL, "resection-margin"),
            "effectiveDateTime": self.day(surgery, 2),
            "valueCodeableConcept": cc(LOCAL, "margin-wide"),
        }
        yield {
            "resourceType": "Observation",
            "id": self.rid("obs"),
            "status": "final",
            "subject": ref,
            "code": cc(LOINC, "97509-4"),
            "effectiveDateTime": self.day(surgery, self.rng.randint(30, 500)),
            "valueCodeableConcept": cc(SNOMED, self.rng.choice(["359746009", "271299001", "399409002"])),
        }
        for _ in range(self.unrelated):
            yield {
                "resourceType": "Observation",
                "id": self.rid("obs"),
                "status": "final",
                "subject": ref,
                "category": [cc("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs")],
                "code": cc(LOINC, "8867-4", "Heart rate"),
                "effectiveDateTime": self.day(surgery, self.rng.randint(-90, 500)),
                "valueQuantity": {"value": self.rng.randint(50, 110), "unit": "/min", "system": UCUM, "code": "/min"},
            }

    def measure(self, ref: dict[str, Any], kind: str, surgery: int, offset: int) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "resourceType": "Observation",
            "id": self.rid("obs"),
            "subject": ref,
            "status": self.rng.choices(["final", "amended", "preliminary", "entered-in-error"], [90, 4, 4, 2])[0],
            "category": [cc("http://terminology.hl7.org/CodeSystem/observation-category", "survey")],
            "effectiveDateTime": self.day(surgery, offset),
        }
        roll = self.rng.random()
        if kind == "vas":
            resource["code"] = cc(LOINC, self.rng.choice(["72514-3", "38208-5", "38214-3"]))
            if roll < 0.1:
                resource["valueQuantity"] = {
                    "value": self.rng.randint(0, 100),
                    "unit": "mm",
                    "system": UCUM,
                    "code": "mm",
                }
            else:
                resource["valueInteger"] = self.rng.randint(0, 10)
        elif kind == "kps":
            resource["code"] = cc(LOINC, "89243-0")
            if roll < 0.2:
                resource["valueCodeableConcept"] = cc(LOINC, self.rng.choice(["LA29177-5", "LA29179-1", "LA29181-7"]))
            else:
                resource["valueInteger"] = self.rng.randrange(30, 101, 10)
        elif kind == "msts":
            resource["code"] = cc(LOCAL, "msts93")
            resource["valueString" if roll < 0.3 else "valueInteger"] = (
                str(self.rng.randint(5, 30)) if roll < 0.3 else self.rng.randint(5, 30)
            )
        else:
            resource["code"] = cc(LOCAL, "sij-space-contralateral")
            cm = roll < 0.3
            value = round(self.rng.uniform(2, 6) / (10 if cm else 1), 3)
            resource["valueQuantity"] = {"value": value, "system": UCUM, "code": "cm" if cm else "mm"}
        if self.rng.random() < 0.01:  # invalid FHIR
            resource["valueQuantity"] = {"value": "n/a"}
            resource.pop("valueInteger", None)
            resource.pop("valueString", None)
            resource.pop("valueCodeableConcept", None)
        if self.rng.random() < 0.005:  # a reference to a patient missing from the pull
            resource["subject"] = {"reference": "Patient/not-pulled"}
        return resource


def generate_with_synthetic(folder: Path, patients: int, noise: int, seed: int = 7) -> int:
    """The same, from the demo package's independent generator (extractor.demo.synthetic)."""
    from extractor.demo.synthetic import generate_synthetic

    writer = SnapshotWriter(folder)
    for items in generate_synthetic(patients, seed, noise).values():
        for item in items:
            writer.add(item)
    snapshot = writer.finish(source=SOURCE, kind="files", extracted_at="2025-12-31T00:00:00Z")
    return sum(snapshot.manifest.counts.values())


def generate(folder: Path, patients: int, unrelated: int, seed: int = 20240601) -> int:
    generator = Generator(seed, unrelated)
    writer = SnapshotWriter(folder)
    for index in range(patients):
        for item in generator.patient(index):
            writer.add(item)
    snapshot = writer.finish(source=SOURCE, kind="files", extracted_at="2024-06-01T00:00:00Z")
    return sum(snapshot.manifest.counts.values())


# ----------------------------------------------------------------------------- measuring


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def peak_mb() -> float:
    """Peak resident memory of this process (VmHWM, reset at exec, unlike getrusage's ru_maxrss)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def workers_peak_mb() -> float:
    """Peak resident memory of the largest finished worker process (0 when none ran)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def measure(folder: Path, strategy: str) -> dict[str, Any]:
    study = load_study()
    snapshot = Snapshot.open(folder)
    base = peak_mb()
    start, cpu_start = time.perf_counter(), cpu_seconds()
    cohort = build_cohort(snapshot, study, source_id=SOURCE, pseudonym_key=KEY, **STRATEGIES[strategy])
    elapsed, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
    tables = (cohort.patients.to_csv(), cohort.measures.to_csv(), cohort.events.to_csv())
    digest = hashlib.sha256("".join(tables).encode()).hexdigest()[:16]
    return {
        "strategy": strategy,
        "seconds": elapsed,
        "resources": cohort.n_resources,
        "per_second": cohort.n_resources / elapsed,
        "per_cpu_second": cohort.n_resources / cpu,
        "peak_mb": peak_mb(),
        "workers_mb": workers_peak_mb(),
        "base_mb": base,
        "patients": len(cohort.patients),
        "unmappable": cohort.n_unmappable,
        "quality_entries": len(cohort.quality),
        "digest": str(digest),
    }


def entry_points(samples: int = 3000) -> list[tuple[str, float]]:
    """Per-resource cost of the ways fhir.resources can validate one Observation dict."""
    from fhir.resources import get_fhir_model_class
    from fhir.resources.R4B.observation import Observation

    obs = {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "subject": {"reference": "Patient/p"},
        "code": cc(LOINC, "72514-3"),
        "effectiveDateTime": "2023-01-05T10:00:00+01:00",
        "valueInteger": 5,
    }
    ways = {
        "Observation.model_validate(dict)": lambda: Observation.model_validate(obs),
        "Observation(**dict)": lambda: Observation(**obs),
        "Observation.model_validate_json(json.dumps(dict))": lambda: Observation.model_validate_json(json.dumps(obs)),
        "get_fhir_model_class(type) per resource + model_validate": (
            lambda: get_fhir_model_class("Observation").model_validate(obs)
        ),
    }
    out = []
    for name, call in ways.items():
        call()
        start = time.perf_counter()
        for _ in range(samples):
            call()
        out.append((name, (time.perf_counter() - start) / samples * 1e6))
    return out


def run_child(folder: Path, strategy: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", strategy, "--data", str(folder)]
    done = subprocess.run(command, check=True, capture_output=True, text=True, timeout=900)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def report(title: str, folder: Path, n: int, strategies: list[str]) -> None:
    print(f"\n{title}: {n:,} resources")
    print(
        f"  {'strategy':<9} {'resources/s':>12} {'per CPU-s':>10} {'seconds':>8} {'peak MB (before)':>17} "
        f"{'worker MB':>9} {'patients':>8} {'unmappable':>10}  same tables"
    )
    results = [run_child(folder, strategy) for strategy in strategies]
    reference = results[0]["digest"]
    for r in results:
        same = "yes" if r["digest"] == reference else "NO"
        print(
            f"  {r['strategy']:<9} {r['per_second']:>12,.0f} {r['per_cpu_second']:>10,.0f} {r['seconds']:>8.2f} "
            f"{r['peak_mb']:>10.0f} ({r['base_mb']:>4.0f}) {r['workers_mb']:>9.0f} {r['patients']:>8} "
            f"{r['unmappable']:>10}  {same}"
        )


LEGEND = """
resources/s: wall clock, reading the NDJSON snapshot included. per CPU-s: resources per CPU-second of this
process and its workers (independent of other load on the machine). peak MB: resident memory of the mapping
process (VmHWM), in brackets before mapping began (imports); worker MB: the largest worker process (it shares
most pages with its parent, forked).
same tables: cohort, measures and events identical to the first strategy's (sha-256 of the CSVs)."""


DATASETS = {
    "mixed": "Mixed pull (study data + 15 vital signs per patient)",
    "study-only": "Study codes only (no unrelated resources)",
    "synthetic": "extractor.demo.synthetic (vital signs at every visit, 5 % non-cohort patients)",
}


def make_dataset(kind: str, folder: Path, patients: int) -> int:
    if kind == "mixed":
        return generate(folder, int(patients * 0.9), unrelated=15)
    if kind == "study-only":
        return generate(folder, int(patients * 1.35), unrelated=0)
    return generate_with_synthetic(folder, int(patients * 0.75), noise=int(patients * 0.05))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000, help="scale: 2000 gives about 100k resources per set")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--generate", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(Path(args.data), args.child)))
        return
    if args.generate:  # in its own process, so that the measuring processes start small
        print(make_dataset(args.generate, Path(args.data), args.patients))
        return
    print("fhir.resources entry points, one small Observation (µs per resource):")
    for name, micro in entry_points():
        print(f"  {micro:7.1f}  {name}")
    print(LEGEND)
    strategies = ["before", "lazy", "workers", "after", "nocheck"]
    with tempfile.TemporaryDirectory() as tmp:
        for kind, title in DATASETS.items():
            folder = Path(tmp) / kind
            command = [sys.executable, __file__, "--generate", kind, "--data", str(folder)]
            command += ["--patients", str(args.patients)]
            done = subprocess.run(command, check=True, capture_output=True, text=True, timeout=900)
            report(title, folder, int(done.stdout.strip().splitlines()[-1]), strategies)


if __name__ == "__main__":
    main()
