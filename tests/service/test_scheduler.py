"""The scheduler: fires on its cron trigger, survives restarts without firing twice, stops cleanly.

Jobs fire at a near-future second (a 6-field cron expression), so each test waits a few seconds at most.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy

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


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


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
    deployment: Deployment, tmp_path: Path
) -> None:
    at = soon()
    setup = scheduled(deployment, tmp_path, cron_at(at))
    fires = setup.config_file
    with serving(setup):
        wait_for(lambda: len(lines(fires)) == 1)
    fired = datetime.fromisoformat(lines(fires)[0])
    assert at <= fired < at + timedelta(seconds=2)

    with serving(setup):  # restarted after the fire time: the stored job's next run is tomorrow
        time.sleep(2.0)
    assert len(lines(fires)) == 1
    ((job_id, next_run),) = stored_jobs(setup)
    assert job_id == JOB_ID
    assert next_run == (at + timedelta(days=1)).timestamp()


def test_a_run_missed_while_the_scheduler_was_down_runs_once_on_restart(
    deployment: Deployment, tmp_path: Path
) -> None:
    at = soon(2.0)
    setup = scheduled(deployment, tmp_path, cron_at(at))
    with serving(setup):
        wait_for(lambda: bool(stored_jobs(setup)))
    assert lines(setup.config_file) == []
    wait_for(lambda: datetime.now(UTC) > at + timedelta(seconds=1))

    with serving(setup):  # within misfire_grace_seconds (600): the missed run happens, once
        wait_for(lambda: len(lines(setup.config_file)) == 1)
        time.sleep(1.0)
    assert len(lines(setup.config_file)) == 1


def test_a_changed_schedule_replaces_the_stored_job_with_the_service_defaults(
    deployment: Deployment, tmp_path: Path
) -> None:
    with serving(scheduled(deployment, tmp_path, "0 3 * * *")):
        wait_for(lambda: bool(stored_jobs(deployment)))
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


def test_stopping_waits_for_the_run_in_progress_to_finish(deployment: Deployment, tmp_path: Path) -> None:
    setup = scheduled(deployment, tmp_path, cron_at(soon()))
    with serving(setup, SLOW) as stop:
        wait_for(lambda: lines(setup.config_file) == ["start"])
        stop.set()
    assert lines(setup.config_file) == ["start", "end"]
