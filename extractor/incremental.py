"""Incremental search pulls: fetch what changed since the previous snapshot and merge it in.

Watermarks. Every pull records, per resource type, the *server* time at which that type's searches
started (``Bundle.meta.lastUpdated`` of the first page, else the response ``Date``), never the client clock,
in ``manifest.details.watermarks``. The next pull asks for ``_lastUpdated=gt<watermark - overlap>``; the
overlap (``fhir.incremental_overlap``, default 300 s) covers writes that were committed after the watermark
but stamped before it. Re-fetching a few minutes twice is harmless: merging is by id, newest wins.

Deletions: from ``[type]/_history?_since=<watermark - overlap>``, read *before* the searches. Any resource
in the previous snapshot whose id appears there (deleted, or changed) but that the searches did not return
is removed: it was deleted, or it no longer belongs to a cohort patient. (A periodic full pull is the
alternative; history is exact and cheap for a night's changes. It is server-wide per type, so its cost
grows with the server's daily change volume, not with the cohort.)

One incremental pull:

1. history per type since its watermark → ids changed or deleted (only ids are kept);
2. index Procedures changed since the Procedure watermark → patients new to the cohort;
3. for the previous cohort's patients: each type with ``_lastUpdated=gt...`` (patient batches);
   for new patients: everything (a full fetch of their resources);
4. merge: previous snapshot minus replaced/removed ids, plus the fetched resources;
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
from extractor.context import PullContext, iso, parse_instant
from extractor.http import InvalidPayload
from extractor.paging import SearchResult, iter_pages
from extractor.search import cohort_tasks, find_cohort, index_patients, owner, run_tasks, search_pull
from extractor.snapshot import STUDY_RESOURCE_TYPES, Problem, Snapshot, SnapshotWriter

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


def validate_history(body: dict[str, Any]) -> None:
    if body.get("resourceType") != "Bundle":
        raise InvalidPayload("expected a history Bundle")
    for index, entry in enumerate(body.get("entry") or []):
        if _entry_id(entry) is None:
            raise InvalidPayload(f"history entry {index} names no resource id")


def _entry_id(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return None
    resource = entry.get("resource")
    if isinstance(resource, dict) and isinstance(resource.get("id"), str):
        return str(resource["id"])
    for text in ((entry.get("request") or {}).get("url"), entry.get("fullUrl")):
        if isinstance(text, str):
            parts = text.split("?")[0].split("/")
            if "_history" in parts:
                parts = parts[: parts.index("_history")]
            if len(parts) >= 2 and parts[-1]:
                return parts[-1]
    return None


def touched_since(ctx: PullContext, resource_type: str, since: str) -> set[str]:
    """Ids of resources of a type created, changed or deleted since ``since`` (type-level history)."""
    url = f"{ctx.settings.base_url}/{resource_type}/_history"
    params = {"_since": since, "_count": str(ctx.settings.page_size)}
    result = SearchResult()
    ids: set[str] = set()
    for page in iter_pages(ctx.client, url, params, result=result, validate=validate_history):
        for entry in page.body.get("entry") or []:
            rid = _entry_id(entry)
            if rid is not None:
                ids.add(rid)
    ctx.stats.note(resource_type, result)
    ctx.progress.add(f"history {resource_type}", 0, pages=result.pages)
    return ids


def _merged(previous: Snapshot, fresh: Snapshot, rtype: str, drop: set[str]) -> Iterator[Resource]:
    """Previous resources not replaced or dropped, then the fresh ones."""
    replaced = {r["id"] for r in fresh.iter_resources(rtype)}
    for resource in previous.iter_resources(rtype):
        if resource.get("id") not in replaced and resource.get("id") not in drop:
            yield resource
    yield from fresh.iter_resources(rtype)


@dataclass(frozen=True)
class Merge:
    """What :func:`merge_changes` did."""

    patients: int  # in the recomputed cohort
    dropped: dict[str, set[str]]  # per type: previous ids touched by the history but not fetched again
    left_cohort: int  # resources left out because their patient is no longer in the cohort


def merge_changes(
    ctx: PullContext, previous: Snapshot, fresh: Snapshot, touched: dict[str, set[str]]
) -> Merge:
    """Write ``previous`` merged with ``fresh`` into ``ctx.writer``.

    ``fresh`` holds the changed resources fetched since the watermarks (and everything of new patients),
    ``touched`` the ids the history reports changed or deleted. A previous resource is replaced by its fresh
    version, or removed when touched but not fetched; the cohort is recomputed from the merged Procedures
    and only its patients' resources are kept. Shared by the search and Bulk incremental pulls.

    What was read to make ``fresh`` (its ``read`` and problems, e.g. duplicates received) is carried over
    to ``ctx.writer``; the resources of ``previous`` are not counted as read again.
    """
    drop: dict[str, set[str]] = {}
    for rtype in STUDY_RESOURCE_TYPES:
        returned = {r["id"] for r in fresh.iter_resources(rtype)}
        drop[rtype] = touched[rtype] - returned

    ctx.progress.set_phase("merging")
    cohort = index_patients(_merged(previous, fresh, "Procedure", drop["Procedure"]), ctx.study.index_codes)
    before = len(ctx.writer.problems)
    left_cohort = 0
    for rtype in STUDY_RESOURCE_TYPES:
        for resource in _merged(previous, fresh, rtype, drop[rtype]):
            if owner(resource) in cohort:
                ctx.writer.add(resource, rtype)
            else:
                left_cohort += 1
    if len(ctx.writer.problems) > before:
        raise FhirError(f"merging the incremental pull found {len(ctx.writer.problems) - before} problems; "
                        "run a full pull (incremental = false)")
    ctx.writer.read += fresh.manifest.read
    ctx.writer.problems.extend(Problem.from_dict(p) for p in fresh.manifest.problems)
    return Merge(len(cohort), drop, left_cohort)


def incremental_details(
    previous: Snapshot, fresh: Snapshot, merge: Merge, *, since: dict[str, str], touched: dict[str, set[str]],
    new_patients: int,
) -> dict[str, Any]:
    """``details.incremental`` of the manifest (counts only), for the search and Bulk incremental pulls."""
    return {
        "previous": previous.manifest.extracted_at,
        "since": since,
        "changed": fresh.manifest.counts,
        "new_patients": new_patients,
        "dropped_ids": {t: len(v) for t, v in merge.dropped.items()},
        "left_cohort": merge.left_cohort,
        "history_ids": {t: len(v) for t, v in touched.items()},
    }


def changes_since(ctx: PullContext, previous: Snapshot) -> tuple[dict[str, str], dict[str, set[str]]] | str:
    """The per-type cut-offs and the ids touched since them (``_history``), or why no incremental pull."""
    since = since_marks(previous, ctx.settings.base_url, ctx.settings.incremental_overlap)
    if isinstance(since, str):
        return since
    ctx.progress.set_phase("reading change history")
    return since, {rtype: touched_since(ctx, rtype, since[rtype]) for rtype in STUDY_RESOURCE_TYPES}


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
    start = changes_since(ctx, previous)
    if isinstance(start, str):
        return full_pull_instead(ctx, start, search_pull)
    since, touched = start

    ctx.progress.set_phase("finding changed index procedures")
    known = {r["id"] for r in previous.iter_resources("Patient")}
    candidates = find_cohort(ctx.client, ctx.study, ctx.stats, ctx.progress,
                             extra={"_lastUpdated": f"gt{since['Procedure']}"})
    new_patients = [p for p in candidates if p not in known]

    ctx.progress.set_phase(f"fetching changes of {len(known)} patients and {len(new_patients)} new ones")
    with tempfile.TemporaryDirectory(prefix="changes-", dir=ctx.writer.folder) as tmp:
        changes = SnapshotWriter(Path(tmp), STUDY_RESOURCE_TYPES)
        tasks = cohort_tasks(sorted(known), ctx.settings, since) + cohort_tasks(new_patients, ctx.settings)
        run_tasks(ctx.client, tasks, changes.receive, ctx.stats, ctx.progress)
        fresh = changes.finish(ctx.settings.base_url, "changes", "")
        merge = merge_changes(ctx, previous, fresh, touched)
    return {
        "patients": merge.patients,
        "incremental": incremental_details(previous, fresh, merge, since=since, touched=touched,
                                           new_patients=len(new_patients)),
    }
