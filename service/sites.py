"""Several sites in one run: each pulled on its own (concurrently), mapped and gated on its own, then pooled.

A run has one or more :class:`SitePlan`. A single source is one site named ``""``: its raw snapshot is
``raw/`` and its study ids are those of a one-site deployment. With several sites each gets
``raw/<site>/``, its own data-quality log and gates, and study ids namespaced by site, so two servers'
``Patient/123`` never collide. A site of kind *export* (pooling) is a site's published, pseudonymised
folder (``cohort.csv``, ``measures.csv``, ``export.json``): no identifiable data crosses the network.

A patient found at two sites under the same study identifier is reported, not merged: the first site
(in the deployment's order) keeps the patient, and the data-quality log says where else it was found.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from config.errors import FhirError, MappingError, PelvicOutcomesError, QualityGateError
from config.study import StudyDefinition
from extractor import Snapshot
from service.quality import gate_counts, private_quality, problem_examples, public_quality, read_count
from service.request import SitePlan

log = logging.getLogger(__name__)

EXPORT_FILES = ("cohort.csv", "measures.csv", "run.json")
SiteGate = Callable[[dict[str, int], list[str]], list[str]]


@dataclass
class SiteResult:
    site: str
    status: str = "ok"  # ok | failed | blocked
    error: PelvicOutcomesError | None = None
    source: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    patients: pd.DataFrame = field(default_factory=pd.DataFrame)
    measures: pd.DataFrame = field(default_factory=pd.DataFrame)
    events: pd.DataFrame = field(default_factory=pd.DataFrame)
    quality: dict[str, Any] = field(default_factory=dict)  # public
    quality_full: dict[str, Any] = field(default_factory=dict)  # private
    input_sha256: str = ""
    cutoff: date | None = None
    namespace: str = ""
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def raw_folder(run_dir: Path, site: str) -> Path:
    return run_dir / "raw" / site if site else run_dir / "raw"


def _cutoff(extracted_at: str) -> date | None:
    try:
        return date.fromisoformat(extracted_at[:10])
    except (TypeError, ValueError):
        return None


def extract_all(plans: list[SitePlan], run_dir: Path) -> dict[str, Snapshot | PelvicOutcomesError]:
    """Every pulled site's snapshot, concurrently when there are several; a site's error is its result."""
    pulled = [p for p in plans if p.extract is not None]

    def one(plan: SitePlan) -> Snapshot | PelvicOutcomesError:
        assert plan.extract is not None
        try:
            return plan.extract(raw_folder(run_dir, plan.site))
        except PelvicOutcomesError as exc:
            if not plan.site:
                raise
            log.error("site %s: %s", plan.site, exc)
            return exc

    if len(pulled) <= 1:
        return {p.site: one(p) for p in pulled}
    with ThreadPoolExecutor(max_workers=min(len(pulled), 8), thread_name_prefix="site") as pool:
        return dict(zip([p.site for p in pulled], pool.map(one, pulled), strict=True))


def map_site(
    plan: SitePlan, snapshot: Snapshot, study: StudyDefinition, key: bytes, gate: SiteGate | None
) -> SiteResult:
    """Map one site's snapshot; its own gates (without the cohort-size gates, which are the pool's)."""
    from mapping import map_cohort

    namespace = study.pseudonym_namespace or snapshot.manifest.source
    if plan.site:
        namespace = f"{namespace}#{plan.site}"
    cutoff = _cutoff(snapshot.manifest.extracted_at)
    cohort = map_cohort(snapshot, study, source_id=namespace, pseudonym_key=key, cutoff=cutoff)
    result = SiteResult(
        plan.site,
        source={
            "location": plan.label or snapshot.manifest.source,
            "kind": snapshot.manifest.kind,
            "extracted_at": snapshot.manifest.extracted_at,
            "counts": snapshot.manifest.counts,
            "read": read_count(snapshot.manifest),
            "problems": len(snapshot.manifest.problems),
        },
        counts=gate_counts(snapshot.manifest, cohort),
        patients=cohort.patients, measures=cohort.measures, events=cohort.events,
        quality=public_quality(snapshot.manifest, cohort), quality_full=private_quality(snapshot.manifest, cohort),
        input_sha256=snapshot.manifest.sha256, cutoff=cutoff, namespace=namespace,
        examples=problem_examples(snapshot.manifest),
    )
    if plan.site and gate is not None:
        problems = gate(result.counts, result.examples)
        if problems:
            result.status = "blocked"
            result.error = QualityGateError("data-quality gate: " + "; ".join(problems))
    return result


def read_export(plan: SitePlan) -> SiteResult:
    """A site's published export (pooling): its tables, checked against the hashes of its export.json."""
    folder = plan.export
    assert folder is not None
    try:
        manifest = json.loads((folder / "export.json").read_text(encoding="utf-8"))
        for name, digest in (manifest.get("files") or {}).items():
            if hashlib.sha256((folder / name).read_bytes()).hexdigest() != digest:
                raise MappingError(f"{name} does not match the hash in its export.json")
        patients = pd.read_csv(folder / "cohort.csv", dtype={"study_id": str})
        measures = pd.read_csv(folder / "measures.csv", dtype={"study_id": str})
    except (OSError, ValueError, AttributeError) as exc:
        error = FhirError("not a readable export (cohort.csv, measures.csv, export.json)", str(folder))
        log.error("%s: %s", error, exc)
        return SiteResult(plan.site, status="failed", error=error)
    except MappingError as exc:
        return SiteResult(plan.site, status="failed", error=exc)
    extracted = str(manifest.get("cutoff") or "")
    counts = {"read": len(patients), "extraction_problems": 0, "resources": len(patients), "unmappable": 0,
              "patients": len(patients), "measures": len(measures)}
    return SiteResult(
        plan.site,
        source={"location": plan.label or str(folder), "kind": "export", "extracted_at": extracted,
                "counts": {}, "read": len(patients), "problems": 0},
        counts=counts, patients=patients, measures=measures,
        events=pd.DataFrame(columns=["study_id", "event", "date", "days_from_surgery"]),
        quality={"schema_version": 2, "read": 0, "used": 0, "unusable": 0,
                 "extraction": {"problems": 0, "by_file": {}}, "mapping": {"counts": {}, "detail": []}},
        input_sha256=hashlib.sha256(json.dumps(manifest.get("files") or {}, sort_keys=True).encode()).hexdigest(),
        cutoff=_cutoff(extracted),
    )


