"""``pull()``: the one entry point that extracts the study cohort from a FHIR server into a snapshot.

It picks the mode from the settings (search or Bulk ``$export``, each full or incremental on top of a
previous snapshot: :mod:`extractor.search`, :mod:`extractor.incremental`, :mod:`extractor.bulk`), builds the
HTTP client and authenticator on one keep-alive session, streams everything into a :class:`SnapshotWriter`
and writes the manifest. Either the whole pull succeeds, or it raises a :class:`FhirError` and leaves no
manifest behind (so the folder cannot be mistaken for a snapshot).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from config.errors import FhirError
from config.fhir import FhirSettings
from config.study import StudyDefinition
from extractor.bulk import bulk_incremental_pull, bulk_pull
from extractor.context import PullContext, SearchStats, build_client
from extractor.http import SYSTEM_CLOCK, Clock, HttpStats, make_session
from extractor.incremental import incremental_pull
from extractor.progress import Progress
from extractor.search import search_pull
from extractor.snapshot import MANIFEST, STUDY_RESOURCE_TYPES, Snapshot, SnapshotWriter
from extractor.values import iso

log = logging.getLogger("extractor")


Mode = Callable[[PullContext], dict[str, Any]]  # a pull that fills ctx.writer and returns manifest details


def choose_mode(settings: FhirSettings, previous: Snapshot | None) -> tuple[str, Mode]:
    """The manifest kind and the pull to run: search or Bulk export, full or incremental on ``previous``."""
    bulk = settings.mode == "bulk"
    kind = "fhir-bulk" if bulk else "fhir-search"
    if settings.incremental and previous is not None:
        earlier = previous
        incremental = bulk_incremental_pull if bulk else incremental_pull
        return kind, lambda ctx: incremental(ctx, earlier)
    return kind, bulk_pull if bulk else search_pull


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
    kind, run = choose_mode(settings, previous)
    try:
        details = run(ctx)
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
