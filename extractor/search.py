"""The cohort pull by FHIR search.

1. ``Procedure?code=sys|code,...`` with the study's index-procedure codes (``_elements=subject``) gives the
   cohort's patient ids.
2. For batches of those ids: ``Patient?_id=a,b,c`` and ``Condition|Observation|Procedure?patient=a,b,c``,
   each followed through all its pages. Never one request per resource. A batch holds as many patients as
   make about one page of results (:func:`plan_batch_sizes`, from a count of the first batch), at most
   ``patient_batch_size``.
3. Every returned resource is checked to belong to the batch asked for (a server that silently ignores
   ``patient=`` would otherwise hand us the whole database).

Independent searches (resource type × patient batch) run on a bounded thread pool
(``fhir.concurrency``); results are written in the same order as a sequential pull, so the snapshot is
byte-identical whatever the concurrency.

:func:`search_pull` is the full pull of the search mode; :func:`is_index` and :func:`index_patients` (is it
an index procedure, and whose) are shared by every mode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from config.errors import FhirError
from config.fhir import FhirSettings
from config.study import StudyDefinition
from extractor.context import PullContext, SearchStats
from extractor.http import HttpClient, InvalidPayload, safe_url
from extractor.paging import NO_CACHE, SearchResult, iter_resources
from extractor.progress import Progress
from extractor.snapshot import STUDY_RESOURCE_TYPES
from extractor.values import owner

Resource = dict[str, Any]

MAX_IDS_CHARS = 3000  # keep request lines well under common 8 KB limits
PAGE_FILL = 0.75  # a planned search aims at this share of a page, so patients above the average still fit

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class SearchTask:
    """One search: a resource type, its parameters, and the patients its results must belong to."""

    resource_type: str
    params: tuple[tuple[str, str], ...]
    patients: frozenset[str]

    @property
    def label(self) -> str:
        return f"{self.resource_type} ({len(self.patients)} patients)"


@dataclass
class TaskOutcome:
    resources: list[Resource] = field(default_factory=list)
    result: SearchResult = field(default_factory=SearchResult)


def is_index(resource: Resource, index: frozenset[tuple[str, str]]) -> bool:
    """Whether a Procedure carries one of the study's index-procedure codings."""
    codings = (resource.get("code") or {}).get("coding") or []
    return any(isinstance(c, dict) and (c.get("system"), c.get("code")) in index for c in codings)


def index_patients(procedures: Iterable[Resource], index: frozenset[tuple[str, str]]) -> set[str]:
    """The patients of the index procedures among ``procedures``."""
    return {pid for r in procedures if is_index(r, index) and (pid := owner(r)) is not None}


def code_param(study: StudyDefinition) -> str:
    return ",".join(f"{system}|{code}" for system, code in sorted(study.index_codes))


def find_cohort(
    client: HttpClient, study: StudyDefinition, stats: SearchStats, progress: Progress,
    extra: Mapping[str, str] | None = None,
) -> list[str]:
    """Patient ids (in first-seen order) of every index Procedure on the server."""
    params = {"code": code_param(study), "_count": str(client.settings.page_size), "_elements": "subject"}
    params.update(extra or {})
    url = f"{client.settings.base_url}/Procedure"
    ids: dict[str, None] = {}
    result = SearchResult()
    for resource in iter_resources(client, url, params, result=result):
        pid = owner(resource)
        if pid is None:
            raise FhirError("an index Procedure has no Patient subject", safe_url(url))
        ids.setdefault(pid, None)
        progress.add("index Procedure")
    progress.add("index Procedure", 0, pages=result.pages)
    stats.note("index", result)
    return list(ids)


def batches(ids: Iterable[str], size: int) -> Iterator[list[str]]:
    """Batches of at most ``size`` ids and at most ``MAX_IDS_CHARS`` characters joined."""
    batch: list[str] = []
    length = 0
    for pid in ids:
        if batch and (len(batch) >= size or length + len(pid) + 1 > MAX_IDS_CHARS):
            yield batch
            batch, length = [], 0
        batch.append(pid)
        length += len(pid) + 1
    if batch:
        yield batch


def patient_param(resource_type: str) -> str:
    """The search parameter that restricts ``resource_type`` to given patients."""
    return "_id" if resource_type == "Patient" else "patient"


