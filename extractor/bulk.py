"""Bulk Data ``$export``: the extraction mode for large servers.

1. Kick-off ``GET [base]/$export`` (system), ``[base]/Patient/$export`` or ``[base]/Group/<id>/$export`` with
   ``_type=Patient,Procedure,Condition,Observation`` (and ``_since`` when asked), ``Prefer: respond-async``;
   the server answers 202 with the status URL in ``Content-Location``.
2. Poll the status URL: 202 means "still running" (wait ``Retry-After``, show ``X-Progress``), 200 gives the
   manifest (``transactionTime``, ``output``, ``error``). Polling stops after ``fhir.bulk.max_wait``.
3. Download the output files in parallel (``fhir.bulk.download_concurrency``), streamed to a temporary folder,
   every line checked to be a resource of the announced type (a bad file is retried like a bad page).
   Files whose ``requiresAccessToken`` is true get our credentials only when they are on the server's origin.
4. ``error`` outputs (OperationOutcomes) fail the pull: an export that lost resources is a short cohort.
5. Filter to the cohort (patients with an index Procedure) into the snapshot, types in canonical order.
6. ``DELETE`` the status URL in all cases, so the server can drop the job and its files.

Incremental (``fhir.incremental`` with a previous snapshot): :func:`bulk_incremental_pull` exports with
``_since`` and merges into the previous snapshot by the search incremental's rules (see there), deletions
found by counting the previous cohort's resources (:mod:`extractor.recount`).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from config.errors import FhirError
from extractor.context import PullContext
from extractor.http import HttpClient, InvalidPayload, parse_json, safe_url
from extractor.incremental import (
    full_pull_instead,
    incremental_details,
    merge_changes,
    previous_patients,
    since_marks,
)
from extractor.paging import resolve_link, same_origin
from extractor.recount import find_gone
from extractor.search import cohort_tasks, index_patients, run_tasks
from extractor.snapshot import (
    STUDY_RESOURCE_TYPES,
    Snapshot,
    SnapshotWriter,
    UnreadableLine,
    parse_json_bytes,
    read_ndjson,
)
from extractor.values import owner

log = logging.getLogger("extractor.bulk")

NDJSON = "application/fhir+ndjson"
DEFAULT_POLL_WAIT = 2.0  # seconds between polls when the server sends no Retry-After
MAX_POLL_WAIT = 60.0


@dataclass(frozen=True)
class Output:
    resource_type: str
    url: str
    path: Path


@dataclass
class BulkManifest:
    transaction_time: str
    requires_token: bool
    outputs: list[tuple[str, str]]
    errors: list[str]


def kickoff_url(ctx: PullContext) -> str:
    settings = ctx.settings
    if settings.bulk_level == "group":
        return f"{settings.base_url}/Group/{settings.bulk_group_id}/$export"
    if settings.bulk_level == "patient":
        return f"{settings.base_url}/Patient/$export"
    return f"{settings.base_url}/$export"


def kick_off(client: HttpClient, url: str, since: str | None) -> str:
    """Start the export; returns the status URL."""
    params = {"_type": ",".join(STUDY_RESOURCE_TYPES), "_outputFormat": NDJSON}
    if since:
        params["_since"] = since

    def read(response: requests.Response) -> str:
        location = response.headers.get("Content-Location")
        if not location:
            raise FhirError("the $export kick-off gave no Content-Location", safe_url(url))
        return resolve_link(location, client.settings.base_url)

    status_url = client.request(
        "GET", url, params=params, read=read, ok=(202,),
        # no-cache: a server must not hand back an earlier identical export (HAPI reuses jobs otherwise)
        headers={"Accept": "application/fhir+json", "Prefer": "respond-async", "Cache-Control": "no-cache"},
    )
    if not same_origin(status_url, client.settings.base_url):
        raise FhirError("the export status URL is on another origin; refusing to poll it", safe_url(url))
    return status_url


def poll(client: HttpClient, status_url: str, ctx: PullContext) -> BulkManifest:
    """Poll until the manifest is ready, honouring Retry-After and showing X-Progress."""
    deadline = ctx.clock.monotonic() + ctx.settings.bulk_max_wait

    def read(response: requests.Response) -> tuple[int, str | None, str | None, dict[str, Any] | None]:
        body = parse_json(response.content) if response.status_code == 200 else None
        return response.status_code, response.headers.get("Retry-After"), response.headers.get("X-Progress"), body

    while True:
        status, retry_after, progress, body = client.request(
            "GET", status_url, read=read, ok=(200, 202), headers={"Accept": "application/json"}
        )
        if status == 200 and body is not None:
            return _manifest(body, status_url)
        if progress:
            ctx.progress.set_phase(f"bulk export running: {progress[:80]}")
        wait = _wait(retry_after)
        if ctx.clock.monotonic() + wait > deadline:
            raise FhirError(
                f"the bulk export did not finish within fhir.bulk.max_wait ({ctx.settings.bulk_max_wait:.0f} s)",
                safe_url(status_url),
            )
        ctx.clock.sleep(wait)


def _wait(retry_after: str | None) -> float:
    if retry_after and retry_after.strip().isdigit():
        return min(max(float(retry_after), 0.2), MAX_POLL_WAIT)
    return DEFAULT_POLL_WAIT


def _manifest(body: dict[str, Any], url: str) -> BulkManifest:
    outputs = []
    for item in body.get("output") or []:
        if not isinstance(item, dict) or not isinstance(item.get("type"), str) or not isinstance(item.get("url"), str):
            raise FhirError("the export manifest has a malformed output entry", safe_url(url))
        outputs.append((item["type"], item["url"]))
    errors = [str(item.get("url")) for item in body.get("error") or [] if isinstance(item, dict)]
    stamp = body.get("transactionTime")
    if not isinstance(stamp, str):
        raise FhirError("the export manifest has no transactionTime", safe_url(url))
    return BulkManifest(stamp, bool(body.get("requiresAccessToken", False)), outputs, errors)


def download(client: HttpClient, output: Output, requires_token: bool) -> int:
    """Stream one NDJSON output to disk, checking every line; returns the number of resources.

    The bytes received count in the pull's ``http.bytes`` (the client counts only bodies it reads whole).
    """
    on_origin = same_origin(output.url, client.settings.base_url)
    if requires_token and not on_origin:
        raise FhirError("an export file needs our access token but is on another origin", safe_url(output.url))

    def read(response: requests.Response) -> int:
        count = received = 0
        try:
            with output.path.open("wb") as handle:
                for line in response.iter_lines(chunk_size=1 << 16):
                    received += len(line) + 1
                    if not line.strip():
                        continue
                    try:
                        resource = parse_json_bytes(line)
                    except UnreadableLine as exc:
                        raise InvalidPayload(f"line {count + 1} is {exc.reason}") from exc
                    if not isinstance(resource, dict) or resource.get("resourceType") != output.resource_type:
                        raise InvalidPayload(f"line {count + 1} is not a {output.resource_type}")
                    handle.write(line)
                    handle.write(b"\n")
                    count += 1
        finally:  # streamed bodies are not counted by the client: what was received, also of a failed try
            client.stats.count(nbytes=received)
        return count

    return client.request(
        "GET", output.url, read=read, stream=True, authenticate=requires_token and on_origin,
        headers={"Accept": NDJSON},
    )


def _error_reasons(client: HttpClient, urls: list[str], requires_token: bool) -> str:
    reasons: list[str] = []
    for url in urls[:3]:
        def read(response: requests.Response) -> list[str]:
            found = []
            for line in response.iter_lines():
                if line.strip():
                    outcome = parse_json_bytes(line)
                    issues = outcome.get("issue") if isinstance(outcome, dict) else None
                    found += [str(i.get("diagnostics", ""))[:120] for i in issues or [] if isinstance(i, dict)]
            return found

        try:
            reasons += client.request(
                "GET", url, read=read, stream=True, headers={"Accept": NDJSON},
                authenticate=requires_token and same_origin(url, client.settings.base_url),
            )
        except (FhirError, ValueError):
            reasons.append("(error file unreadable)")
    return "; ".join(r for r in reasons if r)[:300]


def delete_job(client: HttpClient, status_url: str) -> None:
    try:
        client.request("DELETE", status_url, read=lambda r: None, ok=(200, 202, 204, 404))
    except FhirError as exc:  # the data is safe on our side; say so and go on
        log.warning("could not delete the bulk export job: %s", exc)


@dataclass
class Export:
    """A finished export whose files are downloaded (valid inside :func:`exported`)."""

    manifest: BulkManifest
    outputs: list[Output]
    counts: list[int]

    def iter_type(self, resource_type: str) -> Iterator[dict[str, Any]]:
        """The downloaded resources of one type (every line was checked while downloading)."""
        for output in self.outputs:
            if output.resource_type == resource_type:
                yield from read_ndjson(output.path)


@contextmanager
def exported(ctx: PullContext, since: str | None) -> Iterator[Export]:
    """Kick off, poll, check for errors and download the files to a temporary folder; delete the job after."""
    client = ctx.client
    ctx.progress.set_phase("starting bulk export" + (f" (_since={since})" if since else ""))
    status_url = kick_off(client, kickoff_url(ctx), since)
    try:
        manifest = poll(client, status_url, ctx)
        if manifest.errors:
            reasons = _error_reasons(client, manifest.errors, manifest.requires_token)
            raise FhirError(
                f"the bulk export reported {len(manifest.errors)} error file(s): {reasons or 'no details'}; "
                "refusing an incomplete pull",
                safe_url(status_url),
            )
        with tempfile.TemporaryDirectory(prefix="bulk-", dir=ctx.writer.folder) as tmp:
            outputs = [
                Output(rtype, resolve_link(url, ctx.settings.base_url), Path(tmp) / f"{index:05d}-{rtype}.ndjson")
                for index, (rtype, url) in enumerate(manifest.outputs)
            ]
            ctx.progress.set_phase(f"downloading {len(outputs)} export files")
            workers = max(1, min(ctx.settings.bulk_download_concurrency, len(outputs)))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bulk-download") as pool:
                counts = list(pool.map(lambda o: download(client, o, manifest.requires_token), outputs))
            for output, count in zip(outputs, counts, strict=True):
                ctx.progress.add(f"exported {output.resource_type}", count, pages=1)
            yield Export(manifest, outputs, counts)
    finally:
        delete_job(client, status_url)


def bulk_pull(ctx: PullContext, since: str | None = None) -> dict[str, Any]:
    """Run an export and write the cohort's resources into the snapshot; returns manifest details."""
    with exported(ctx, since) as export:
        ctx.progress.set_phase("filtering to the cohort")
        patients = index_patients(export.iter_type("Procedure"), ctx.study.index_codes)
        for rtype in STUDY_RESOURCE_TYPES:
            for resource in export.iter_type(rtype):
                if owner(resource) in patients:
                    ctx.writer.add(resource, rtype)
        ctx.writer.read += sum(export.counts)  # every exported line was read; those outside the cohort are left out
    stamp = export.manifest.transaction_time
    return {
        "patients": len(patients),
        "extracted_at": stamp,
        "watermarks": dict.fromkeys(STUDY_RESOURCE_TYPES, stamp),
        "bulk": {"level": ctx.settings.bulk_level, "files": len(export.outputs), "exported": sum(export.counts),
                 "since": since},
    }


