"""One whole run: extract → map → analyse → report, in the run's private folder, then published.

The run folder ``<data_dir>/runs/<run_id>/`` keeps the raw snapshot (``raw/``) and every file of the
run, so a report can be re-rendered later from exactly the data it was built on. The board's folder
gets the pseudonymised set only when every stage succeeded and every gate passed, and gets it as one
set (:mod:`service.publish`); a failed or blocked run leaves the previous report in place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.claims import assess_claims
from analysis.plan import AnalysisPlan, Covariate, plan_from_study
from analysis.worklist import Completeness, WorkItem
from config.errors import MappingError, PelvicOutcomesError, QualityGateError, StorageError
from config.study import StudyDefinition
from service import errorlog, followup
from service.gates import gate_problems
from service.layout import Layout
from service.outputs import write_csv, write_json
from service.private import private_dir, private_files, secure_data_dir
from service.publish import publish_set, published_run_id
from service.request import RunPlan, SitePlan, site_plans
from service.retention import prune_runs
from service.sites import SiteResult, combine, export_manifest, extract_all, map_site, raw_folder, read_export

log = logging.getLogger(__name__)

EXPORT = "export.json"
PUBLISHED = [
    "cohort.csv", "measures.csv", "codebook.csv", "results.json", "data_quality.json", "report.html", "report.pdf",
]
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


def _stages(plan: RunPlan, run_dir: Path, manifest: dict[str, Any]) -> tuple[dict[str, Any], list[WorkItem]]:
    # Imported here so that `pelvic-outcomes --help` stays fast.
    from analysis import analyse
    from reports import render_report

    study, layout = plan.study, plan.layout
    previous = published_run_id(layout.out_dir)
    manifest["pseudonym"] = _pseudonym(plan, layout, previous)
    if plan.key.development:
        manifest["warnings"].append(DEVELOPMENT_KEY_WARNING)

    pool = _collect(plan, run_dir, manifest, previous)
    counts = pool.counts
    manifest["counts"] = counts
    write_json(run_dir / "data_quality.json", pool.quality)
    write_json(run_dir / "data_quality_full.json", pool.quality_full)
    write_csv(run_dir / "cohort.csv", pool.patients)
    write_csv(run_dir / "measures.csv", pool.measures)
    write_csv(run_dir / "codebook.csv", _codebook(study, multisite=pool.sites != [""]))
    if pool.patients.empty:
        raise MappingError(
            f"no patient with an index procedure in {manifest['source']['location'] or 'the source'}: "
            f"{counts['read']} resources read"
        )
    problems = plan.gate(counts, pool.examples) if plan.gate is not None else []
    if problems:
        raise QualityGateError("data-quality gate: " + "; ".join(problems))
    items, trend = _followup(plan, run_dir, pool, previous)
    unchanged = _unchanged_since(plan, manifest, previous) if plan.skip_unchanged else None
    if unchanged is not None:
        return unchanged, items

    log.info("analysing %d patients", len(pool.patients))
    started = time.perf_counter()
    results = analyse(
        pool.patients, pool.measures, _analysis_plan(study, pool.sites), events=pool.events, cutoff=pool.cutoff
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
    manifest["outputs"] = [*PUBLISHED, EXPORT]
    write_json(run_dir / "run.json", manifest)
    names = ["cohort.csv", "measures.csv", "codebook.csv", "run.json"]
    write_json(run_dir / EXPORT, export_manifest(
        {name: run_dir / name for name in names}, site=plan.site, study=study.short_title, run_id=plan.run_id,
        cutoff=str(manifest["source"].get("extracted_at") or ""),
    ))
    log.info("publishing into %s", layout.out_dir)
    step = plan.on_publish_step or (lambda name: None)
    publish_set(run_dir, layout.out_dir, [*PUBLISHED, EXPORT, "run.json"], plan.run_id, on_step=step)
    return results, items


@dataclass
class _Pool:
    """The cohort of the run: one site's, or several sites' pooled."""

    sites: list[str]
    patients: pd.DataFrame
    measures: pd.DataFrame
    events: pd.DataFrame
    counts: dict[str, int]
    quality: dict[str, Any]
    quality_full: dict[str, Any]
    examples: list[str]
    cutoff: date | None
    namespaces: dict[str, str]


def _collect(plan: RunPlan, run_dir: Path, manifest: dict[str, Any], previous: str | None) -> _Pool:
    """Extract and map every site; apply the deployment's rule to a site that fails or is blocked."""
    plans = site_plans(plan)
    log.info("extracting from %s", ", ".join(p.label or p.site or "files" for p in plans))
    started = time.perf_counter()
    snapshots = extract_all(list(plans), run_dir)
    _timed(manifest, "extract", started)
    started = time.perf_counter()
    results = [_site(p, snapshots, plan) for p in plans]
    _timed(manifest, "map", started)
    if len(results) == 1 and not results[0].site:
        return _single(results[0], manifest)
    return _pooled(plan, results, manifest, previous)


