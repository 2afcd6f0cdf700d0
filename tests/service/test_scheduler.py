"""The scheduler: fires on its cron trigger, survives restarts without firing twice, stops cleanly.

Jobs fire at a near-future second (a 6-field cron expression) of the real clock (APScheduler 3 reads the
system time), so a test waits for its fire time, at most two seconds ahead. Everything else is waited for as
it happens, never for a fixed time: :class:`Watch` sees the job ensured, submitted and run, and each pass of
the scheduler over its due jobs.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_SUBMITTED, JobEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING

import service.scheduler
from config.deployment import Deployment
from service.scheduler import JOB_ID, build_scheduler, ensure_job, serve

RECORD = "tests.service.fakes:record_fire"
SLOW = "tests.service.fakes:slow_fire"


def cron_at(moment: datetime) -> str:
    """A daily cron expression (seconds first) for ``moment`` in UTC."""
    return f"{moment.second} {moment.minute} {moment.hour} * * *"


def soon(seconds: float = 2.0) -> datetime:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0)


def scheduled(deployment: Deployment, tmp_path: Path, cron: str) -> Deployment:
    """The deployment with this cron (UTC); the job's argument (the config path) is the file it writes to."""
    schedule = dataclasses.replace(deployment.schedule, cron=cron, timezone="UTC")
    return dataclasses.replace(deployment, schedule=schedule, config_file=tmp_path / "fires.txt")


@contextmanager
def serving(deployment: Deployment, func: str = RECORD) -> Iterator[threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(
        target=serve, args=(deployment,), kwargs={"stop": stop, "func": func, "handle_signals": False}
    )
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive()


@dataclass
class Watch:
    """What the scheduler of :func:`serve` does, as it happens (counts over every start in a test)."""

    jobs: list[Any] = field(default_factory=list)  # per start: the job as ensure_job left it, before resuming
    submitted: int = 0  # runs handed to the executor
    runs: int = 0  # runs finished
    passes: int = 0  # passes over the due jobs while running (a paused scheduler passes without looking)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def note(self, what: str, job: Any = None) -> None:
        with self.changed:
            if what == "job":
                self.jobs.append(job)
            else:
                setattr(self, what, getattr(self, what) + 1)
            self.changed.notify_all()

    def until(self, condition: Callable[[Watch], bool], timeout: float = 15.0) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: condition(self), timeout), f"timed out: {self}"


@pytest.fixture
def watch(monkeypatch: pytest.MonkeyPatch) -> Watch:
    """Listeners on every scheduler serve() builds (added by ensure_job, before it resumes), and a count of
    its passes over the due jobs (APScheduler has no event for that: its ``_process_jobs`` is wrapped)."""
    seen = Watch()
    ensure = service.scheduler.ensure_job
    process = BackgroundScheduler._process_jobs

    def on_event(event: JobEvent) -> None:
        seen.note("submitted" if event.code == EVENT_JOB_SUBMITTED else "runs")

    def ensure_watched(scheduler: Any, *args: Any, **kwargs: Any) -> Any:
        scheduler.add_listener(on_event, EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        job = ensure(scheduler, *args, **kwargs)
        seen.note("job", job)
        return job

    def process_watched(scheduler: Any) -> float | None:
        running = scheduler.state == STATE_RUNNING
        wait = process(scheduler)
        if running:
            seen.note("passes")
        return wait

    monkeypatch.setattr(service.scheduler, "ensure_job", ensure_watched)
    monkeypatch.setattr(BackgroundScheduler, "_process_jobs", process_watched)
    return seen


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def wait_until(moment: datetime) -> None:
    """Let the real clock pass ``moment`` (the scheduler's cron trigger reads it)."""
    time.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()) + 0.01)


