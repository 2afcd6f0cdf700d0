"""What every server extraction mode shares: the pull's context, its search bookkeeping and the
authenticated client (FHIR instants and patient references: :mod:`extractor.values`).

The modes (:mod:`extractor.search`, :mod:`extractor.incremental`, :mod:`extractor.bulk`) and the
incremental pulls' deletion check (:mod:`extractor.recount`) import this module and each other only
downwards (search ← recount ← incremental ← bulk); :mod:`extractor.pull` picks the mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

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


def build_client(
    settings: FhirSettings, session: requests.Session, clock: Clock = SYSTEM_CLOCK, stats: HttpStats | None = None
) -> HttpClient:
    """An authenticated client (the authenticator gets its own unauthenticated client on the same session)."""
    stats = stats or HttpStats()
    plain = HttpClient(settings, session, clock=clock, stats=stats)
    return HttpClient(settings, session, auth=make_authenticator(settings.auth, plain), clock=clock, stats=stats)
