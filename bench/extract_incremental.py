"""Nightly-pull benchmark: a cohort among unrelated data on one real FHIR server (not a test).

It loads into the server (ids namespaced by a fresh tag, index procedures in the tag's own code system, so
other data on the server does not count):

* the cohort: ``--cohort`` synthetic study patients (extractor.demo.synthetic), and a Group of them plus the
  noise patients that will join the cohort during the run (for the Bulk group export);
* noise: ``--noise`` unrelated patients in the style of a Synthea export (this file's own generator): each
  with 15-25 Encounters and, per encounter, vital signs and often labs (Observations), plus Conditions and
  Procedures of other kinds. None has an index procedure.

Then ``--rounds`` interleaved rounds; each pull runs in its own subprocess and reports its own time:

1. overnight writes: ``--night-writes`` noise resources are written again (new versions), as an unrelated
   bulk load would, just before the full pull, so they fall inside the incremental overlap (300 s);
2. full search pull (4 concurrent searches, the default settings);
3. incremental pull with nothing changed, on that snapshot;
4. a few changes to the cohort (an Observation changed, one added, one deleted, a Condition moved to a noise
   patient, a noise patient joining with an index procedure, a patient leaving), then the incremental pull
   on the same snapshot, checked equal (content) to a full pull made right after it;
5. search speed, ``--repeat`` times interleaved: a bare one-connection ``requests`` loop over the same
   searches (bench/extract.py's baseline: 100 patients per search, pages of 250), ours sequential (one
   connection), ours with 4 concurrent searches;
6. Bulk ``$export`` of the Group (group level) with our extractor.

With ``--compare-with DIR`` (a folder holding another ``extractor`` package, e.g. a previous commit's:
``git archive <commit> extractor | tar -x -C DIR``) the two incremental pulls also run with that code.
It prints every run, then medians and the ratios measured within each round (their median).

    .venv/bin/python bench/extract_incremental.py --base-url http://127.0.0.1:8097/fhir --rounds 3
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "bench"))

import requests  # noqa: E402
from extract import baseline, bench_study, flatten, namespaced, peak_rss_kib  # noqa: E402

from config.fhir import FhirSettings  # noqa: E402

Resource = dict[str, Any]
FHIR = {"Accept": "application/fhir+json", "Content-Type": "application/fhir+json"}
OVERLAP = 300.0  # fhir.incremental_overlap's default, used by every pull here
TYPES = ("Patient", "Procedure", "Condition", "Observation")
LOINC, SNOMED, ICD10 = "http://loinc.org", "http://snomed.info/sct", "http://hl7.org/fhir/sid/icd-10-cm"
LABS = (  # (LOINC code, display), unit, range
    (("2339-0", "Glucose [Mass/volume] in Blood"), "mg/dL", (70.0, 140.0)),
    (("2160-0", "Creatinine [Mass/volume] in Serum or Plasma"), "mg/dL", (0.6, 1.3)),
    (("718-7", "Hemoglobin [Mass/volume] in Blood"), "g/dL", (11.0, 17.0)),
    (("6690-2", "Leukocytes [#/volume] in Blood"), "10*3/uL", (4.0, 11.0)),
    (("777-3", "Platelets [#/volume] in Blood"), "10*3/uL", (150.0, 400.0)),
    (("2951-2", "Sodium [Moles/volume] in Serum or Plasma"), "mmol/L", (135.0, 145.0)),
    (("2823-3", "Potassium [Moles/volume] in Serum or Plasma"), "mmol/L", (3.5, 5.1)),
)
NOISE_PROCEDURES = (("73761001", "Colonoscopy"), ("80146002", "Appendectomy"), ("52734007", "Total hip replacement"),
                    ("38102005", "Cholecystectomy"), ("430193006", "Medication reconciliation"),
                    ("710824005", "Assessment of health and social care needs"))
NOISE_CONDITIONS = (("I10", "Essential (primary) hypertension"), ("E11.9", "Type 2 diabetes mellitus"),
                    ("J45.909", "Unspecified asthma"), ("E78.5", "Hyperlipidemia"), ("F32.9", "Depression"),
                    ("M54.5", "Low back pain"), ("K21.9", "Gastro-esophageal reflux disease"))


# --------------------------------------------------------------------------- the noise (Synthea-like)


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}


def _observation(rid: str, pid: str, enc: str, when: str, loinc: tuple[str, str], value: float, unit: str,
                 category: str) -> Resource:
    return {"resourceType": "Observation", "id": rid, "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": category}]}],
            "code": {"coding": [{"system": LOINC, "code": loinc[0], "display": loinc[1]}], "text": loinc[1]},
            "subject": {"reference": f"Patient/{pid}"}, "encounter": {"reference": f"Encounter/{enc}"},
            "effectiveDateTime": when, "issued": when,
            "valueQuantity": _quantity(value, unit)}


def noise_patient(rnd: random.Random, pid: str, encounters: tuple[int, int] = (15, 25)) -> list[Resource]:
    """One unrelated patient with a few years of primary care: ~200-300 resources (15-25 encounters)."""
    from extractor.demo.synthetic import VITALS

    start = date(2019, 1, 1) + timedelta(days=rnd.randrange(700))
    birth = start - timedelta(days=rnd.randint(20 * 365, 85 * 365))
    out: list[Resource] = [{
        "resourceType": "Patient", "id": pid, "gender": rnd.choice(("male", "female")),
        "birthDate": birth.isoformat(), "name": [{"family": "Noise", "given": [pid]}],
        "address": [{"city": "Springfield", "country": "US"}],
    }]
    for e, day in enumerate(sorted(rnd.sample(range(0, 6 * 365), rnd.randint(*encounters)))):
        when = (start + timedelta(days=day)).isoformat() + "T09:00:00Z"
        enc = f"{pid}-enc{e}"
        out.append({"resourceType": "Encounter", "id": enc, "status": "finished",
                    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                    "type": [{"coding": [{"system": SNOMED, "code": "185349003", "display": "Check up"}]}],
                    "subject": {"reference": f"Patient/{pid}"},
                    "period": {"start": when, "end": when.replace("T09:00", "T09:30")}})
        for loinc, unit, (lo, hi), decimals in VITALS:
            out.append(_observation(f"{enc}-{loinc[0]}", pid, enc, when, loinc,
                                    round(rnd.uniform(lo, hi), decimals), unit, "vital-signs"))
        if rnd.random() < 0.5:
            for loinc, unit, (lo, hi) in LABS:
                out.append(_observation(f"{enc}-lab-{loinc[0]}", pid, enc, when, loinc,
                                        round(rnd.uniform(lo, hi), 1), unit, "laboratory"))
        if rnd.random() < 0.3:
            code, display = rnd.choice(NOISE_PROCEDURES)
            out.append({"resourceType": "Procedure", "id": f"{enc}-proc", "status": "completed",
                        "code": {"coding": [{"system": SNOMED, "code": code, "display": display}]},
                        "subject": {"reference": f"Patient/{pid}"}, "encounter": {"reference": f"Encounter/{enc}"},
                        "performedDateTime": when})
        if rnd.random() < 0.35:
            code, display = rnd.choice(NOISE_CONDITIONS)
            out.append({"resourceType": "Condition", "id": f"{enc}-cond",
                        "clinicalStatus": {"coding": [{"code": "active"}]},
                        "code": {"coding": [{"system": ICD10, "code": code, "display": display}]},
                        "subject": {"reference": f"Patient/{pid}"}, "encounter": {"reference": f"Encounter/{enc}"},
                        "onsetDateTime": when})
    return out


# --------------------------------------------------------------------------- loading and changing the server


def write_folder(resources: list[Resource], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines: dict[str, list[str]] = {}
    for resource in resources:
        lines.setdefault(resource["resourceType"], []).append(json.dumps(resource))
    for rtype, text in lines.items():
        (folder / f"{rtype}.ndjson").write_text("\n".join(text) + "\n")
    return folder


def load(base_url: str, resources: list[Resource], folder: Path, what: str) -> float:
    from extractor import seed

    started = time.monotonic()
    counts = seed(write_folder(resources, folder), FhirSettings(base_url=base_url, read_timeout=900.0))
    seconds = time.monotonic() - started
    print(f"  loaded {what}: {sum(counts.values())} resources in {seconds:.0f} s "
          f"({', '.join(f'{t} {n}' for t, n in sorted(counts.items()))})", flush=True)
    return seconds


def put(base_url: str, resource: Resource) -> None:
    body = {k: v for k, v in resource.items() if k != "meta"}
    answer = requests.put(f"{base_url}/{body['resourceType']}/{body['id']}", json=body, headers=FHIR, timeout=120)
    if answer.status_code not in (200, 201):
        raise SystemExit(f"PUT {body['resourceType']} failed: {answer.status_code} {answer.text[:200]}")


def delete(base_url: str, rtype: str, rid: str) -> None:
    answer = requests.delete(f"{base_url}/{rtype}/{rid}", headers=FHIR, timeout=120)
    if answer.status_code not in (200, 202, 204):
        raise SystemExit(f"DELETE {rtype} failed: {answer.status_code} {answer.text[:200]}")


def snapshot_resources(folder: Path) -> dict[str, list[Resource]]:
    return {t: [json.loads(line) for line in (folder / f"{t}.ndjson").read_text().splitlines() if line.strip()]
            if (folder / f"{t}.ndjson").exists() else [] for t in TYPES}


def subject_of(resource: Resource) -> str:
    return str(resource.get("subject", {}).get("reference", "")).rsplit("/", 1)[-1]


def few_changes(base_url: str, snapshot: Path, joiner: str, bystander: str, tag: str, round_no: int) -> None:
    """Six changes to the cohort of ``snapshot`` (the current server state): an Observation changed, one
    added, one deleted, a Condition moved to ``bystander`` (a noise patient), ``joiner`` (a noise patient)
    gains an index procedure, a patient's index procedures are recoded (the patient leaves)."""
    held = snapshot_resources(snapshot)
    by_patient: dict[str, dict[str, list[Resource]]] = {}
    for rtype in ("Procedure", "Condition", "Observation"):
        for resource in held[rtype]:
            by_patient.setdefault(subject_of(resource), {}).setdefault(rtype, []).append(resource)
    patients = sorted(p for p, kinds in by_patient.items() if len(kinds.get("Observation", [])) >= 2
                      and kinds.get("Condition"))
    chosen = patients[5 * round_no: 5 * round_no + 5]
    changed = copy.deepcopy(by_patient[chosen[0]]["Observation"][0])
    changed["note"] = [{"text": f"amended in round {round_no}"}]
    put(base_url, changed)
    added = copy.deepcopy(by_patient[chosen[1]]["Observation"][0])
    added["id"] = f"{tag}-added-{round_no}"
    put(base_url, added)
    delete(base_url, "Observation", by_patient[chosen[2]]["Observation"][-1]["id"])
    moved = copy.deepcopy(by_patient[chosen[3]]["Condition"][0])
    moved["subject"] = {"reference": f"Patient/{bystander}"}
    put(base_url, moved)
    index = next(r for r in by_patient[chosen[4]]["Procedure"] if "urn:pelvic-outcomes-bench" in json.dumps(r))
    joining = copy.deepcopy(index)
    joining["id"] = f"{tag}-joining-{round_no}"
    joining["subject"] = {"reference": f"Patient/{joiner}"}
    put(base_url, joining)
    for proc in by_patient[chosen[4]]["Procedure"]:
        if "urn:pelvic-outcomes-bench" in json.dumps(proc):
            recoded = copy.deepcopy(proc)
            recoded["code"] = {"coding": [{"system": "urn:other", "code": "not-an-index-procedure"}]}
            put(base_url, recoded)


