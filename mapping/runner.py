"""Running the extractor over a stream of jobs: in this process, or in worker processes for large pulls.

Validation with fhir.resources costs 40-90 µs per resource in pure Python. With free CPUs, forked workers
validate while this process reads, filters and assembles (~1.6x on two free cores); on a busy machine they
only add the cost of pickling (~25 % more CPU), so by default (``workers=None``) a pool is started only for
a phase of more than ``PARALLEL_THRESHOLD`` jobs and only with at least two free CPUs (:mod:`mapping.cpus`),
one worker per free CPU. Results come back in input order, and at most a few batches are in flight, so
memory stays bounded however large the pull.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import islice

from config.errors import MappingError
from config.study import StudyDefinition
from mapping.cpus import FreeCpus, cpu_count
from mapping.extract import Extractor, Job, init_worker, work
from mapping.facts import Extracted

PARALLEL_THRESHOLD = 4000
BATCH = 256


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


class Runner:
    """Maps jobs to results; ``workers=0`` runs in-process, ``None`` decides from the machine and the volume."""

    def __init__(self, study: StudyDefinition, *, workers: int | None = None, validate: bool = True) -> None:
        self.extractor = Extractor(study, validate)
        self.study = study
        self.validate = validate
        self.auto = workers is None
        self.workers = (cpu_count() if can_fork() and cpu_count() > 1 else 0) if workers is None else workers
        self._pool: ProcessPoolExecutor | None = None

    def run(self, jobs: Iterable[Job]) -> Iterator[Extracted]:
        iterator = iter(jobs)
        head: list[Job] = []
        pool = self._pool
        if pool is None and self.workers > 0:
            pool, head = self._maybe_start(iterator)
        if pool is None:
            yield from map(self.extractor, _chain(head, iterator))
            return
        try:
            yield from self._parallel(pool, _chain(head, iterator))
        except BrokenProcessPool as exc:
            raise MappingError("a validation worker process died (out of memory?); retry with fewer workers") from exc

    def _maybe_start(self, iterator: Iterator[Job]) -> tuple[ProcessPoolExecutor | None, list[Job]]:
        """Start the pool now? Explicit workers: yes. Auto: for a large phase with two or more free CPUs."""
        if not self.auto:
            return self._start(), []
        free = FreeCpus()
        head = list(islice(iterator, PARALLEL_THRESHOLD))
        if len(head) < PARALLEL_THRESHOLD:
            return None, head
        count = free.count()
        if count < 2:
            return None, head
        self.workers = count
        return self._start(), head

    def _parallel(self, pool: ProcessPoolExecutor, jobs: Iterator[Job]) -> Iterator[Extracted]:
        pending: deque[Future[list[Extracted]]] = deque()
        while True:
            batch = list(islice(jobs, BATCH))
            if batch:
                pending.append(pool.submit(work, batch))
            while pending and (len(pending) > 2 * self.workers or not batch):
                yield from pending.popleft().result()
            if not batch:
                return

    def _start(self) -> ProcessPoolExecutor | None:
        """The worker pool, started on first use; ``None`` (in-process) if processes cannot be started."""
        if self._pool is None:
            try:
                self._pool = ProcessPoolExecutor(
                    max_workers=self.workers,
                    mp_context=multiprocessing.get_context("fork"),
                    initializer=init_worker,
                    initargs=(self.study, self.validate),
                )
            except (OSError, ValueError):
                self.workers = 0
                return None
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _chain(head: list[Job], rest: Iterator[Job]) -> Iterator[Job]:
    yield from head
    yield from rest
