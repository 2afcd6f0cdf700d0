"""Incremental search pulls: fetch what changed since the previous snapshot and merge it in.

Watermarks. Every pull records, per resource type, the *server* time at which that type's searches
started (``Bundle.meta.lastUpdated`` of the first page, else the response ``Date``), never the client clock,
in ``manifest.details.watermarks``. The next pull asks for ``_lastUpdated=gt<watermark - overlap>``; the
overlap (``fhir.incremental_overlap``, default 300 s) covers writes that were committed after the watermark
but stamped before it. Re-fetching a few minutes twice is harmless: merging is by id, newest wins.

Every request is restricted to the cohort's patients, so a pull's cost follows the cohort and what changed
in it, not what else the server holds or what was written to it overnight (a bulk load of unrelated
patients costs nothing here; a server-wide ``_history`` read would page through all of it).

One incremental pull:

1. index Procedures changed since the Procedure watermark → patients new to the cohort;
2. for the previous cohort's patients: each type with ``_lastUpdated=gt...`` (patient batches);
   for new patients: everything (a full fetch of their resources);
3. deletions: per type and patient batch of the previous cohort, the server's count is compared with
   what should be there; where it differs, the few patients concerned are found by halving and their
   current ids listed (:mod:`extractor.recount`);
4. merge: previous snapshot minus replaced and gone ids, plus the fetched resources (minus gone ones);
5. the cohort is recomputed from the merged Procedures (a patient whose index Procedure was deleted or
   recoded leaves) and only its patients' resources are kept.

The result holds the same resources as a full pull of the same server state (tested against HAPI);
the order of lines differs, so compare content, not the file hash.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from config.errors import FhirError
from extractor.context import PullContext
from extractor.recount import Recount, find_gone
from extractor.search import cohort_tasks, find_cohort, index_patients, run_tasks, search_pull
from extractor.snapshot import STUDY_RESOURCE_TYPES, Problem, Snapshot, SnapshotWriter
from extractor.values import iso, owner, parse_instant

log = logging.getLogger("extractor.incremental")

Resource = dict[str, Any]


def since_marks(previous: Snapshot, base_url: str, overlap: float) -> dict[str, str] | str:
    """Per-type ``_lastUpdated``/``_since`` cut-offs, or the reason an incremental pull is not possible."""
    manifest = previous.manifest
    if manifest.source != base_url:
        return f"the previous snapshot is from another server ({manifest.source})"
    if manifest.kind not in {"fhir-search", "fhir-bulk"}:
        return f"the previous snapshot is not a FHIR pull ({manifest.kind})"
    marks = manifest.details.get("watermarks") or {}
    out: dict[str, str] = {}
    for rtype in STUDY_RESOURCE_TYPES:
        moment = parse_instant(marks.get(rtype))
        if moment is None:
            return f"the previous snapshot has no watermark for {rtype}"
        out[rtype] = iso(moment - timedelta(seconds=overlap))
    return out


def previous_patients(previous: Snapshot) -> list[str]:
    """The previous cohort's patients, sorted (the batches of every incremental request)."""
    return sorted({str(r["id"]) for r in previous.iter_resources("Patient")})


def _merged(previous: Snapshot, fresh: Snapshot, rtype: str, gone: set[str]) -> Iterator[Resource]:
    """Previous resources neither replaced nor gone, then the fresh ones not gone."""
    replaced = {r["id"] for r in fresh.iter_resources(rtype)}
    for resource in previous.iter_resources(rtype):
        if resource.get("id") not in replaced and resource.get("id") not in gone:
            yield resource
    for resource in fresh.iter_resources(rtype):
        if resource.get("id") not in gone:
            yield resource


@dataclass(frozen=True)
class Merge:
    """What :func:`merge_changes` did."""

    patients: int  # in the recomputed cohort
    dropped: dict[str, int]  # per type: resources removed because they are gone from the server
    left_cohort: int  # resources left out because their patient is no longer in the cohort