def rewrite_noise(base_url: str, noise: list[Resource], count: int, round_no: int) -> float:
    """Write ``count`` noise resources again (new versions), as an unrelated overnight load would."""
    from extractor.seed import post_transaction

    if count <= 0:
        return 0.0
    from extractor.context import build_client
    from extractor.http import make_session

    settings = FhirSettings(base_url=base_url, read_timeout=900.0)
    order = {"Patient": 0, "Encounter": 1, "Condition": 2, "Procedure": 2, "Observation": 3}
    chosen = sorted(noise[(round_no * count) % len(noise):][:count], key=lambda r: order[r["resourceType"]])
    started = time.monotonic()
    with make_session(settings) as session:
        client = build_client(settings, session)
        for start in range(0, len(chosen), 500):
            batch = [dict(r, meta={"tag": [{"code": f"night-{round_no}"}]}) for r in chosen[start:start + 500]]
            post_transaction(client, batch)
    return time.monotonic() - started


def server_counts(base_url: str) -> dict[str, int]:
    out = {}
    for rtype in (*TYPES, "Encounter"):
        body = requests.get(f"{base_url}/{rtype}", params={"_summary": "count"},
                            headers={**FHIR, "Cache-Control": "no-cache"}, timeout=300).json()
        out[rtype] = int(body.get("total", -1))
    return out


