"""What ``_lastUpdated`` searches cannot show an incremental pull: resources gone since the previous one.

A resource deleted on the server, or moved to a patient outside the cohort, is in no search result any
more. Rather than read the server's change history (``_history`` is server-wide: its cost follows
everything written to the server, not the cohort), the incremental pulls *count*.

For each resource type and batch of the previous cohort's patients the server counts the batch's
resources now (``Observation?patient=a,b,c&_summary=count``: a database count, no resources sent). If
nothing of the batch is gone, that count equals what the previous snapshot held for those patients plus
what this pull fetched that is new to them (added, or moved in from another patient). A batch whose
count differs is halved and each half counted again, down to :data:`LEAF_PATIENTS` patients, whose
current ids are listed (``_elements=subject``: the server sends ids and subjects, not whole resources).
What the previous snapshot or this pull's fetch holds for those patients but the listing does not is
gone. A server that sends no count gets the listing for the whole batch (slower, same result).

Counting runs after the changes were fetched. A deletion then goes unnoticed only when an addition to the
same patients lands between the fetch and the count and hides it; the snapshot still holds the deleted
resource, and since the check compares states, not events, the next pull's count finds the difference.

Cost: one count per type and patient batch, whatever else the server holds or changed; per batch with
something gone, two counts per halving and one listing of a few patients' ids.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from extractor.context import PullContext
from extractor.http import HttpClient
from extractor.paging import SearchResult
from extractor.search import SearchTask, batches, count, parallel, patient_param, stream_task
from extractor.snapshot import STUDY_RESOURCE_TYPES, Snapshot
from extractor.values import owner

LEAF_PATIENTS = 4  # a batch this small is listed instead of halved again
ID_ELEMENTS = {"Patient": "id"}  # what a listing asks for (_elements); the others: their subject
DEFAULT_ELEMENTS = "subject"

Batch = tuple[str, tuple[str, ...]]  # resource type, patients


@dataclass
class Ledger:
    """Per type, whose resources the previous snapshot and this pull's fetch hold (ids by owner)."""

    previous: dict[str, dict[str, set[str]]] = field(default_factory=dict)  # type -> owner -> ids
    fetched: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    previous_owner: dict[str, dict[str, str]] = field(default_factory=dict)  # type -> id -> owner
    fetched_ids: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, previous: Snapshot, fresh: Snapshot) -> Ledger:
        ledger = cls()
        for rtype in STUDY_RESOURCE_TYPES:
            by_owner: dict[str, set[str]] = {}
            owners: dict[str, str] = {}
            for resource in previous.iter_resources(rtype):
                pid, rid = owner(resource), resource.get("id")
                if pid is not None and isinstance(rid, str):
                    by_owner.setdefault(pid, set()).add(rid)
                    owners[rid] = pid
            ledger.previous[rtype], ledger.previous_owner[rtype] = by_owner, owners
            fetched: dict[str, set[str]] = {}
            for resource in fresh.iter_resources(rtype):
                pid, rid = owner(resource), resource.get("id")
                if pid is not None and isinstance(rid, str):
                    fetched.setdefault(pid, set()).add(rid)
            ledger.fetched[rtype] = fetched
            ledger.fetched_ids[rtype] = {rid for ids in fetched.values() for rid in ids}
        return ledger

    def _held(self, table: dict[str, dict[str, set[str]]], rtype: str, patients: Iterable[str]) -> set[str]:
        by_owner = table[rtype]
        return {rid for pid in patients for rid in by_owner.get(pid, ())}

    def expected(self, rtype: str, patients: Sequence[str]) -> int:
        """How many resources of these patients the server holds if none of them is gone."""
        members = set(patients)
        previous = sum(len(self.previous[rtype].get(pid, ())) for pid in patients)
        owners = self.previous_owner[rtype]
        new = sum(1 for rid in self._held(self.fetched, rtype, patients) if owners.get(rid) not in members)
        return previous + new

    def gone(self, rtype: str, patients: Sequence[str], current: set[str]) -> set[str]:
        """Ids held for these patients that the server's listing (``current``) no longer has.

        A previous resource fetched again under another patient moved there: it is replaced, not gone.
        """
        previous = self._held(self.previous, rtype, patients) - current - self.fetched_ids[rtype]
        fetched = self._held(self.fetched, rtype, patients) - current
        return previous | fetched


