"""One whole run: extract → map → analyse → report, staged in the run's folder, then published.

The run folder ``<out>/runs/<run_id>/`` keeps the raw snapshot (``raw/``) and every file of the run,
so a report can be re-rendered later from exactly the data it was built on. Files reach ``<out>/``
only when every stage succeeded; a failed run leaves the previous report in place.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from config.errors import PelvicOutcomesError
from config.study import StudyDefinition, load_study
from extractor import Snapshot, demo_source, read_files
from service.outputs import publish, write_csv, write_json

log = logging.getLogger(__name__)

DEV_PSEUDONYM_KEY = b"pelvic-outcomes-development-key"
PUBLISHED = ["cohort.csv", "measures.csv", "results.json", "data_quality.json", "report.html", "report.pdf"]
VERSIONED = ["pelvic-outcomes", "fhir.resources", "pandas", "scipy", "lifelines", "jinja2", "weasyprint", "matplotlib"]

Extract = Callable[[Path], Snapshot]
"""Writes a raw snapshot into the given folder and returns it."""


@dataclass
class RunOptions:
    out: Path = Path("out")
    source: Path | None = None  # local files; None and no extract → the bundled demo cohort
    extract: Extract | None = None  # a FHIR pull, built by the CLI from the deployment settings
    source_label: str = ""  # what to call the source in run.json when extract is given
    study_file: Path | None = None
    trigger: str = "manual"
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


@dataclass
class RunOutcome:
    run_id: str
    status: str  # "succeeded" or "failed"
    run_dir: Path
    manifest: dict[str, Any]
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"


def new_run_id(now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def pseudonym_key(study: StudyDefinition, env: Mapping[str, str]) -> tuple[bytes, list[str]]:
    value = env.get(study.pseudonym_key_env, "")
    if value:
        return value.encode(), []
    return DEV_PSEUDONYM_KEY, [
        f"{study.pseudonym_key_env} is not set: study ids use the development key and are not secret"
    ]


def _extract(options: RunOptions, raw: Path) -> Snapshot:
    if options.extract is not None:
        return options.extract(raw)
    return read_files(options.source or demo_source(), raw)


def run_pipeline(options: RunOptions) -> RunOutcome:
    """Run every stage; never raises for a failed stage: the outcome says what failed and why."""
    run_id = new_run_id()
    run_dir = options.out / "runs" / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "run_id": run_id,
        "status": "running",
        "trigger": options.trigger,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": versions(),
        "timings_seconds": {},
        "warnings": [],
    }
    try:
        _stages(options, run_dir, manifest)
    except PelvicOutcomesError as exc:
        return _fail(run_dir, manifest, str(exc))
    except Exception as exc:  # a bug: record it, keep the last good report
        log.exception("run %s failed unexpectedly", run_id)
        return _fail(run_dir, manifest, f"internal error: {type(exc).__name__}: {exc}")
    return RunOutcome(run_id, "succeeded", run_dir, manifest)


def _fail(run_dir: Path, manifest: dict[str, Any], error: str) -> RunOutcome:
    manifest.update(status="failed", error=error, finished_at=datetime.now(UTC).isoformat(timespec="seconds"))
    write_json(run_dir / "run.json", manifest)
    return RunOutcome(manifest["run_id"], "failed", run_dir, manifest, error)


def _timed(manifest: dict[str, Any], stage: str, started: float) -> None:
    manifest["timings_seconds"][stage] = round(time.perf_counter() - started, 3)


def _stages(options: RunOptions, run_dir: Path, manifest: dict[str, Any]) -> None:
    # Imported here so that `pelvic-outcomes --help` stays fast.
    from analysis import analyse
    from mapping import map_cohort
    from reports import render_report

    study = load_study(options.study_file)
    manifest["study"] = study.source
    key, key_warnings = pseudonym_key(study, options.env)
    manifest["warnings"].extend(key_warnings)

    started = time.perf_counter()
    snapshot = _extract(options, run_dir / "raw")
    _timed(manifest, "extract", started)
    manifest["source"] = {
        "location": options.source_label or snapshot.manifest.source,
        "kind": snapshot.manifest.kind,
        "extracted_at": snapshot.manifest.extracted_at,
        "counts": snapshot.manifest.counts,
        "problems": len(snapshot.manifest.problems),
    }
    manifest["input_sha256"] = snapshot.manifest.sha256

    started = time.perf_counter()
    cohort = map_cohort(snapshot, study, source_id=snapshot.manifest.source, pseudonym_key=key)
    _timed(manifest, "map", started)
    manifest["counts"] = {
        "resources": cohort.n_resources,
        "unmappable": cohort.n_unmappable,
        "patients": len(cohort.patients),
        "measures": len(cohort.measures),
    }

    started = time.perf_counter()
    results = analyse(cohort.patients, cohort.measures, study.analysis_plan())
    results_dict = results.to_dict()
    _timed(manifest, "analyse", started)

    quality = cohort.quality.to_dict()
    quality["extraction_problems"] = snapshot.manifest.problems
    write_csv(run_dir / "cohort.csv", cohort.patients)
    write_csv(run_dir / "measures.csv", cohort.measures)
    write_json(run_dir / "results.json", results_dict)
    write_json(run_dir / "data_quality.json", quality)

    started = time.perf_counter()
    render_report(run_dir, study=study, run=manifest, previous=_previous_run(options.out))
    _timed(manifest, "render", started)

    manifest.update(status="succeeded", finished_at=datetime.now(UTC).isoformat(timespec="seconds"))
    manifest["outputs"] = PUBLISHED
    write_json(run_dir / "run.json", manifest)
    publish(run_dir, options.out, [*PUBLISHED, "run.json"])


def _previous_run(out: Path) -> Path | None:
    """The folder of the last successful run published into ``out``, for the report's change log."""
    current = out / "run.json"
    if not current.exists():
        return None
    try:
        run_id = json.loads(current.read_text(encoding="utf-8")).get("run_id", "")
    except ValueError:
        return None
    folder = out / "runs" / str(run_id)
    return folder if run_id and folder.is_dir() else None