# --------------------------------------------------------------------------- the measured runs (children)


def child(args: argparse.Namespace) -> None:
    if args.extractor_path:
        sys.path.insert(0, args.extractor_path)
    import extractor
    from config.study import StudyDefinition
    from extractor import Snapshot, pull

    study: StudyDefinition = bench_study(args.tag)
    started = time.perf_counter()
    if args.child == "baseline":
        n = baseline(args.base_url, args.tag, 250, 100)
        details: dict[str, Any] = {}
    else:
        settings = FhirSettings(
            base_url=args.base_url, concurrency=args.concurrency, mode="bulk" if args.child == "bulk" else "search",
            bulk_level="group", bulk_group_id=f"{args.tag}-group", read_timeout=900.0,
            incremental=args.previous is not None,
        )
        previous = Snapshot.open(Path(args.previous)) if args.previous else None
        snapshot = pull(settings, study, Path(args.out), previous=previous)
        n = sum(snapshot.manifest.counts.values())
        details = snapshot.manifest.details
    seconds = time.perf_counter() - started
    print(json.dumps({"resources": n, "seconds": seconds, "hwm_kib": peak_rss_kib(),
                      "http": details.get("http"), "pages": details.get("pages"),
                      "incremental": details.get("incremental"), "code": str(Path(extractor.__file__).parent)}))