def _site(site: SitePlan, snapshots: dict[str, Any], plan: RunPlan) -> SiteResult:
    if site.export is not None:
        return read_export(site)
    got = snapshots[site.site]
    if isinstance(got, PelvicOutcomesError):
        return SiteResult(site.site, status="failed", error=got)
    log.info("mapping %d resources%s", sum(got.manifest.counts.values()), f" of site {site.site}" if site.site else "")
    return map_site(site, got, plan.study, plan.key.secret, _site_gate(plan) if plan.gate is not None else None)


def _site_gate(plan: RunPlan) -> Callable[[dict[str, int], list[str]], list[str]]:
    """A site's own gates: what it read and mapped, and an empty site; the cohort-shrink gate is the pool's."""

    def check(counts: dict[str, int], examples: list[str]) -> list[str]:
        return gate_problems(counts, plan.study.quality_gates, None, examples)

    return check


def _single(result: SiteResult, manifest: dict[str, Any]) -> _Pool:
    manifest["source"] = result.source
    manifest["input_sha256"] = result.input_sha256
    return _Pool([""], result.patients, result.measures, result.events, result.counts, result.quality,
                 result.quality_full, result.examples, result.cutoff, {"": result.namespace})


def _pooled(plan: RunPlan, results: list[SiteResult], manifest: dict[str, Any], previous: str | None) -> _Pool:
    ok = [r for r in results if r.ok]
    bad = [r for r in results if not r.ok]
    manifest["sites"] = _site_status(results, plan, previous)
    if bad and (plan.on_site_failure == "block" or not ok):
        first = bad[0].error or MappingError("a site failed")
        message = "; ".join(f"site {r.site}: {r.error}" for r in bad)
        raise QualityGateError(message) if isinstance(first, QualityGateError) else type(first)(message)
    for missing in bad:
        manifest["warnings"].append(f"site {missing.site} is missing from this report ({missing.status}: "
                                    f"{missing.error}); on_site_failure = publish_without")
    patients, measures, events, duplicates = combine(ok)
    counts = {key: sum(r.counts.get(key, 0) for r in ok) for key in ok[0].counts}
    counts["patients"], counts["measures"] = len(patients), len(measures)
    cutoffs = [r.cutoff for r in ok if r.cutoff is not None]
    manifest["source"] = {
        "location": ", ".join(f"{r.site}: {r.source.get('location', '')}" for r in ok),
        "kind": "sites",
        "extracted_at": max(str(r.source.get("extracted_at") or "") for r in ok),
        "counts": {}, "read": counts.get("read", 0), "problems": counts.get("extraction_problems", 0),
    }
    manifest["input_sha256"] = hashlib.sha256("".join(r.input_sha256 for r in ok).encode()).hexdigest()
    quality = _pooled_quality(ok, duplicates)
    full = {"sites": {r.site: r.quality_full for r in ok}, "duplicates": duplicates}
    examples = [f"{r.site}: {e}" for r in ok for e in r.examples][:5]
    return _Pool([r.site for r in ok], patients, measures, events, counts, quality, full, examples,
                 max(cutoffs) if cutoffs else None, {r.site: r.namespace for r in ok})


def _pooled_quality(ok: list[SiteResult], duplicates: list[str]) -> dict[str, Any]:
    """The sites' public data-quality documents, summed at the top (the report reads it) and kept per site."""
    total: dict[str, Any] = {"schema_version": 2, "read": 0, "used": 0, "unusable": 0,
                             "extraction": {"problems": 0, "by_file": {}},
                             "mapping": {"resources": 0, "unmappable": 0, "counts": {}, "detail": []}}
    for r in ok:
        q = r.quality
        for key in ("read", "used", "unusable"):
            total[key] += int(q.get(key, 0))
        total["extraction"]["problems"] += int(q["extraction"].get("problems", 0))
        for name, reasons in q["extraction"].get("by_file", {}).items():
            total["extraction"]["by_file"][f"{r.site}/{name}"] = reasons
        mapping = q.get("mapping", {})
        for key in ("resources", "unmappable"):
            total["mapping"][key] += int(mapping.get(key, 0))
        for reason, n in mapping.get("counts", {}).items():
            total["mapping"]["counts"][reason] = total["mapping"]["counts"].get(reason, 0) + n
        total["mapping"]["detail"] += mapping.get("detail", [])
    if duplicates:
        reason = "patient at two sites (same study identifier): counted once, at the first site"
        total["mapping"]["counts"][reason] = len(duplicates)
        total["mapping"]["detail"].append({"resource_type": "Patient", "field": "identifier", "reason": reason,
                                           "count": len(duplicates)})
    total["sites"] = {r.site: r.quality for r in ok}
    return total