def parallel(concurrency: int, work: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``work`` on every item, up to ``concurrency`` at once; results in item order."""
    workers = max(1, min(concurrency, len(items)))
    if workers == 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fhir-search") as pool:
        return list(pool.map(work, items))


def validate_count(body: dict[str, Any]) -> None:
    if body.get("resourceType") != "Bundle":
        raise InvalidPayload("expected a Bundle with a count")


def count(client: HttpClient, resource_type: str, patients: Sequence[str]) -> int | None:
    """The server's number of ``resource_type`` resources of these patients (``_summary=count``: a count,
    no resources sent), or None when it sends no count."""
    params = {patient_param(resource_type): ",".join(patients), "_summary": "count"}
    page = client.get_json(f"{client.settings.base_url}/{resource_type}", params, validate=validate_count,
                           headers=NO_CACHE)
    total = page.body.get("total")
    return total if isinstance(total, int) and not isinstance(total, bool) else None


def plan_batch_sizes(client: HttpClient, ids: Sequence[str], stats: SearchStats) -> dict[str, int]:
    """Patients per search for each type, so that a search's results fit in about one page.

    A server pages a search by continuing it, and that costs: on HAPI a second page costs about three times
    the first per resource, so one search of 600 Observations in pages of 250 takes three times as long as
    three searches of 200 (measured in bench/extract_incremental.py). Searches of about one page also spread
    evenly over concurrent connections. The first batch of patients is counted per type
    (``_summary=count``); the average per patient sets the batch size, never above ``patient_batch_size``; a
    type the server does not count keeps ``patient_batch_size``. The sizes depend on the server's data only,
    not on ``concurrency``, so the snapshot is the same whatever it is.
    """
    settings = client.settings

    def fit(per_patient: float) -> int:
        return max(1, min(settings.patient_batch_size, int(settings.page_size * PAGE_FILL / per_patient)))

    sizes = {rtype: settings.patient_batch_size for rtype in STUDY_RESOURCE_TYPES}
    sizes["Patient"] = fit(1.0)
    sample = next(batches(ids, settings.patient_batch_size), [])
    counted = [rtype for rtype in STUDY_RESOURCE_TYPES if rtype != "Patient"]
    if not sample:
        return sizes
    totals = parallel(settings.concurrency, lambda rtype: count(client, rtype, sample), counted)
    stats.searches += len(counted)
    stats.pages += len(counted)
    for rtype, total in zip(counted, totals, strict=True):
        if total:
            sizes[rtype] = fit(total / len(sample))
    return sizes


def cohort_tasks(
    ids: list[str], settings: FhirSettings, since: Mapping[str, str] | None = None,
    types: tuple[str, ...] = STUDY_RESOURCE_TYPES, sizes: Mapping[str, int] | None = None,
) -> list[SearchTask]:
    """The searches for the cohort's resources, in the canonical (sequential) order.

    ``sizes``: patients per search for each type (:func:`plan_batch_sizes`); else ``patient_batch_size``.
    """
    tasks = []
    for resource_type in types:
        size = (sizes or {}).get(resource_type, settings.patient_batch_size)
        for batch in batches(ids, size):
            params = [(patient_param(resource_type), ",".join(batch)), ("_count", str(settings.page_size))]
            if since and resource_type in since:
                params.append(("_lastUpdated", f"gt{since[resource_type]}"))
            tasks.append(SearchTask(resource_type, tuple(params), frozenset(batch)))
    return tasks


def _checked(task: SearchTask, resources: Iterable[Resource], url: str) -> Iterator[Resource]:
    for resource in resources:
        if resource.get("resourceType") != task.resource_type:
            raise FhirError(
                f"a {task.resource_type} search returned a {str(resource.get('resourceType'))[:40]}", safe_url(url)
            )
        if owner(resource) not in task.patients:
            raise FhirError(
                f"the server returned {task.resource_type} resources of patients not asked for; "
                "it may ignore the patient/_id search parameter",
                safe_url(url),
            )
        yield resource


def stream_task(client: HttpClient, task: SearchTask, result: SearchResult) -> Iterator[Resource]:
    url = f"{client.settings.base_url}/{task.resource_type}"
    return _checked(task, iter_resources(client, url, dict(task.params), result=result), url)


def fetch_task(client: HttpClient, task: SearchTask) -> TaskOutcome:
    outcome = TaskOutcome()
    outcome.resources.extend(stream_task(client, task, outcome.result))
    return outcome


Sink = Callable[[Resource, str], object]


def run_tasks(
    client: HttpClient, tasks: list[SearchTask], sink: Sink, stats: SearchStats, progress: Progress,
) -> None:
    """Run the searches and feed every resource to ``sink`` in task order.

    With ``concurrency`` 1 resources stream page by page. Otherwise up to ``concurrency`` searches run at
    once, at most ``2 × concurrency`` finished-or-running searches are held, and results are handed on in
    task order, so the output equals the sequential pull's.
    """
    concurrency = client.settings.concurrency
    if concurrency <= 1 or len(tasks) <= 1:
        for task in tasks:
            result = SearchResult()
            for resource in stream_task(client, task, result):
                sink(resource, task.resource_type)
                progress.add(task.resource_type)
            progress.add(task.resource_type, 0, pages=result.pages)
            stats.note(task.resource_type, result)
        return
    window = 2 * concurrency
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="fhir-search") as pool:
        pending: list[tuple[SearchTask, Future[TaskOutcome]]] = []
        queue = iter(tasks)
        try:
            for task in queue:
                pending.append((task, pool.submit(fetch_task, client, task)))
                if len(pending) >= window:
                    _drain_one(pending, sink, stats, progress)
            while pending:
                _drain_one(pending, sink, stats, progress)
        except BaseException:
            for _, future in pending:
                future.cancel()
            raise


def _drain_one(
    pending: list[tuple[SearchTask, Future[TaskOutcome]]], sink: Sink, stats: SearchStats, progress: Progress
) -> None:
    task, future = pending.pop(0)
    outcome = future.result()
    for resource in outcome.resources:
        sink(resource, task.resource_type)
    progress.add(task.resource_type, len(outcome.resources), pages=outcome.result.pages)
    stats.note(task.resource_type, outcome.result)


def search_pull(ctx: PullContext) -> dict[str, Any]:
    """The full cohort pull by search; returns manifest details."""
    ctx.progress.set_phase("finding index procedures")
    ids = find_cohort(ctx.client, ctx.study, ctx.stats, ctx.progress)
    ctx.progress.set_phase(f"fetching resources of {len(ids)} patients")
    sizes = plan_batch_sizes(ctx.client, ids, ctx.stats)
    tasks = cohort_tasks(ids, ctx.settings, sizes=sizes)
    run_tasks(ctx.client, tasks, ctx.writer.receive, ctx.stats, ctx.progress)
    return {"patients": len(ids), "patients_per_search": sizes}