def merge_changes(ctx: PullContext, previous: Snapshot, fresh: Snapshot, recount: Recount) -> Merge:
    """Write ``previous`` merged with ``fresh`` into ``ctx.writer``.

    ``fresh`` holds the changed resources fetched since the watermarks (and everything of new patients),
    ``recount.gone`` the ids no longer on the server for their patients (:func:`extractor.recount.find_gone`).
    A previous resource is replaced by its fresh version; gone ones are removed; the cohort is recomputed
    from the merged Procedures and only its patients' resources are kept. A type with nothing fetched,
    nothing gone and all its patients still in the cohort is copied line for line, unparsed. Shared by the
    search and Bulk incremental pulls.

    What was read to make ``fresh`` (its ``read`` and problems, e.g. duplicates received) is carried over
    to ``ctx.writer``; the resources of ``previous`` are not counted as read again.
    """
    ctx.progress.set_phase("merging")
    gone = recount.gone
    cohort = index_patients(_merged(previous, fresh, "Procedure", gone["Procedure"]), ctx.study.index_codes)
    before = len(ctx.writer.problems)
    left_cohort = 0
    for rtype in STUDY_RESOURCE_TYPES:
        untouched = not fresh.manifest.counts.get(rtype) and not gone[rtype]
        if untouched and rtype in recount.owners and recount.owners[rtype] <= cohort:
            ctx.writer.copy_type(previous, rtype)
            continue
        for resource in _merged(previous, fresh, rtype, gone[rtype]):
            if owner(resource) in cohort:
                ctx.writer.add(resource, rtype)
            else:
                left_cohort += 1
    if len(ctx.writer.problems) > before:
        raise FhirError(f"merging the incremental pull found {len(ctx.writer.problems) - before} problems; "
                        "run a full pull (incremental = false)")
    ctx.writer.read += fresh.manifest.read
    ctx.writer.problems.extend(Problem.from_dict(p) for p in fresh.manifest.problems)
    return Merge(len(cohort), {t: len(ids) for t, ids in gone.items()}, left_cohort)


def incremental_details(
    previous: Snapshot, fresh: Snapshot, merge: Merge, recount: Recount, *, since: dict[str, str],
    new_patients: int,
) -> dict[str, Any]:
    """``details.incremental`` of the manifest (counts only), for the search and Bulk incremental pulls."""
    return {
        "previous": previous.manifest.extracted_at,
        "since": since,
        "changed": fresh.manifest.counts,
        "new_patients": new_patients,
        "dropped_ids": merge.dropped,
        "left_cohort": merge.left_cohort,
        "recount": recount.details(),
    }


def full_pull_instead(
    ctx: PullContext, reason: str, full_pull: Callable[[PullContext], dict[str, Any]]
) -> dict[str, Any]:
    """A full pull where an incremental one is not possible; the manifest says why."""
    log.warning("incremental pull not possible (%s); doing a full pull", reason)
    details = full_pull(ctx)
    details["incremental"] = {"fallback": reason}
    return details


def incremental_pull(ctx: PullContext, previous: Snapshot) -> dict[str, Any]:
    """Fetch changes since ``previous`` and write the merged snapshot; falls back to a full pull."""
    since = since_marks(previous, ctx.settings.base_url, ctx.settings.incremental_overlap)
    if isinstance(since, str):
        return full_pull_instead(ctx, since, search_pull)

    ctx.progress.set_phase("finding changed index procedures")
    known = previous_patients(previous)
    candidates = find_cohort(ctx.client, ctx.study, ctx.stats, ctx.progress,
                             extra={"_lastUpdated": f"gt{since['Procedure']}"})
    earlier = set(known)
    new_patients = [p for p in candidates if p not in earlier]

    ctx.progress.set_phase(f"fetching changes of {len(known)} patients and {len(new_patients)} new ones")
    with tempfile.TemporaryDirectory(prefix="changes-", dir=ctx.writer.folder) as tmp:
        changes = SnapshotWriter(Path(tmp), STUDY_RESOURCE_TYPES)
        tasks = cohort_tasks(known, ctx.settings, since) + cohort_tasks(new_patients, ctx.settings)
        run_tasks(ctx.client, tasks, changes.receive, ctx.stats, ctx.progress)
        fresh = changes.finish(ctx.settings.base_url, "changes", "")
        recount = find_gone(ctx, previous, fresh, known)
        merge = merge_changes(ctx, previous, fresh, recount)
    return {
        "patients": merge.patients,
        "incremental": incremental_details(previous, fresh, merge, recount, since=since,
                                           new_patients=len(new_patients)),
    }
