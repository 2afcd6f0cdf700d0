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
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from analysis.claims import assess_claims
from analysis.plan import AnalysisPlan
from config.errors import PelvicOutcomesError, QualityGateError
from config.study import StudyDefinition, load_study
from extractor import Snapshot, demo_source, read_files
from service.outputs import publish, write_csv, write_json

log = logging.getLogger(__name__)

DEV_PSEUDONYM_KEY = b"pelvic-outcomes-development-key"
PUBLISHED = ["cohort.csv", "measures.csv", "results.json", "data_quality.json", "report.html", "report.pdf"]
VERSIONED = ["pelvic-outcomes", "fhir.resources", "pandas", "scipy", "lifelines", "jinja2", "weasyprint", "matplotlib"]

Extract = Callable[[Path], Snapshot]
"""Writes a raw snapshot into the given folder and returns it."""

Gate = Callable[[Mapping[str, int]], list[str]]
"""Given the run's counts, says why the run must not be published (empty: it may)."""


@dataclass
class RunOptions:
    out: Path = Path("out")
    source: Path | None = None  # local files; None and no extract → the bundled demo cohort
    extract: Extract | None = None  # a FHIR pull, built by the CLI from the deployment settings
    source_label: str = ""  # what to call the source in run.json when extract is given
    study_file: Path | None = None
    trigger: str = "manual"
    gate: Gate | None = None  # data-quality gates, checked after mapping, before anything is published
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


@dataclass
class RunOutcome:
    run_id: str
    status: str  # "succeeded", "failed", or "blocked" by a data-quality gate
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


def analysis_plan(study: StudyDefinition) -> AnalysisPlan:
    """The analysis plan of the study definition: its [analysis] settings and its event flags."""
    return AnalysisPlan(**asdict(study.analysis), event_flags=(*study.flag_columns, "death"))


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
    except QualityGateError as exc:
        return _fail(run_dir, manifest, str(exc), status="blocked")
    except PelvicOutcomesError as exc:
        return _fail(run_dir, manifest, str(exc))
    except Exception as exc:  # a bug: record it, keep the last good report
        log.exception("run %s failed unexpectedly", run_id)
        return _fail(run_dir, manifest, f"internal error: {type(exc).__name__}: {exc}")
    return RunOutcome(run_id, "succeeded", run_dir, manifest)


def _fail(run_dir: Path, manifest: dict[str, Any], error: str, status: str = "failed") -> RunOutcome:
    manifest.update(status=status, error=error, finished_at=datetime.now(UTC).isoformat(timespec="seconds"))
    write_json(run_dir / "run.json", manifest)
    return RunOutcome(manifest["run_id"], status, run_dir, manifest, error)


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
    namespace = study.pseudonym_namespace or snapshot.manifest.source
    cohort = map_cohort(snapshot, study, source_id=namespace, pseudonym_key=key)
    _timed(manifest, "map", started)
    manifest["counts"] = {
        "resources": cohort.n_resources,
        "unmappable": cohort.n_unmappable,
        "patients": len(cohort.patients),
        "measures": len(cohort.measures),
    }
    problems = options.gate(manifest["counts"]) if options.gate is not None else []
    if problems:
        raise QualityGateError("data-quality gate: " + "; ".join(problems))

    started = time.perf_counter()
    results = analyse(cohort.patients, cohort.measures, analysis_plan(study))
    results_dict = results.to_dict()
    results_dict["claims"] = [verdict.as_dict() for verdict in assess_claims(results_dict, study.claims)]
    _timed(manifest, "analyse", started)

    quality = cohort.quality.to_dict()
    quality["extraction_problems"] = snapshot.manifest.problems
    write_csv(run_dir / "cohort.csv", cohort.patients)
    write_csv(run_dir / "measures.csv", cohort.measures)
    write_json(run_dir / "results.json", results_dict)
    write_json(run_dir / "data_quality.json", quality)

    started = time.perf_counter()
    manifest["timings_seconds"].update(
        render_report(run_dir, study=study, run=manifest, previous=_previous_run(options.out))
    )
    _timed(manifest, "render", started)

    manifest.update(status="succeeded", finished_at=datetime.now(UTC).isoformat(timespec="seconds"))
    manifest["outputs"] = PUBLISHED
    write_json(run_dir / "run.json", manifest)
    publish(run_dir, options.out, [*PUBLISHED, "run.json"])


def published_run_id(out: Path) -> str | None:
    """The run id of the report currently published in ``out`` (from ``out/run.json``), if any."""
    try:
        run_id = json.loads((out / "run.json").read_text(encoding="utf-8")).get("run_id")
    except (OSError, ValueError, AttributeError):
        return None
    return str(run_id) if run_id else None


def _previous_run(out: Path) -> Path | None:
    """The folder of the last successful run published into ``out``, for the report's change log."""
    run_id = published_run_id(out)
    folder = out / "runs" / run_id if run_id else None
    return folder if folder is not None and folder.is_dir() else None
