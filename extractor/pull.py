"""``pull()``: the one entry point that extracts the study cohort from a FHIR server into a snapshot.

It picks the mode from the settings (search or Bulk ``$export``, each full or incremental on top of a
previous snapshot), builds the HTTP client and authenticator on one keep-alive session, streams everything
into a :class:`SnapshotWriter` and writes the manifest. Either the whole pull succeeds, or it raises a
:class:`FhirError` and leaves no manifest behind (so the folder cannot be mistaken for a snapshot).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from config.errors import FhirError
from config.fhir import FhirSettings
from config.study import StudyDefinition
from extractor.auth import make_authenticator
from extractor.http import SYSTEM_CLOCK, Clock, HttpClient, HttpStats, make_session
from extractor.progress import Progress
from extractor.search import SearchStats, cohort_tasks, find_cohort, run_tasks
from extractor.snapshot import MANIFEST, STUDY_RESOURCE_TYPES, Snapshot, SnapshotWriter

log = logging.getLogger("extractor")


@dataclass
class PullContext:
    """What every extraction mode gets."""

    settings: FhirSettings
    study: StudyDefinition
    client: HttpClient
    writer: SnapshotWriter
    progress: Progress
    clock: Clock
    stats: SearchStats = field(default_factory=SearchStats)


def iso(moment: datetime) -> str:
    """A FHIR instant, UTC, millisecond precision."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_client(
    settings: FhirSettings, session: requests.Session, clock: Clock = SYSTEM_CLOCK, stats: HttpStats | None = None
) -> HttpClient:
    """An authenticated client (the authenticator gets its own unauthenticated client on the same session)."""
    stats = stats or HttpStats()
    plain = HttpClient(settings, session, clock=clock, stats=stats)
    return HttpClient(settings, session, auth=make_authenticator(settings.auth, plain), clock=clock, stats=stats)


def search_pull(ctx: PullContext) -> dict[str, Any]:
    """The full cohort pull by search; returns manifest details."""
    ctx.progress.set_phase("finding index procedures")
    ids = find_cohort(ctx.client, ctx.study, ctx.stats, ctx.progress)
    ctx.progress.set_phase(f"fetching resources of {len(ids)} patients")
    run_tasks(ctx.client, cohort_tasks(ids, ctx.settings), ctx.writer.receive, ctx.stats, ctx.progress)
    return {"patients": len(ids)}


def watermarks(stats: SearchStats, fallback: datetime | None) -> dict[str, str]:
    """Per-type server time at which that type's searches started (the next incremental pull's cut-off)."""
    marks: dict[str, str] = {}
    for resource_type in STUDY_RESOURCE_TYPES:
        moment = stats.started.get(resource_type) or stats.started.get("index") or fallback
        if moment is not None:
            marks[resource_type] = iso(moment)
    return marks


def pull(
    settings: FhirSettings,
    study: StudyDefinition,
    folder: Path,
    *,
    session: requests.Session | None = None,
    previous: Snapshot | None = None,
    progress: bool = False,
    clock: Clock = SYSTEM_CLOCK,
) -> Snapshot:
    """Extract the study cohort from the FHIR server in ``settings`` into the snapshot ``folder``.

    ``previous`` (a snapshot of an earlier pull of the same server) makes the pull incremental when
    ``settings.incremental`` is on. ``progress`` shows a live line on a terminal, log lines otherwise.
    """
    own_session = session is None
    http = session if session is not None else make_session(settings)
    folder = Path(folder)
    if previous is not None and previous.folder.resolve() == folder.resolve():
        raise FhirError("the previous snapshot and the new one must be different folders", str(folder))
    (folder / MANIFEST).unlink(missing_ok=True)
    writer = SnapshotWriter(folder, STUDY_RESOURCE_TYPES)
    meter = Progress(progress)
    stats = HttpStats()
    ctx = PullContext(settings, study, build_client(settings, http, clock, stats), writer, meter, clock)
    log.info("pull start: %s", settings.redacted())
    started = clock.monotonic()
    try:
        if settings.mode == "bulk":
            from extractor.bulk import bulk_incremental_pull, bulk_pull

            if settings.incremental and previous is not None:
                details = bulk_incremental_pull(ctx, previous)
            else:
                details = bulk_pull(ctx)
            kind = "fhir-bulk"
        elif settings.incremental and previous is not None:
            from extractor.incremental import incremental_pull

            details = incremental_pull(ctx, previous)
            kind = "fhir-search"
        else:
            details = search_pull(ctx)
            kind = "fhir-search"
    except BaseException:
        writer.abort()
        meter.close(failed=True)
        raise
    finally:
        if own_session:
            http.close()
    meter.close()
    extracted = details.pop("extracted_at", None) or _first_time(ctx.stats)
    details.setdefault("watermarks", watermarks(ctx.stats, None))
    details.update(
        mode=settings.mode,
        settings=settings.describe(),
        http={"requests": stats.requests, "retries": stats.retries, "bytes": stats.bytes},
        pages=ctx.stats.pages,
        searches=ctx.stats.searches,
        seconds=round(clock.monotonic() - started, 3),
    )
    return writer.finish(settings.base_url, kind, extracted, details)


def _first_time(stats: SearchStats) -> str:
    moments = list(stats.started.values())
    if not moments:
        raise FhirError("the server's responses carried no time (no Bundle.meta.lastUpdated, no Date header)")
    return iso(min(moments))
