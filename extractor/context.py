"""What every server extraction mode shares: the pull's context, its search bookkeeping, FHIR instants,
and the authenticated client.

The modes (:mod:`extractor.search`, :mod:`extractor.incremental`, :mod:`extractor.bulk`) and the
incremental pulls' deletion check (:mod:`extractor.recount`) import this module and each other only
downwards (search ← recount ← incremental ← bulk); :mod:`extractor.pull` picks the mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

from config.fhir import FhirSettings
from config.study import StudyDefinition
from extractor.auth import make_authenticator
from extractor.http import SYSTEM_CLOCK, Clock, HttpClient, HttpStats
from extractor.paging import SearchResult
from extractor.progress import Progress
from extractor.snapshot import SnapshotWriter


@dataclass
class SearchStats:
    pages: int = 0
    searches: int = 0
    started: dict[str, datetime] = field(default_factory=dict)  # earliest server time per type

    def note(self, resource_type: str, result: SearchResult) -> None:
        self.pages += result.pages
        self.searches += 1
        if result.started is not None:
            known = self.started.get(resource_type)
            if known is None or result.started < known:
                self.started[resource_type] = result.started


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


def parse_instant(value: Any) -> datetime | None:
    """A FHIR instant (``...Z`` or with an offset) as a datetime; None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def build_client(
    settings: FhirSettings, session: requests.Session, clock: Clock = SYSTEM_CLOCK, stats: HttpStats | None = None
) -> HttpClient:
    """An authenticated client (the authenticator gets its own unauthenticated client on the same session)."""
    stats = stats or HttpStats()
    plain = HttpClient(settings, session, clock=clock, stats=stats)
    return HttpClient(settings, session, auth=make_authenticator(settings.auth, plain), clock=clock, stats=stats)