def run(args: argparse.Namespace, kind: str, *, concurrency: int = 4, previous: Path | None = None,
        out: Path | None = None, code: str | None = None) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", kind, "--tag", args.tag, "--base-url", args.base_url,
           "--concurrency", str(concurrency)]
    if previous is not None:
        cmd += ["--previous", str(previous)]
    if out is not None:
        cmd += ["--out", str(out)]
    if code:
        cmd += ["--extractor-path", code]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"{kind} run failed (exit {proc.returncode})")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def canonical(folder: Path) -> dict[str, list[str]]:
    return {t: sorted(json.dumps(r, sort_keys=True) for r in rs) for t, rs in snapshot_resources(folder).items()}


# --------------------------------------------------------------------------- the benchmark


def setup(args: argparse.Namespace, work: Path) -> tuple[list[Resource], list[str]]:
    """Load the cohort, its Group and the noise; returns the noise and the noise patients' ids."""
    from extractor.demo.synthetic import generate_synthetic

    cohort = namespaced(list(flatten(generate_synthetic(args.cohort, 23, 0))), args.tag)
    rnd = random.Random(7)
    noise: list[Resource] = []
    noise_ids = [f"{args.tag}-noise{i:04d}" for i in range(args.noise)]
    joiners = noise_ids[: args.rounds]  # they join the cohort during the run: light, 1-3 encounters
    for pid in noise_ids:
        noise += noise_patient(rnd, pid, (1, 3) if pid in joiners else (15, 25))
    members = [r["id"] for r in cohort if r["resourceType"] == "Patient"] + joiners
    group = {"resourceType": "Group", "id": f"{args.tag}-group", "type": "person", "actual": True,
             "member": [{"entity": {"reference": f"Patient/{p}"}} for p in members]}
    print(f"server {args.base_url}, tag {args.tag}", flush=True)
    load(args.base_url, cohort, work / "cohort", f"cohort ({args.cohort} study patients)")
    cohort_loaded = time.monotonic()
    load(args.base_url, [*noise, group], work / "noise", f"noise ({args.noise} unrelated patients) and the Group")
    # the cohort is old data on a real server: let its load fall out of the incremental overlap (300 s)
    wait = OVERLAP + 5 - (time.monotonic() - cohort_loaded)
    if wait > 0:
        print(f"  waiting {wait:.0f} s until the cohort's load is older than the overlap", flush=True)
        time.sleep(wait)
    return noise, noise_ids


