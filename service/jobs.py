"""One service run: lock → pipeline → quality gates → email (or alert the admin) → run history.

:func:`run_service_job` is what ``pelvic-outcomes run --config``, ``report --run`` and the scheduler
call; :func:`scheduled_run` is the scheduler's job function (importable by reference, so the job store
can persist it). The pipeline itself is injected (``run=``), and so is the mailer.
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from config.deployment import Deployment, load_deployment
from config.errors import DeliveryError, PelvicOutcomesError, RunLockedError
from config.study import QualityGates, StudyDefinition, load_study
from service.gates import gate_problems
from service.history import History, RunRecord
from service.lock import run_lock
from service.mailer import Mailer, ReportFacts, build_alert_message, build_report_message, describe, write_eml
from service.pipeline import Gate, RunOptions, RunOutcome, run_pipeline
from service.sources import run_options

log = logging.getLogger(__name__)

RunFunction = Callable[[RunOptions], RunOutcome]
Clock = Callable[[], datetime]


class Sender(Protocol):
    def send(self, message: Any) -> dict[str, tuple[int, bytes]]: ...


class EmailMode(enum.Enum):
    SEND = "send"
    DRY_RUN = "dry-run"  # write the messages as .eml into the run folder
    OFF = "off"


@dataclass(frozen=True)
class JobRequest:
    trigger: str = "manual"  # schedule | manual | report
    email: EmailMode = EmailMode.SEND
    resend: bool = False  # send even if this report already went to these recipients
    source: Path | None = None  # files or a stored raw/ folder instead of the configured source
    fhir_url: str | None = None  # another FHIR server with the configured settings
    check_gates: bool = True


@dataclass
class JobResult:
    run_id: str
    status: str  # succeeded | failed | blocked
    email: str  # what happened to the email, as recorded in the history
    error: str = ""
    run_dir: Path = field(default_factory=Path)

    @property
    def exit_code(self) -> int:
        if self.status != "succeeded":
            return 1
        return DeliveryError.exit_code if self.email == "failed" else 0


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def run_service_job(
    deployment: Deployment,
    request: JobRequest,
    *,
    run: RunFunction = run_pipeline,
    mailer: Sender | None = None,
    clock: Clock = _now,
) -> JobResult:
    """One run under the run lock; raises :class:`RunLockedError` if another run holds it."""
    with run_lock(deployment.paths.lock_file, request.trigger, clock):
        history = History(deployment.paths.history_db)
        started = clock()
        study = load_study(deployment.study_file)
        options = run_options(deployment, request)
        if request.check_gates:
            options.gate = _gate(study.quality_gates, history)
        log.info("run started (trigger=%s)", request.trigger)
        outcome = run(options)
        result = JobResult(outcome.run_id, outcome.status, "off", outcome.error, outcome.run_dir)
        notice = _Notifier(deployment, request, history, mailer or Mailer(deployment.smtp), clock, study)
        recipients = notice.notify(outcome, result)
        history.record(
            _record(
                outcome, result, trigger=request.trigger, started=_stamp(started), finished=_stamp(clock()),
                recipients=recipients,
            )
        )
    log.info("run %s %s; email: %s%s", result.run_id, result.status, result.email,
             f"; {result.error}" if result.error else "")
    return result


def _gate(gates: QualityGates, history: History) -> Gate:
    """The data-quality gates against the last successful run; the pipeline checks them before publishing."""
    last = history.last_succeeded()
    previous_patients = last.counts.get("patients") if last else None

    def check(counts: Mapping[str, int]) -> list[str]:
        return gate_problems(counts, gates, previous_patients)

    return check


def _record(
    outcome: RunOutcome, result: JobResult, *, trigger: str, started: str, finished: str, recipients: tuple[str, ...]
) -> RunRecord:
    report = outcome.run_dir / "report.pdf"
    return RunRecord(
        run_id=result.run_id,
        trigger=trigger,
        started_at=started,
        finished_at=finished,
        status=result.status,
        counts=dict(outcome.manifest.get("counts", {})),
        input_sha256=str(outcome.manifest.get("input_sha256", "")),
        report_path=str(report) if outcome.ok and report.exists() else "",
        recipients=recipients,
        email=result.email,
        error=result.error,
    )


@dataclass
class _Notifier:
    deployment: Deployment
    request: JobRequest
    history: History
    mailer: Sender
    clock: Clock
    study: StudyDefinition

    def notify(self, outcome: RunOutcome, result: JobResult) -> tuple[str, ...]:
        """Email the report or alert the admin; sets ``result.email``; returns who received the report."""
        if self.request.email is EmailMode.OFF:
            result.email = "off"
            return ()
        if result.status == "succeeded":
            return self._report(self.study, outcome, result)
        result.email = self._alert(outcome, result.error)
        return ()

    def _report(self, study: StudyDefinition, outcome: RunOutcome, result: JobResult) -> tuple[str, ...]:
        recipients = self.deployment.email.recipients
        key = str(outcome.manifest.get("input_sha256") or outcome.run_id)
        earlier = None if self.request.resend else self.history.delivered_in(key, recipients)
        if earlier:
            result.email = f"already delivered in run {earlier}"
            return ()
        message = build_report_message(
            self.deployment.email, _facts(study, outcome), _results(outcome), outcome.run_dir / "report.pdf"
        )
        if self.request.email is EmailMode.DRY_RUN:
            result.email = f"dry-run: {write_eml(message, outcome.run_dir / 'report-email.eml')}"
            return ()
        try:
            refused = self.mailer.send(message)
        except DeliveryError as exc:
            result.email, result.error = "failed", str(exc)
            self._alert(outcome, f"the report was not delivered: {exc}")
            return ()
        self.history.mark_delivered(key, recipients, outcome.run_id, _stamp(self.clock()))
        result.email = "sent"
        if refused:
            result.error = "some recipients were refused: " + ", ".join(refused)
        return tuple(r for r in recipients if r not in refused)

    def _alert(self, outcome: RunOutcome, reason: str) -> str:
        message = build_alert_message(self.deployment.email, outcome.run_id, reason)
        if self.request.email is EmailMode.DRY_RUN:
            return f"dry-run alert: {write_eml(message, outcome.run_dir / 'alert-email.eml')}"
        try:
            self.mailer.send(message)
        except DeliveryError as exc:
            log.error("could not alert the admin about run %s: %s", outcome.run_id, describe(exc))
            return "alert failed"
        return "alerted admin"


def _results(outcome: RunOutcome) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((outcome.run_dir / "results.json").read_text(encoding="utf-8"))
    return data


def _facts(study: StudyDefinition, outcome: RunOutcome) -> ReportFacts:
    extracted = str(outcome.manifest.get("source", {}).get("extracted_at") or "")
    cutoff = extracted[:10] if len(extracted) >= 10 else _now().date().isoformat()
    return ReportFacts(study.short_title, outcome.run_id, cutoff, study.analysis.msts_timepoints)


def scheduled_run(config_path: str) -> None:
    """The scheduler's job: load the deployment file afresh and run once (trigger ``schedule``)."""
    try:
        deployment = load_deployment(config_path)
        run_service_job(deployment, JobRequest(trigger="schedule"))
    except RunLockedError as exc:
        log.warning("scheduled run skipped: %s", exc)
    except PelvicOutcomesError as exc:
        log.error("scheduled run failed: %s", exc)