def stored_jobs(deployment: Deployment) -> list[tuple[str, float]]:
    if not Path(str(sqlalchemy.make_url(deployment.schedule.jobstore_url).database)).exists():
        return []
    engine = sqlalchemy.create_engine(deployment.schedule.jobstore_url)
    try:
        if not sqlalchemy.inspect(engine).has_table("apscheduler_jobs"):
            return []
        with engine.connect() as db:
            rows = db.execute(sqlalchemy.text("SELECT id, next_run_time FROM apscheduler_jobs")).all()
    finally:
        engine.dispose()
    return [(str(job_id), float(next_run)) for job_id, next_run in rows]


def test_the_job_fires_on_its_cron_trigger_and_a_restart_does_not_fire_it_again(
    deployment: Deployment, tmp_path: Path, watch: Watch
) -> None:
    at = soon()
    setup = scheduled(deployment, tmp_path, cron_at(at))
    fires = setup.config_file
    with serving(setup):
        watch.until(lambda w: w.runs == 1)
    assert len(lines(fires)) == 1
    fired = datetime.fromisoformat(lines(fires)[0])
    assert at <= fired < at + timedelta(seconds=2)
    tomorrow = at + timedelta(days=1)

    passes = watch.passes
    with serving(setup):  # restarted after the fire time: the stored job's next run is tomorrow
        watch.until(lambda w: w.passes > passes)  # it has looked for due jobs since it resumed
    assert watch.jobs[-1].next_run_time == tomorrow
    assert (watch.submitted, watch.runs) == (1, 1)  # shutdown waits for a run in progress: none was started
    assert len(lines(fires)) == 1
    ((job_id, next_run),) = stored_jobs(setup)
    assert job_id == JOB_ID
    assert next_run == tomorrow.timestamp()


def test_a_run_missed_while_the_scheduler_was_down_runs_once_on_restart(
    deployment: Deployment, tmp_path: Path, watch: Watch
) -> None:
    at = soon(2.0)
    setup = scheduled(deployment, tmp_path, cron_at(at))
    with serving(setup):
        watch.until(lambda w: w.passes == 1)  # stored, and looked at: not due yet
    assert stored_jobs(setup) == [(JOB_ID, at.timestamp())]
    assert lines(setup.config_file) == [] and watch.submitted == 0
    wait_until(at + timedelta(seconds=1))  # the fire time passes while the scheduler is down

    with serving(setup):  # within misfire_grace_seconds (600): the missed run happens, once
        watch.until(lambda w: w.runs == 1)
    assert watch.jobs[-1].next_run_time == at  # restarted with the missed run still due
    assert watch.submitted == 1
    assert len(lines(setup.config_file)) == 1
    fired = datetime.fromisoformat(lines(setup.config_file)[0])
    assert fired > at + timedelta(seconds=1)
    assert stored_jobs(setup) == [(JOB_ID, (at + timedelta(days=1)).timestamp())]  # the next is tomorrow's


def test_a_changed_schedule_replaces_the_stored_job_with_the_service_defaults(
    deployment: Deployment, tmp_path: Path, watch: Watch
) -> None:
    with serving(scheduled(deployment, tmp_path, "0 3 * * *")):
        watch.until(lambda w: len(w.jobs) == 1)
    assert [job_id for job_id, _ in stored_jobs(deployment)] == [JOB_ID]
    changed = scheduled(deployment, tmp_path, "0 4 * * *")
    scheduler = build_scheduler(changed.schedule)
    scheduler.start(paused=True)
    try:
        job = ensure_job(scheduler, changed.schedule, str(changed.config_file), RECORD)
        assert (job.next_run_time.hour, job.next_run_time.minute) == (4, 0)
        assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, 600)
        assert [j.id for j in scheduler.get_jobs()] == [JOB_ID]
    finally:
        scheduler.shutdown()


def test_stopping_waits_for_the_run_in_progress_to_finish(
    deployment: Deployment, tmp_path: Path, watch: Watch
) -> None:
    setup = scheduled(deployment, tmp_path, cron_at(soon()))
    with serving(setup, SLOW) as stop:
        watch.until(lambda w: w.submitted == 1)  # handed to the executor: the run takes 1.5 s
        assert watch.runs == 0
        stop.set()
    assert watch.runs == 1
    assert lines(setup.config_file) == ["start", "end"]