def one_round(args: argparse.Namespace, work: Path, noise: list[Resource], noise_ids: list[str], r: int,
              runs: dict[str, list[dict[str, Any]]]) -> None:
    folder = work / f"round{r}"
    written = rewrite_noise(args.base_url, noise, args.night_writes, r)
    if args.night_writes:
        print(f"round {r}: {args.night_writes} noise resources written again in {written:.0f} s", flush=True)

    def note(label: str, result: dict[str, Any]) -> None:
        runs.setdefault(label, []).append(result)
        http = result.get("http") or {}
        print(f"round {r}: {label:32s} {result['seconds']:7.2f} s  {result['resources']:6d} res  "
              f"{http.get('requests', '-'):>5} req  {http.get('bytes', 0) / 1e6:6.2f} MB", flush=True)

    note("full pull (search, 4 concurrent)", run(args, "search", out=folder / "full"))
    note("incremental, nothing changed", run(args, "search", previous=folder / "full", out=folder / "inc0"))
    if args.compare_with:
        note("previous code: incr., nothing changed",
             run(args, "search", previous=folder / "full", out=folder / "old0", code=args.compare_with))
    few_changes(args.base_url, folder / "full", noise_ids[r], noise_ids[args.rounds + r], args.tag, r)
    note("incremental, a few changes", run(args, "search", previous=folder / "full", out=folder / "inc1"))
    if args.compare_with:
        note("previous code: incr., a few changes",
             run(args, "search", previous=folder / "full", out=folder / "old1", code=args.compare_with))
    note("full pull after the changes", run(args, "search", out=folder / "full1"))
    same = canonical(folder / "inc1") == canonical(folder / "full1")
    print(f"round {r}: incremental after changes == full pull: {same}", flush=True)
    if not same:
        raise SystemExit("the incremental pull differs from the full pull")
    for _ in range(args.repeat):
        note("bare requests loop, 1 connection", run(args, "baseline"))
        note("ours, sequential (1 connection)", run(args, "search", concurrency=1, out=folder / "seq"))
        note("ours, 4 concurrent searches", run(args, "search", out=folder / "c4"))
    note("Bulk $export (group)", run(args, "bulk", out=folder / "bulk"))


def report(runs: dict[str, list[dict[str, Any]]]) -> None:
    def seconds(label: str) -> list[float]:
        return [float(r["seconds"]) for r in runs.get(label, [])]

    def ratio(top: str, bottom: str) -> str:
        """The median of ``top / bottom`` over the rounds (or repeats) that ran both, side by side."""
        pairs = [a / b for a, b in zip(seconds(top), seconds(bottom), strict=False) if b > 0]
        return f"{statistics.median(pairs):.2f}" if pairs else "-"

    full = "full pull (search, 4 concurrent)"
    print("\n| run | median s | runs (s) | resources | requests | MB | ratio (median over rounds) |")
    print("|---|---|---|---|---|---|---|")
    ratios = {
        "incremental, nothing changed": f"{ratio('incremental, nothing changed', full)} × full pull",
        "incremental, a few changes": f"{ratio('incremental, a few changes', full)} × full pull",
        "previous code: incr., nothing changed": f"{ratio('previous code: incr., nothing changed', full)} × full pull",
        "previous code: incr., a few changes": f"{ratio('previous code: incr., a few changes', full)} × full pull",
        "ours, sequential (1 connection)":
            f"{ratio('bare requests loop, 1 connection', 'ours, sequential (1 connection)')} × bare loop's speed",
        "ours, 4 concurrent searches":
            f"{ratio('bare requests loop, 1 connection', 'ours, 4 concurrent searches')} × bare loop's speed",
        "Bulk $export (group)": f"{ratio(full, 'Bulk $export (group)')} × the full search pull's speed",
    }
    for label, results in runs.items():
        times = seconds(label)
        last = results[-1]
        http = last.get("http") or {}
        print(f"| {label} | {statistics.median(times):.2f} | {', '.join(f'{t:.2f}' for t in times)} | "
              f"{last['resources']} | {http.get('requests', '-')} | {http.get('bytes', 0) / 1e6:.2f} | "
              f"{ratios.get(label, '')} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default=os.environ.get("HAPI_BASE_URL", "http://127.0.0.1:8097/fhir"))
    parser.add_argument("--cohort", type=int, default=64, help="study patients")
    parser.add_argument("--noise", type=int, default=120, help="unrelated (Synthea-like) patients")
    parser.add_argument("--night-writes", type=int, default=5000,
                        help="noise resources written again before each round's full pull")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=2, help="runs of the three search-speed pulls per round")
    parser.add_argument("--compare-with", help="a folder with another extractor package to run the incrementals")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--tag", help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=4, help=argparse.SUPPRESS)
    parser.add_argument("--previous", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--extractor-path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    args.tag = args.tag or f"night{random.randrange(16 ** 6):06x}"
    runs: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-nightly-") as tmp:
        work = Path(tmp)
        noise, noise_ids = setup(args, work)
        content = server_counts(args.base_url)
        print("server holds: " + ", ".join(f"{t} {n}" for t, n in content.items()), flush=True)
        for r in range(args.rounds):
            one_round(args, work, noise, noise_ids, r, runs)
    report(runs)
    print("\nserver content: " + ", ".join(f"{t} {n}" for t, n in content.items()))
    last = runs["incremental, a few changes"][-1].get("incremental") or {}
    print(f"last incremental after changes: {json.dumps({k: last.get(k) for k in ('changed', 'recount')})}")


if __name__ == "__main__":
    main()