def combine(results: list[SiteResult]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[str]]:
    """The pooled tables with a ``site`` column (after ``study_id``); patients found twice are kept once."""
    kept: dict[str, str] = {}
    duplicates: list[str] = []
    frames: list[tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]] = []
    for result in results:
        patients = result.patients.copy()
        again = patients["study_id"].isin(list(kept))
        for study_id in patients.loc[again, "study_id"]:
            duplicates.append(f"study id found at sites {kept[study_id]} and {result.site}: counted once, at "
                              f"{kept[study_id]}")
        patients = patients[~again]
        kept.update(dict.fromkeys(patients["study_id"], result.site))
        patients.insert(1, "site", result.site)
        ids = set(patients["study_id"])
        measures = result.measures[result.measures["study_id"].isin(ids)]
        events = result.events[result.events["study_id"].isin(ids)] if not result.events.empty else result.events
        frames.append((patients, measures, events))
    patients = pd.concat([f[0] for f in frames], ignore_index=True)
    patients = patients.sort_values(["surgery_date", "study_id"], kind="stable").reset_index(drop=True)
    measures = pd.concat([f[1] for f in frames], ignore_index=True)
    events = pd.concat([f[2] for f in frames if not f[2].empty], ignore_index=True) \
        if any(not f[2].empty for f in frames) else frames[0][2]
    return patients, measures, events, duplicates


def export_manifest(out_files: dict[str, Path], *, site: str, study: str, run_id: str, cutoff: str) -> dict[str, Any]:
    """``export.json``: what a pooling run needs to trust a site's published tables."""
    return {
        "schema_version": 1,
        "site": site,
        "study": study,
        "run_id": run_id,
        "cutoff": cutoff,
        "files": {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in sorted(out_files.items())},
    }