def bulk_incremental_pull(ctx: PullContext, previous: Snapshot) -> dict[str, Any]:
    """Export only what changed since ``previous`` (``_since``) and merge it in; falls back to a full export.

    The same steps and merge rules as the search incremental (:mod:`extractor.incremental`): the export with
    ``_since`` = the earliest watermark minus the overlap; patients whose index Procedure is in the export
    but who were not in ``previous`` join, and all their resources are fetched by search (an unchanged
    resource is not in a ``_since`` export); then the previous cohort's resources are counted to find
    those gone (:mod:`extractor.recount`); the merged snapshot is filtered to the recomputed cohort.
    """
    since = since_marks(previous, ctx.settings.base_url, ctx.settings.incremental_overlap)
    if isinstance(since, str):
        return full_pull_instead(ctx, since, bulk_pull)
    export_since = min(since.values())  # all written by iso(): same format, so text order is time order
    known = previous_patients(previous)
    with exported(ctx, export_since) as export, \
            tempfile.TemporaryDirectory(prefix="changes-", dir=ctx.writer.folder) as tmp:
        candidates = index_patients(export.iter_type("Procedure"), ctx.study.index_codes)
        new_patients = sorted(candidates - set(known))
        ctx.progress.set_phase(f"fetching all resources of {len(new_patients)} new patients")
        changes = SnapshotWriter(Path(tmp), STUDY_RESOURCE_TYPES)
        # the searched copies are at least as new as the exported ones: write them first, the first copy wins
        run_tasks(ctx.client, cohort_tasks(new_patients, ctx.settings), changes.receive, ctx.stats, ctx.progress)
        changes.read += sum(export.counts)
        wanted = set(known) | set(new_patients)
        for rtype in STUDY_RESOURCE_TYPES:
            for resource in export.iter_type(rtype):
                if owner(resource) in wanted:
                    changes.add(resource, rtype)
        fresh = changes.finish(ctx.settings.base_url, "changes", "")
        recount = find_gone(ctx, previous, fresh, known)
        merge = merge_changes(ctx, previous, fresh, recount)
    stamp = export.manifest.transaction_time
    return {
        "patients": merge.patients,
        "extracted_at": stamp,
        "watermarks": dict.fromkeys(STUDY_RESOURCE_TYPES, stamp),
        "bulk": {"level": ctx.settings.bulk_level, "files": len(export.outputs), "exported": sum(export.counts),
                 "since": export_since},
        "incremental": incremental_details(previous, fresh, merge, recount, since=since,
                                           new_patients=len(new_patients)),
    }
