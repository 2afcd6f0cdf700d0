"""``pelvic-outcomes schedule``: a long-running process that runs the service on a cron schedule.

APScheduler 3 with a SQLAlchemy job store (SQLite by default, any SQLAlchemy URL), one worker thread,
``coalesce`` (runs missed while down collapse into one), ``max_instances=1`` and a misfire grace time.
The job is stored by reference (``service.jobs:scheduled_run`` with the config path), so a restart finds
it with its next fire time: a run that already happened is not repeated, a run missed while the process
was down (within the grace time) happens once. Changing the cron expression replaces the stored job.

The scheduler runs in the background and the main thread waits for SIGTERM/SIGINT. On the first signal
it stops taking new runs and waits for the current one to finish; a second signal aborts at once (files
are written atomically and the run lock dies with the process, so nothing is left half-written).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import make_url

from config.deployment import Deployment, ScheduleSettings, cron_trigger
from service.private import private_files, secure_data_dir

log = logging.getLogger(__name__)

JOB_ID = "pelvic-outcomes-run"
JOB_FUNC = "service.jobs:scheduled_run"


def build_scheduler(schedule: ScheduleSettings) -> Any:
    """A background scheduler with the persistent job store and the job defaults of the service."""
    url = make_url(schedule.jobstore_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    return BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=schedule.jobstore_url)},
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": schedule.misfire_grace_seconds},
        timezone=ZoneInfo(schedule.timezone),
    )


def ensure_job(scheduler: Any, schedule: ScheduleSettings, config_path: str, func: str = JOB_FUNC) -> Any:
    """Keep the stored job (and its next fire time) if it is unchanged; otherwise (re)place it."""
    trigger = cron_trigger(schedule.cron, schedule.timezone)
    options = {"coalesce": True, "max_instances": 1, "misfire_grace_time": schedule.misfire_grace_seconds}
    job = scheduler.get_job(JOB_ID)
    if job is not None and (job.func_ref, tuple(job.args), repr(job.trigger)) == (func, (config_path,), repr(trigger)):
        scheduler.modify_job(JOB_ID, **options)
        return scheduler.get_job(JOB_ID)
    if job is not None:
        log.info("the schedule changed: replacing the stored job (%s)", job.trigger)
    return scheduler.add_job(
        func, trigger, args=[config_path], id=JOB_ID, name="pelvic-outcomes run", replace_existing=True, **options
    )


def _log_missed(event: JobExecutionEvent) -> None:
    log.warning("a scheduled run due at %s was missed (later than the misfire grace time)", event.scheduled_run_time)


def serve(
    deployment: Deployment,
    *,
    stop: threading.Event | None = None,
    func: str = JOB_FUNC,
    handle_signals: bool = True,
) -> None:
    """Run the schedule until ``stop`` is set (by SIGTERM/SIGINT when ``handle_signals``)."""
    from service.jobs import preflight

    preflight(deployment)  # no key, no service: refuse to start rather than fail every night
    with private_files():
        secure_data_dir(deployment.paths.data_dir)
        _serve(deployment, stop or threading.Event(), func, handle_signals)


def _serve(deployment: Deployment, stop: threading.Event, func: str, handle_signals: bool) -> None:
    if handle_signals:
        _install_signal_handlers(stop)
    scheduler = build_scheduler(deployment.schedule)
    scheduler.add_listener(_log_missed, EVENT_JOB_MISSED)
    scheduler.start(paused=True)  # nothing fires before the stored job has been checked
    try:
        job = ensure_job(scheduler, deployment.schedule, str(deployment.config_file), func)
        scheduler.resume()
        log.info(
            "scheduler started: %r (%s), next run at %s",
            deployment.schedule.cron, deployment.schedule.timezone, job.next_run_time,
        )
        while not stop.wait(1.0):
            pass
        log.info("stopping: waiting for a run in progress to finish (signal again to abort it)")
    finally:
        scheduler.shutdown(wait=True)
    log.info("scheduler stopped")


def _install_signal_handlers(stop: threading.Event) -> None:
    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            log.warning("second %s: aborting the run in progress", signal.Signals(signum).name)
            os._exit(128 + signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
