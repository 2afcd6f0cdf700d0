"""Extraction benchmark against a running FHIR server (not a test).

For each cohort size N it loads N synthetic patients (namespaced: their own ids and index-procedure code
system, so other data on the server does not count) and measures, each pull in its own subprocess:

* baseline  - a bare loop of ``requests`` GETs on one keep-alive session following next links over the
              same searches as our extractor (index Procedures, then Patient/Condition/Observation/Procedure
              in patient batches), parsing JSON and keeping nothing;
* search    - our extractor, sequential (concurrency 1: one connection);
* search-cN - our extractor with N concurrent searches;
* bulk      - our extractor in Bulk Data $export mode (group level, a Group of the benchmark's patients).

It prints resources/s for each, the ratio to the baseline, and the peak RSS (VmHWM) of each subprocess.

    .venv/bin/python bench/extract.py --base-url http://127.0.0.1:8091/fhir --sizes 500,2000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from config.fhir import FhirSettings  # noqa: E402
from config.study import StudyDefinition, load_study  # noqa: E402

STUDY = load_study()
TYPES = ("Patient", "Procedure", "Condition", "Observation")


# --------------------------------------------------------------------------- data


def namespaced(resources: list[dict[str, Any]], tag: str) -> list[dict[str, Any]]:
    system = f"urn:pelvic-outcomes-bench:{tag}"

    def rewrite(node: Any) -> Any:
        if isinstance(node, list):
            return [rewrite(i) for i in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            if key == "reference" and isinstance(value, str) and "/" in value and not value.startswith("#"):
                rtype, _, rid = value.partition("/")
                out[key] = f"{rtype}/{tag}-{rid}"
            else:
                out[key] = rewrite(value)
        code = out.get("code")
        if isinstance(code, str) and (out.get("system"), code) in STUDY.index_codes:
            out["system"] = system
        return out

    result = []
    for resource in resources:
        copy = rewrite(resource)
        copy["id"] = f"{tag}-{resource['id']}"
        result.append(copy)
    return result


def bench_study(tag: str) -> StudyDefinition:
    import dataclasses

    system = f"urn:pelvic-outcomes-bench:{tag}"
    index = {k: frozenset((system, c) for _, c in v) for k, v in STUDY.index_procedure.items()}
    return dataclasses.replace(STUDY, index_procedure=index)


def flatten(produced: Any) -> Iterator[dict[str, Any]]:
    if isinstance(produced, (str, Path)):
        for path in sorted(Path(produced).glob("*.ndjson")):
            yield from (json.loads(line) for line in path.read_text().splitlines() if line.strip())
    elif isinstance(produced, dict) and "resourceType" not in produced:
        for value in produced.values():
            yield from flatten(value)
    elif isinstance(produced, dict):
        yield produced
    else:
        for item in produced:
            yield from flatten(item)


def load(base_url: str, n: int, tag: str, work: Path) -> int:
    from extractor import seed
    from extractor.demo.synthetic import generate_synthetic

    resources = namespaced(list(flatten(generate_synthetic(n, 11, 0))), tag)
    patients = [r["id"] for r in resources if r["resourceType"] == "Patient"]
    group = {"resourceType": "Group", "id": f"{tag}-all", "type": "person", "actual": True,
             "member": [{"entity": {"reference": f"Patient/{p}"}} for p in patients]}
    folder = work / f"data-{tag}"
    folder.mkdir(parents=True, exist_ok=True)
    by_type: dict[str, list[str]] = {}
    for r in [*resources, group]:
        by_type.setdefault(r["resourceType"], []).append(json.dumps(r))
    for rtype, lines in by_type.items():
        (folder / f"{rtype}.ndjson").write_text("\n".join(lines) + "\n")
    started = time.monotonic()
    counts = seed(folder, FhirSettings(base_url=base_url, read_timeout=600.0))
    print(f"  loaded {sum(counts.values())} resources for N={n} in {time.monotonic() - started:.0f} s", flush=True)
    return len(resources)


# --------------------------------------------------------------------------- the measured runs (children)


def baseline(base_url: str, tag: str, page_size: int, batch: int) -> int:
    """Bare requests: the same searches as the extractor, following next links; returns resources seen."""
    from extractor.search import batches, code_param

    session = requests.Session()
    accept = {"Accept": "application/fhir+json"}

    def follow(url: str, params: dict[str, str] | None) -> Iterator[dict[str, Any]]:
        next_url: str | None = url
        while next_url:
            body = session.get(next_url, params=params, headers=accept, timeout=(10, 300)).json()
            params = None
            yield from (e["resource"] for e in body.get("entry", []))
            next_url = next((link["url"] for link in body.get("link", []) if link["relation"] == "next"), None)

    study = bench_study(tag)
    ids: dict[str, None] = {}
    index_params = {"code": code_param(study), "_count": str(page_size), "_elements": "subject"}
    for proc in follow(f"{base_url}/Procedure", index_params):
        ids.setdefault(proc["subject"]["reference"].split("/")[-1], None)
    n = 0
    for rtype in TYPES:
        for chunk in batches(list(ids), batch):
            key = "_id" if rtype == "Patient" else "patient"
            for _ in follow(f"{base_url}/{rtype}", {key: ",".join(chunk), "_count": str(page_size)}):
                n += 1
    return n


def ours(base_url: str, tag: str, page_size: int, batch: int, concurrency: int, mode: str) -> int:
    from extractor import pull

    settings = FhirSettings(base_url=base_url, page_size=page_size, patient_batch_size=batch,
                            concurrency=concurrency, mode="bulk" if mode == "bulk" else "search",
                            bulk_level="group", bulk_group_id=f"{tag}-all", read_timeout=600.0)
    with tempfile.TemporaryDirectory() as tmp:
        snapshot = pull(settings, bench_study(tag), Path(tmp) / "snap")
        return sum(snapshot.manifest.counts.values())


def child(args: argparse.Namespace) -> None:
    import extractor
    import extractor.search  # noqa: F401

    started = time.perf_counter()
    if args.child == "baseline":
        n = baseline(args.base_url, args.tag, args.page_size, args.batch)
    else:
        n = ours(args.base_url, args.tag, args.page_size, args.batch, args.concurrency, args.child)
    seconds = time.perf_counter() - started
    print(json.dumps({"resources": n, "seconds": seconds, "hwm_kib": peak_rss_kib()}))


def peak_rss_kib() -> int:
    """This process's peak resident set size (VmHWM; unlike ru_maxrss it does not include a forking parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def measure(args: argparse.Namespace, kind: str, tag: str, concurrency: int = 1) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", kind, "--tag", tag, "--base-url", args.base_url,
           "--page-size", str(args.page_size), "--batch", str(args.batch), "--concurrency", str(concurrency)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"{kind} run failed (exit {proc.returncode})")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"resources": result["resources"], "seconds": result["seconds"], "rss_mib": result["hwm_kib"] / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default=os.environ.get("HAPI_BASE_URL", "http://127.0.0.1:8091/fhir"))
    parser.add_argument("--sizes", default="500,2000", help="comma-separated patient counts (N)")
    parser.add_argument("--page-size", type=int, default=250)
    parser.add_argument("--batch", type=int, default=100, help="patients per search")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2, help="runs per measurement (best is reported)")
    parser.add_argument("--modes", default="baseline,search,concurrent,bulk")
    parser.add_argument("--skip-load", action="store_true", help="data for these sizes is already loaded")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--tag", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    modes = args.modes.split(",")
    rows: list[tuple[int, str, int, float, float, float | None, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            tag = f"bench{n}"
            if not args.skip_load:
                load(args.base_url, n, tag, Path(tmp))
            runs: dict[str, list[dict[str, float]]] = {}
            plan = [("baseline", "baseline", 1), ("search", "search", 1),
                    (f"search-c{args.concurrency}", "search", args.concurrency), ("bulk", "bulk", 1)]
            plan = [p for p in plan if p[0].split("-")[0] in modes or (p[0].startswith("search-c")
                                                                    and "concurrent" in modes)]
            measure(args, "search", tag)  # warm-up (server caches, JIT)
            for _ in range(args.repeat):
                for label, kind, conc in plan:
                    runs.setdefault(label, []).append(measure(args, kind, tag, conc))
            base_rate = None
            for label, results in runs.items():
                best = min(results, key=lambda r: r["seconds"])
                rate = best["resources"] / best["seconds"]
                if label == "baseline":
                    base_rate = rate
                ratio = rate / base_rate if base_rate else None
                rss = max(r["rss_mib"] for r in results)
                rows.append((n, label, int(best["resources"]), best["seconds"], rate, ratio, rss))
                shown = f"{ratio:5.2f}x" if ratio is not None else "    -"
                print(f"N={n:5d} {label:12s} {int(best['resources']):7d} res {best['seconds']:7.2f} s "
                      f"{rate:8.0f} res/s  {shown} baseline  peak RSS {rss:6.1f} MiB", flush=True)
    print("\n| N | run | resources | seconds | resources/s | × baseline | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for n, label, count, secs, rate, ratio, rss in rows:
        shown = f"{ratio:.2f}" if ratio is not None else "-"
        print(f"| {n} | {label} | {count} | {secs:.2f} | {rate:.0f} | {shown} | {rss:.0f} |")


if __name__ == "__main__":
    main()