@dataclass
class Recount:
    """What :func:`find_gone` found and what it cost (counts only go to the manifest)."""

    gone: dict[str, set[str]]  # per type: ids to remove from the previous snapshot and from the fetch
    owners: dict[str, set[str]] = field(default_factory=dict)  # per type: patients the previous snapshot holds
    probes: int = 0  # _summary=count requests
    mismatched: Counter[str] = field(default_factory=Counter)  # per type: top-level batches that differed
    listed: Counter[str] = field(default_factory=Counter)  # per type: patients whose ids were listed

    def details(self) -> dict[str, Any]:
        return {
            "counts": self.probes,
            "batches_with_changes": dict(sorted(self.mismatched.items())),
            "patients_listed": dict(sorted(self.listed.items())),
        }


def list_ids(client: HttpClient, rtype: str, patients: Sequence[str]) -> tuple[set[str], SearchResult]:
    """The ids of the server's ``rtype`` resources of these patients now."""
    params = (
        (patient_param(rtype), ",".join(patients)),
        ("_count", str(client.settings.page_size)),
        ("_elements", ID_ELEMENTS.get(rtype, DEFAULT_ELEMENTS)),
    )
    result = SearchResult()
    ids = {str(r["id"]) for r in stream_task(client, SearchTask(rtype, params, frozenset(patients)), result)}
    return ids, result


def halves(batch: Batch) -> list[Batch]:
    rtype, patients = batch
    middle = len(patients) // 2
    return [(rtype, patients[:middle]), (rtype, patients[middle:])]


def find_gone(ctx: PullContext, previous: Snapshot, fresh: Snapshot, patients: Sequence[str]) -> Recount:
    """The resources of ``patients`` (the previous cohort) that are gone from the server, per type.

    ``fresh`` holds what this pull fetched (changed resources, and everything of new patients).
    """
    ledger = Ledger.of(previous, fresh)
    recount = Recount({rtype: set() for rtype in STUDY_RESOURCE_TYPES},
                      {rtype: set(ledger.previous[rtype]) for rtype in STUDY_RESOURCE_TYPES})
    ctx.progress.set_phase(f"counting the resources of {len(patients)} patients")
    level: list[Batch] = [
        (rtype, tuple(batch))
        for rtype in STUDY_RESOURCE_TYPES
        for batch in batches(sorted(patients), ctx.settings.patient_batch_size)
    ]
    to_list: list[Batch] = []
    top = True
    while level:
        counts = parallel(ctx.settings.concurrency, lambda b: count(ctx.client, *b), level)
        recount.probes += len(level)
        ctx.stats.pages += len(level)
        ctx.stats.searches += len(level)
        ctx.progress.add("counted", 0, pages=len(level))
        halved: list[Batch] = []
        for batch, found in zip(level, counts, strict=True):
            if found is not None and found == ledger.expected(*batch):
                continue
            if top:
                recount.mismatched[batch[0]] += 1
            if found is None or len(batch[1]) <= LEAF_PATIENTS:
                to_list.append(batch)
            else:
                halved.extend(halves(batch))
        level, top = halved, False
    if to_list:
        ctx.progress.set_phase(f"listing the current ids of {sum(len(p) for _, p in to_list)} patients")
    listings = parallel(ctx.settings.concurrency, lambda b: list_ids(ctx.client, *b), to_list)
    for (rtype, members), (current, result) in zip(to_list, listings, strict=True):
        ctx.stats.pages += result.pages
        ctx.stats.searches += 1
        ctx.progress.add("listed", 0, pages=result.pages)
        recount.listed[rtype] += len(members)
        recount.gone[rtype] |= ledger.gone(rtype, members, current)
    return recount
