"""One whole run: extract → map → analyse → report, in the run's private folder, then published.

The run folder ``<data_dir>/runs/<run_id>/`` keeps the raw snapshot (``raw/``) and every file of the
run, so a report can be re-rendered later from exactly the data it was built on. The board's folder
gets the pseudonymised set only when every stage succeeded and every gate passed, and gets it as one
set (:mod:`service.publish`); a failed or blocked run leaves the previous report in place.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from dataclasses import dataclass, field
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

from analysis.claims import assess_claims
from analysis.plan import AnalysisPlan, plan_from_study
from analysis.worklist import Completeness, WorkItem
from config.errors import MappingError, PelvicOutcomesError, QualityGateError, StorageError
from config.study import StudyDefinition
from extractor import Snapshot
from service import errorlog, followup
from service.layout import Layout
from service.outputs import write_csv, write_json
from service.private import private_dir, private_files, secure_data_dir
from service.publish import publish_set, published_run_id
from service.quality import gate_counts, private_quality, problem_examples, public_quality, read_count
from service.request import RunPlan
from service.retention import prune_runs

log = logging.getLogger(__name__)

PUBLISHED = ["cohort.csv", "measures.csv", "results.json", "data_quality.json", "report.html", "report.pdf"]
DEVELOPMENT_KEY_WARNING = "study ids use the development pseudonym key: they are not secret (demo and testing only)"
VERSIONED = ["pelvic-outcomes", "fhir.resources", "pandas", "scipy", "lifelines", "jinja2", "weasyprint", "matplotlib"]


@dataclass
class RunOutcome:
    run_id: str
    status: str  # "succeeded", "failed", or "blocked" by a data-quality gate
    run_dir: Path
    manifest: dict[str, Any]
    error: str = ""
    exit_code: int = 0
    results: dict[str, Any] = field(default_factory=dict)  # results.json, in memory, for the email
    worklist: list[WorkItem] = field(default_factory=list)  # for the coordinator, never the board

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def analysis_plan(study: StudyDefinition) -> AnalysisPlan:
    """The analysis plan of the study definition."""
    return plan_from_study(study)


def run_pipeline(plan: RunPlan) -> RunOutcome:
    """Run every stage; never raises for a failed stage: the outcome says what failed, why, and the exit code."""
    with private_files():
        return _run(plan)


def _run(plan: RunPlan) -> RunOutcome:
    run_dir = plan.layout.run_dir(plan.run_id)
    manifest: dict[str, Any] = {
        "run_id": plan.run_id,
        "status": "running",
        "trigger": plan.trigger,
        "started_at": plan.clock().isoformat(timespec="seconds"),
        "study": plan.study.source,
        "versions": versions(),
        "timings_seconds": {},
        "warnings": [],
    }
    try:
        secure_data_dir(plan.layout.data_dir)
        private_dir(plan.layout.runs_dir)
        private_dir(run_dir)
        write_json(run_dir / "run.json", manifest)
        results, items = _stages(plan, run_dir, manifest)
    except QualityGateError as exc:
        return _fail(plan, run_dir, manifest, str(exc), code=exc.exit_code, status="blocked")
    except PelvicOutcomesError as exc:
        return _fail(plan, run_dir, manifest, str(exc), code=exc.exit_code)
    except OSError as exc:
        error = StorageError("write the run's files in", run_dir, exc)
        return _fail(plan, run_dir, manifest, str(error), code=error.exit_code)
    except Exception as exc:  # a bug: its traceback goes to the private log, one line to the user
        where = errorlog.record(plan.layout.error_log, exc, f"run {plan.run_id}")
        return _fail(plan, run_dir, manifest, errorlog.summary(exc, where), code=1)
    _prune(plan)
    return RunOutcome(plan.run_id, "succeeded", run_dir, manifest, results=results, worklist=items)


def _fail(
    plan: RunPlan, run_dir: Path, manifest: dict[str, Any], error: str, *, code: int, status: str = "failed"
) -> RunOutcome:
    manifest.update(status=status, error=error, finished_at=plan.clock().isoformat(timespec="seconds"))
    try:
        write_json(run_dir / "run.json", manifest)
    except OSError as exc:  # disk full: the outcome still says what happened
        log.warning("could not record the failed run in %s: %s", run_dir, exc.strerror or exc)
    return RunOutcome(plan.run_id, status, run_dir, manifest, error, code)


def _timed(manifest: dict[str, Any], stage: str, started: float) -> None:
    manifest["timings_seconds"][stage] = round(time.perf_counter() - started, 3)


def _cutoff(snapshot: Snapshot) -> date | None:
    try:
        return date.fromisoformat(snapshot.manifest.extracted_at[:10])
    except (TypeError, ValueError):
        return None


def _stages(plan: RunPlan, run_dir: Path, manifest: dict[str, Any]) -> tuple[dict[str, Any], list[WorkItem]]:
    # Imported here so that `pelvic-outcomes --help` stays fast.
    from analysis import analyse
    from mapping import map_cohort
    from reports import render_report

    study, layout = plan.study, plan.layout
    previous = published_run_id(layout.out_dir)
    manifest["pseudonym"] = _pseudonym(plan, layout, previous)
    if plan.key.development:
        manifest["warnings"].append(DEVELOPMENT_KEY_WARNING)

    log.info("extracting from %s", plan.source_label or "files")
    started = time.perf_counter()
    snapshot = plan.extract(run_dir / "raw")
    _timed(manifest, "extract", started)
    manifest["source"] = {
        "location": plan.source_label or snapshot.manifest.source,
        "kind": snapshot.manifest.kind,
        "extracted_at": snapshot.manifest.extracted_at,
        "counts": snapshot.manifest.counts,
        "read": read_count(snapshot.manifest),
        "problems": len(snapshot.manifest.problems),
    }
    manifest["input_sha256"] = snapshot.manifest.sha256

    log.info("mapping %d resources", sum(snapshot.manifest.counts.values()))
    started = time.perf_counter()
    namespace = study.pseudonym_namespace or snapshot.manifest.source
    cohort = map_cohort(
        snapshot, study, source_id=namespace, pseudonym_key=plan.key.secret, cutoff=_cutoff(snapshot)
    )
    _timed(manifest, "map", started)
    counts = gate_counts(snapshot.manifest, cohort)
    manifest["counts"] = counts
    write_json(run_dir / "data_quality.json", public_quality(snapshot.manifest, cohort))
    write_json(run_dir / "data_quality_full.json", private_quality(snapshot.manifest, cohort))
    write_csv(run_dir / "cohort.csv", cohort.patients)
    write_csv(run_dir / "measures.csv", cohort.measures)
    if cohort.patients.empty:
        raise MappingError(
            f"no patient with an index procedure in {manifest['source']['location']}: "
            f"{counts['read']} resources read"
        )
    problems = plan.gate(counts, problem_examples(snapshot.manifest)) if plan.gate is not None else []
    if problems:
        raise QualityGateError("data-quality gate: " + "; ".join(problems))
    lookup = followup.lookup(study, run_dir / "raw", namespace, plan.key.secret, set(cohort.patients["study_id"])) \
        if plan.followup.lookup_file else None
    items, complete = followup.build(study, cohort.patients, cohort.measures, cohort.events,
                                     today=plan.clock().date(), upcoming_days=plan.followup.upcoming_days)
    followup.write_private(run_dir, items, lookup)
    trend = _completeness_trend(complete, layout, previous)
    held = followup.below(trend, plan.followup.min_completeness_percent)
    if held and plan.gate is not None:
        raise QualityGateError("follow-up completeness gate: " + "; ".join(held))

    log.info("analysing %d patients", len(cohort.patients))
    started = time.perf_counter()
    results = analyse(
        cohort.patients, cohort.measures, analysis_plan(study), events=cohort.events, cutoff=_cutoff(snapshot)
    ).to_dict()
    results["claims"] = [verdict.as_dict() for verdict in assess_claims(results, study.claims)]
    results["followup_completeness"] = trend
    _timed(manifest, "analyse", started)
    write_json(run_dir / "results.json", results)

    log.info("rendering the report")
    started = time.perf_counter()
    previous_dir = layout.run_dir(previous) if previous and layout.run_dir(previous).is_dir() else None
    manifest["timings_seconds"].update(render_report(run_dir, study=study, run=manifest, previous=previous_dir))
    _timed(manifest, "render", started)

    manifest.update(status="succeeded", finished_at=plan.clock().isoformat(timespec="seconds"))
    manifest["outputs"] = PUBLISHED
    write_json(run_dir / "run.json", manifest)
    log.info("publishing into %s", layout.out_dir)
    if plan.on_publish_step is not None:
        publish_set(run_dir, layout.out_dir, [*PUBLISHED, "run.json"], plan.run_id, on_step=plan.on_publish_step)
    else:
        publish_set(run_dir, layout.out_dir, [*PUBLISHED, "run.json"], plan.run_id)
    return results, items


def _completeness_trend(complete: list[Completeness], layout: Layout, previous: str | None) -> list[dict[str, Any]]:
    """Completeness per instrument x time point, with the published run's figure beside it."""
    before: dict[tuple[str, str], Any] = {}
    if previous:
        try:
            old = json.loads((layout.run_dir(previous) / "results.json").read_text(encoding="utf-8"))
            before = {(c["instrument"], c["timepoint"]): c.get("percent") for c in old.get("followup_completeness", [])}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            before = {}
    return [{**c.as_dict(), "previous_percent": before.get((c.instrument, c.timepoint))} for c in complete]


def _pseudonym(plan: RunPlan, layout: Layout, previous: str | None) -> dict[str, Any]:
    """The key's fingerprint, whether it is the development key, and whether it changed since the published run."""
    before = _previous_fingerprint(layout, previous)
    info: dict[str, Any] = {
        "key_fingerprint": plan.key.fingerprint,
        "development_key": plan.key.development,
        "key_changed": bool(before and before != plan.key.fingerprint),
    }
    return info


def _previous_fingerprint(layout: Layout, previous: str | None) -> str | None:
    if not previous:
        return None
    try:
        data = json.loads((layout.run_dir(previous) / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = (data.get("pseudonym") or {}).get("key_fingerprint") if isinstance(data, dict) else None
    return str(value) if value else None


def _prune(plan: RunPlan) -> None:
    try:
        removed = prune_runs(plan.layout, keep={plan.run_id, published_run_id(plan.layout.out_dir) or ""})
    except OSError as exc:
        log.warning("could not prune old runs in %s: %s", plan.layout.runs_dir, exc.strerror or exc)
        return
    if removed:
        log.info("retention: removed %d old run folder(s) from %s", len(removed), plan.layout.runs_dir)
