"""One service run: lock → pipeline → quality gates → email (or alert the admin) → run history.

:func:`run_service_job` is what ``pelvic-outcomes run --config``, ``report --run`` and the scheduler
call; :func:`scheduled_run` is the scheduler's job function (importable by reference, so the job store
can persist it). The pipeline itself is injected (``run=``), and so are the mailer and the clock.

Every failure ends as a :class:`JobResult` with an exit code, an alert to the admin (built in memory, so
a full disk does not stop it) and, where the disk allows, a history row. A run killed mid-way is marked
``interrupted`` by the next run.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from config.deployment import Deployment, load_deployment
from config.errors import DeliveryError, PelvicOutcomesError, QualityGateError, RunLockedError, StorageError
from config.study import QualityGates, StudyDefinition, load_study
from service import errorlog, followup
from service.gates import gate_problems
from service.history import History, RunRecord
from service.keys import PseudonymKey, resolve_key
from service.layout import Layout, new_run_id
from service.lock import run_lock
from service.mailer import (
    Mailer,
    ReportFacts,
    build_alert_message,
    build_report_message,
    build_worklist_message,
    describe,
    write_eml,
)
from service.private import move_legacy_runs, private_files, secure_data_dir
from service.request import Clock, EmailMode, Gate, RunPlan, RunRequest, utc_now
from service.run import RunOutcome, run_pipeline
from service.sources import source_parts

log = logging.getLogger(__name__)

RunFunction = Callable[[RunPlan], RunOutcome]


class Sender(Protocol):
    def send(self, message: Any) -> dict[str, tuple[int, bytes]]: ...


@dataclass
class JobResult:
    run_id: str
    status: str  # succeeded | failed | blocked
    email: str  # what happened to the email, as recorded in the history
    error: str = ""
    run_dir: Path = field(default_factory=Path)
    failure_code: int = 1  # the exit code of a failed run (by the error's class)

    @property
    def exit_code(self) -> int:
        if self.status == "blocked":
            return QualityGateError.exit_code
        if self.status != "succeeded":
            return self.failure_code
        return DeliveryError.exit_code if self.email == "failed" else 0


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def run_service_job(
    deployment: Deployment,
    request: RunRequest,
    *,
    run: RunFunction = run_pipeline,
    mailer: Sender | None = None,
    clock: Clock = utc_now,
) -> JobResult:
    """One run under the run lock; raises :class:`RunLockedError` if another run holds it, and
    :class:`ConfigError` (before anything is written) when the study file or the pseudonym key is wrong."""
    layout = Layout.from_settings(deployment.paths)
    study, key = preflight(deployment)
    notifier = _Notifier(deployment, request, mailer or Mailer(deployment.smtp), clock, study)
    started = clock()
    plan = RunPlan(study=study, layout=layout, extract=_unset, source_label="", key=key, trigger=request.trigger,
                   clock=clock, run_id=new_run_id(started))
    with private_files():
        try:
            return _locked(deployment, request, plan, notifier=notifier, run=run, started=started)
        except RunLockedError:
            raise
        except (OSError, StorageError) as exc:
            error = exc if isinstance(exc, StorageError) else StorageError("use", layout.data_dir, exc)
            return _storage_failure(plan, request, error, notifier=notifier, started=started)


def preflight(deployment: Deployment) -> tuple[StudyDefinition, PseudonymKey]:
    """What a service run needs before it may start: sound folders, the study file, the pseudonym key."""
    Layout.from_settings(deployment.paths).check()
    study = load_study(deployment.study_file)
    return study, resolve_key(study.pseudonym_key_env, deployment.env, required=True)


def _unset(folder: Path) -> Any:
    raise AssertionError("the extraction is chosen under the run lock")


def _locked(
    deployment: Deployment, request: RunRequest, plan: RunPlan, *, notifier: _Notifier, run: RunFunction,
    started: datetime,
) -> JobResult:
    """Under the run lock: the plan completed (source, gate), the run, the email, the history row."""
    layout, clock, run_id = plan.layout, plan.clock, plan.run_id
    secure_data_dir(layout.data_dir)
    moved = move_legacy_runs(layout.out_dir, layout.runs_dir)
    if moved:
        log.warning("moved %d run folder(s) with raw data out of the board's folder into %s", len(moved),
                    layout.runs_dir)
    with run_lock(layout.lock_file, request.trigger, clock):
        history = History(layout.history_db)
        for stale in history.mark_interrupted(_stamp(clock())):
            log.warning("run %s was interrupted (killed or stopped before it finished)", stale)
        history.start(run_id, request.trigger, _stamp(started))
        sources = source_parts(request, plan.study, layout, fhir=deployment.fhir,
                               configured_source=deployment.source, configured_sites=deployment.sites)
        gate = _gate(plan.study.quality_gates, history) if request.check_gates else None
        plan = dataclasses.replace(plan, **sources, gate=gate, followup=deployment.followup,
                                   on_site_failure=deployment.on_site_failure, site=deployment.site,
                                   skip_unchanged=request.trigger == "schedule")
        log.info("run %s started (trigger=%s)", run_id, request.trigger)
        outcome = run(plan)
        result = JobResult(outcome.run_id, outcome.status, "off", outcome.error, outcome.run_dir, outcome.exit_code)
        recipients = notifier.notify(outcome, result, history)
        history.record(_record(outcome, result, request.trigger, started=_stamp(started), finished=_stamp(clock()),
                               recipients=recipients))
    log.info("run %s %s; email: %s%s", result.run_id, result.status, result.email,
             f"; {result.error}" if result.error else "")
    return result


def _storage_failure(
    plan: RunPlan, request: RunRequest, error: StorageError, *, notifier: _Notifier, started: datetime
) -> JobResult:
    """The disk is full or a folder is not writable: alert (the message lives in memory), record if possible."""
    layout, run_id, clock = plan.layout, plan.run_id, plan.clock
    result = JobResult(run_id, "failed", "off", str(error), layout.run_dir(run_id), error.exit_code)
    if request.email is not EmailMode.OFF:
        result.email = notifier.alert(run_id, "failed", str(error), None)
    try:
        history = History(layout.history_db)
        history.record(RunRecord(run_id, request.trigger, _stamp(started), _stamp(clock()), "failed",
                                 email=result.email, error=result.error))
    except (OSError, StorageError) as exc:
        log.error("could not record run %s in the history: %s", run_id, exc)
    log.error("run %s failed: %s; email: %s", run_id, result.error, result.email)
    return result


def _gate(gates: QualityGates, history: History) -> Gate:
    """The data-quality gates against the last successful run; the pipeline checks them before publishing."""
    last = history.last_succeeded()
    previous_patients = last.counts.get("patients") if last else None

    def check(counts: Mapping[str, int], examples: list[str]) -> list[str]:
        return gate_problems(counts, gates, previous_patients, examples)

    return check


def _record(
    outcome: RunOutcome, result: JobResult, trigger: str, *, started: str, finished: str, recipients: tuple[str, ...]
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
    request: RunRequest
    mailer: Sender
    clock: Clock
    study: StudyDefinition | None

    def notify(self, outcome: RunOutcome, result: JobResult, history: History) -> tuple[str, ...]:
        """Email the report or alert the admin; sets ``result.email``; returns who received the report."""
        if self.request.email is EmailMode.OFF:
            result.email = "off"
            return ()
        if result.status == "succeeded":
            delivered = self._report(outcome, result, history)
            self._worklist(outcome)
            return delivered
        result.email = self.alert(outcome.run_id, result.status, result.error, outcome.run_dir)
        return ()

    def _worklist(self, outcome: RunOutcome) -> None:
        """The coordinator's worklist, when the deployment names a coordinator. Never the board's email."""
        if not self.deployment.email.coordinator:
            return
        states = Counter(item.state for item in outcome.worklist)
        counts = ", ".join(f"{states.get(s, 0)} {s}" for s in ("overdue", "due", "upcoming", "not applicable", "done"))
        message = build_worklist_message(self.deployment.email, self._facts(outcome), followup.table(outcome.worklist),
                                         counts)
        if self.request.email is EmailMode.DRY_RUN:
            write_eml(message, outcome.run_dir / "worklist-email.eml")
            return
        try:
            self.mailer.send(message)
        except DeliveryError as exc:
            log.error("could not send the follow-up worklist of run %s: %s", outcome.run_id, describe(exc))

    def _report(self, outcome: RunOutcome, result: JobResult, history: History) -> tuple[str, ...]:
        recipients = self.deployment.email.recipients
        key = str(outcome.manifest.get("input_sha256") or outcome.run_id)
        earlier = None if self.request.resend else history.delivered_in(key, recipients)
        if earlier:
            result.email = f"already delivered in run {earlier}"
            return ()
        pdf = outcome.run_dir / "report.pdf"
        if "unchanged_since" in outcome.manifest:  # the same report as that run's: send that one
            pdf = outcome.run_dir.parent / str(outcome.manifest["unchanged_since"]) / "report.pdf"
        message = build_report_message(self.deployment.email, self._facts(outcome), outcome.results, pdf)
        if self.request.email is EmailMode.DRY_RUN:
            result.email = f"dry-run: {write_eml(message, outcome.run_dir / 'report-email.eml')}"
            return ()
        try:
            refused = self.mailer.send(message)
        except DeliveryError as exc:
            result.email, result.error = "failed", str(exc)
            self.alert(outcome.run_id, "failed", f"the report was not delivered: {exc}", outcome.run_dir)
            return ()
        history.mark_delivered(key, recipients, outcome.run_id, _stamp(self.clock()))
        result.email = "sent"
        if refused:
            result.error = "some recipients were refused: " + ", ".join(refused)
        return tuple(r for r in recipients if r not in refused)

    def alert(self, run_id: str, status: str, reason: str, run_dir: Path | None) -> str:
        message = build_alert_message(self.deployment.email, run_id, reason, status)
        if self.request.email is EmailMode.DRY_RUN:
            if run_dir is None:
                return "dry-run alert not written"
            try:
                return f"dry-run alert: {write_eml(message, run_dir / 'alert-email.eml')}"
            except OSError:
                return "dry-run alert not written"
        try:
            self.mailer.send(message)
        except DeliveryError as exc:
            log.error("could not alert the admin about run %s: %s", run_id, describe(exc))
            return "alert failed"
        return "alerted admin"

    def _facts(self, outcome: RunOutcome) -> ReportFacts:
        extracted = str(outcome.manifest.get("source", {}).get("extracted_at") or "")
        cutoff = extracted[:10] if len(extracted) >= 10 else self.clock().date().isoformat()
        title = self.study.short_title if self.study else "pelvic-outcomes"
        return ReportFacts(title, outcome.run_id, cutoff, self.study)


def scheduled_run(config_path: str) -> None:
    """The scheduler's job: load the deployment file afresh and run once (trigger ``schedule``).

    It never raises: the scheduler must stay alive whatever one run does. Errors are logged in one line
    (tracebacks of internal errors go to the private error log) and the admin is alerted where possible.
    """
    deployment = None
    try:
        deployment = load_deployment(config_path)
        run_service_job(deployment, RunRequest(trigger="schedule", email=EmailMode.SEND, progress=False))
    except RunLockedError as exc:
        log.warning("scheduled run skipped: %s", exc)
    except PelvicOutcomesError as exc:
        log.error("scheduled run failed: %s", exc)
        _alert_outside_a_run(deployment, str(exc))
    except Exception as exc:
        where = errorlog.record(deployment.paths.data_dir / "logs" / "errors.log", exc, "scheduled run") \
            if deployment else None
        line = errorlog.summary(exc, where)
        log.error("scheduled run failed: %s", line)
        _alert_outside_a_run(deployment, line)


def _alert_outside_a_run(deployment: Deployment | None, reason: str) -> None:
    """An alert for a failure before a run could start (a wrong study file, no key)."""
    if deployment is None:
        return
    notifier = _Notifier(deployment, RunRequest(email=EmailMode.SEND), Mailer(deployment.smtp), utc_now, None)
    notifier.alert("(not started)", "failed", reason, None)