def _site_status(results: list[SiteResult], plan: RunPlan, previous: str | None) -> dict[str, Any]:
    """Each site's status; a missing site says since when (from the published run, or now)."""
    before: dict[str, Any] = {}
    if previous:
        try:
            old = json.loads((plan.layout.run_dir(previous) / "run.json").read_text(encoding="utf-8"))
            before = old.get("sites") or {}
        except (OSError, ValueError, AttributeError):
            before = {}
    now = plan.clock().isoformat(timespec="seconds")
    status = {}
    for r in results:
        entry: dict[str, Any] = {"status": r.status, "counts": r.counts, "source": r.source}
        if not r.ok:
            entry["error"] = str(r.error)
            entry["missing_since"] = (before.get(r.site) or {}).get("missing_since") or now
        status[r.site] = entry
    return status


def _followup(plan: RunPlan, run_dir: Path, pool: _Pool, previous: str | None) -> tuple[list[WorkItem], Any]:
    """The worklist (private) and completeness per time point; the completeness gate."""
    ids = set(pool.patients["study_id"])
    lookup = None
    if plan.followup.lookup_file:
        parts = [followup.lookup(plan.study, raw_folder(run_dir, site), pool.namespaces[site], plan.key.secret, ids)
                 for site in pool.sites if site in pool.namespaces]
        lookup = parts[0] + "".join(part.split("\n", 1)[1] for part in parts[1:]) if parts else None
    source = plan.followup.withdrawn_file
    withdrawn = followup.read_withdrawn(source) if source is not None else frozenset()
    items, complete = followup.build(plan.study, pool.patients, pool.measures, pool.events,
                                     today=plan.clock().date(), upcoming_days=plan.followup.upcoming_days,
                                     withdrawn=withdrawn)
    followup.write_private(run_dir, items, lookup)
    trend = _completeness_trend(complete, plan.layout, previous)
    held = followup.below(trend, plan.followup.min_completeness_percent)
    if held and plan.gate is not None:
        raise QualityGateError("follow-up completeness gate: " + "; ".join(held))
    return items, trend


def _analysis_plan(study: StudyDefinition, sites: list[str]) -> AnalysisPlan:
    """The study's plan; with several sites, the site is a factor of the log-rank tests, and a Cox covariate or
    (``[analysis.survival] site = "stratum"``) the stratum of every Cox model."""
    plan = analysis_plan(study)
    if len(sites) < 2:
        return plan
    return plan.with_factor(Covariate("site", sites[0], tuple(sites[1:])), cox=study.analysis.survival.site)


def _codebook(study: StudyDefinition, *, multisite: bool) -> pd.DataFrame:
    """codebook.csv: every column of cohort.csv and measures.csv, how it is derived from FHIR (and the site)."""
    from mapping.codebook import CODEBOOK_COLUMNS, codebook

    rows = codebook(study)
    if multisite:
        rows.insert(1, {"table": "cohort.csv", "name": "site", "kind": "column", "label": "Site",
                        "type": "text", "derivation": "the [[sources]] site the patient's data came from"})
    return pd.DataFrame(rows, columns=list(CODEBOOK_COLUMNS))


def _unchanged_since(plan: RunPlan, manifest: dict[str, Any], previous: str | None) -> dict[str, Any] | None:
    """The published run's results when this run's input, study, key and versions are the same as its own.

    Then analysis, rendering and publishing are skipped: the report would be the same, and the board
    already has it. The run says so in run.json and the history; the email's input hash stops a resend.
    """
    if not previous:
        return None
    folder = plan.layout.run_dir(previous)
    try:
        before = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        results: dict[str, Any] = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    same = all(before.get(key) == manifest.get(key) for key in ("input_sha256", "study", "versions")) and (
        (before.get("pseudonym") or {}).get("key_fingerprint") == manifest["pseudonym"]["key_fingerprint"]
    )
    if not same or before.get("status") != "succeeded":
        return None
    manifest.update(
        status="succeeded", unchanged_since=previous, finished_at=plan.clock().isoformat(timespec="seconds"),
        skipped=f"input unchanged since run {previous}: analysis, report and publishing skipped",
    )
    write_json(plan.layout.run_dir(plan.run_id) / "run.json", manifest)
    log.info("the input is unchanged since run %s: analysis, report and publishing skipped", previous)
    return results


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
