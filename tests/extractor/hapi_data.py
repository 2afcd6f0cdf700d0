"""Data helpers for the HAPI integration tests: namespacing, expected cohorts, snapshot comparison.

Isolation on a shared server: except for the demo cohort (loaded as-is, exactly like ``pelvic-outcomes
seed`` does), every data set a test loads is *namespaced*: ids get a unique prefix and the index-procedure
codings move to a test-only code system, with a matching study definition. So tests never see each other's
patients, and other suites that pull the demo cohort with the real study codes never see ours.
"""

from __future__ import annotations

import dataclasses
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import requests

from config.fhir import FhirSettings
from config.study import StudyDefinition, load_study
from extractor.values import owner

Resource = dict[str, Any]
STUDY = load_study()
TYPES = ("Patient", "Procedure", "Condition", "Observation")


def hapi_base_url() -> str:
    explicit = os.environ.get("HAPI_BASE_URL")
    if explicit:
        return explicit.rstrip("/")
    return f"http://127.0.0.1:{os.environ.get('HAPI_PORT', '8090')}/fhir"


def hapi_settings(url: str, **overrides: Any) -> FhirSettings:
    values: dict[str, Any] = {"base_url": url, "read_timeout": 300.0, "concurrency": 1}
    values.update(overrides)
    return FhirSettings(**values)


# --------------------------------------------------------------------------- namespacing


def _rewrite(node: Any, tag: str, system: str, index: frozenset[tuple[str, str]]) -> Any:
    if isinstance(node, list):
        return [_rewrite(item, tag, system, index) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "reference" and isinstance(value, str) and "/" in value and not value.startswith("#"):
            rtype, _, rid = value.partition("/")
            out[key] = f"{rtype}/{tag}-{rid}"
        else:
            out[key] = _rewrite(value, tag, system, index)
    if isinstance(out.get("code"), str) and (out.get("system"), out.get("code")) in index:
        out["system"] = system
    return out


def namespace(resources: Iterable[Resource], tag: str) -> list[Resource]:
    """Copies with ids prefixed by ``tag`` and index-procedure codings moved to the tag's code system."""
    system = ns_system(tag)
    out = []
    for resource in resources:
        copy = _rewrite(resource, tag, system, STUDY.index_codes)
        copy["id"] = f"{tag}-{resource['id']}"
        out.append(copy)
    return out


def ns_system(tag: str) -> str:
    return f"urn:pelvic-outcomes-test:{tag}"


def namespaced_study(tag: str) -> StudyDefinition:
    system = ns_system(tag)
    index = {name: frozenset((system, code) for _, code in codes) for name, codes in STUDY.index_procedure.items()}
    return dataclasses.replace(STUDY, index_procedure=index)


def new_tag(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


# --------------------------------------------------------------------------- data sets and expectations


def write_ndjson(resources: Iterable[Resource], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    handles: dict[str, Any] = {}
    try:
        for resource in resources:
            rtype = resource["resourceType"]
            if rtype not in handles:
                handles[rtype] = (folder / f"{rtype}.ndjson").open("w", encoding="utf-8")
            handles[rtype].write(json.dumps(resource) + "\n")
    finally:
        for handle in handles.values():
            handle.close()
    return folder


def read_folder(folder: Path) -> list[Resource]:
    out: list[Resource] = []
    for path in sorted(folder.glob("*.ndjson")):
        out.extend(json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    for path in sorted(folder.glob("*.json")):
        if path.name == "manifest.json":
            continue
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("resourceType") == "Bundle":
            out.extend(e["resource"] for e in doc.get("entry", []) if "resource" in e)
        else:
            out.append(doc)
    return out


def expected_cohort(resources: Iterable[Resource], study: StudyDefinition) -> dict[str, dict[str, Resource]]:
    """What a correct pull returns: the study types of every patient with an index Procedure, by id."""
    resources = list(resources)
    index = study.index_codes
    patients = set()
    for r in resources:
        if r["resourceType"] == "Procedure":
            codings = (r.get("code") or {}).get("coding") or []
            if any((c.get("system"), c.get("code")) in index for c in codings):
                patients.add(owner(r))
    out: dict[str, dict[str, Resource]] = {t: {} for t in TYPES}
    for r in resources:
        if r["resourceType"] in out and owner(r) in patients:
            out[r["resourceType"]][r["id"]] = r
    return out


def strip_meta(resource: Resource) -> Resource:
    copy = dict(resource)
    meta = copy.pop("meta", None)
    if isinstance(meta, dict):
        kept = {k: v for k, v in meta.items() if k not in {"versionId", "lastUpdated", "source"}}
        if kept:
            copy["meta"] = kept
    return copy


def snapshot_by_id(snapshot: Any) -> dict[str, dict[str, Resource]]:
    return {t: {r["id"]: r for r in snapshot.iter_resources(t)} for t in TYPES}


def canonical_lines(snapshot: Any) -> dict[str, list[str]]:
    """Each type's resources as sorted canonical JSON (order-free comparison of two snapshots)."""
    return {t: sorted(json.dumps(r, sort_keys=True) for r in snapshot.iter_resources(t)) for t in TYPES}


def synthetic(n_patients: int, seed: int, noise: int) -> list[Resource]:
    """The project's synthetic generator, whatever shape it returns."""
    from extractor.demo.synthetic import generate_synthetic

    produced: Any = generate_synthetic(n_patients, seed, noise)
    return list(_flatten(produced))


def _flatten(produced: Any) -> Iterator[Resource]:
    if isinstance(produced, (str, Path)):
        yield from read_folder(Path(produced))
    elif isinstance(produced, dict) and "resourceType" not in produced:
        for value in produced.values():
            yield from _flatten(value)
    elif isinstance(produced, dict) and produced.get("resourceType") == "Bundle":
        yield from (e["resource"] for e in produced.get("entry", []))
    elif isinstance(produced, dict):
        yield produced
    else:
        for item in produced:
            yield from _flatten(item)


def assert_pull_matches(snapshot: Any, expected: dict[str, dict[str, Any]]) -> None:
    got = snapshot_by_id(snapshot)
    for rtype in TYPES:
        assert set(got[rtype]) == set(expected[rtype]), f"{rtype} ids differ"
        for rid, resource in expected[rtype].items():
            assert strip_meta(got[rtype][rid]) == strip_meta(resource), f"{rtype} content differs"
    assert snapshot.manifest.counts == {t: len(v) for t, v in expected.items() if v}


def count_on_server(url: str, rtype: str, ids: list[str]) -> int:
    total = 0
    for start in range(0, len(ids), 100):
        answer = requests.get(
            f"{url}/{rtype}", params={"_id": ",".join(ids[start:start + 100]), "_summary": "count"},
            headers={"Accept": "application/fhir+json", "Cache-Control": "no-cache"}, timeout=60,
        )
        answer.raise_for_status()
        total += answer.json()["total"]
    return total
