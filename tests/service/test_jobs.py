"""One service run end to end with a stand-in pipeline and a real SMTP server on loopback."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from pathlib import Path

import pytest

from config.deployment import Deployment, load_deployment
from config.errors import RunLockedError
from service.history import History
from service.jobs import run_service_job, scheduled_run
from service.lock import run_lock
from service.request import EmailMode, RunPlan
from service.run import RunOutcome
from tests.service.conftest import TEST_ENV, SmtpServer, WriteDeployment, free_port
from tests.service.fakes import FakePipeline, send_request

BOARD = ["board-a@hospital.test", "board-b@hospital.test"]
ADMIN = ["admin@hospital.test"]


def published(deployment: Deployment) -> str:
    return str(json.loads((deployment.paths.out_dir / "run.json").read_text())["run_id"])


def test_a_sound_run_emails_the_board_and_is_recorded(deployment: Deployment, smtp_server: SmtpServer) -> None:
    result = run_service_job(deployment, send_request(), run=FakePipeline())

    assert (result.status, result.email, result.exit_code) == ("succeeded", "sent", 0)
    assert [sorted(e.rcpt_tos) for e in smtp_server.inbox.envelopes] == [BOARD]
    assert published(deployment) == result.run_id
    (run,) = History(deployment.paths.history_db).recent()
    assert (run.run_id, run.trigger, run.status, run.email) == (result.run_id, "manual", "succeeded", "sent")
    assert run.counts == {"resources": 100, "unmappable": 0, "patients": 3, "measures": 10}
    assert run.input_sha256 == "a" * 64
    assert run.recipients == tuple(BOARD)
    assert run.report_path == str(result.run_dir / "report.pdf")


def test_a_failed_run_alerts_the_admin_only_and_keeps_the_last_report(
    deployment: Deployment, smtp_server: SmtpServer
) -> None:
    good = run_service_job(deployment, send_request(), run=FakePipeline())
    failed = run_service_job(deployment, send_request(), run=FakePipeline(error="FHIR server unreachable"))

    assert (failed.status, failed.email, failed.exit_code) == ("failed", "alerted admin", 3)  # FhirError's code
    assert [e.rcpt_tos for e in smtp_server.inbox.envelopes][1:] == [ADMIN]
    alert = smtp_server.inbox.message(1)
    assert failed.run_id in alert["Subject"]
    assert "Reason: FHIR server unreachable" in alert.get_content()
    assert published(deployment) == good.run_id
    run = History(deployment.paths.history_db).get(failed.run_id)
    assert run is not None and (run.status, run.error, run.recipients) == ("failed", "FHIR server unreachable", ())


def test_a_quality_gate_blocks_sending_and_keeps_the_previous_report(
    deployment: Deployment, smtp_server: SmtpServer
) -> None:
    good = run_service_job(deployment, send_request(), run=FakePipeline(patients=10))
    blocked = run_service_job(deployment, send_request(), run=FakePipeline(patients=5, input_sha256="b" * 64))

    assert blocked.status == "blocked"
    assert "shrank from 10 to 5 patients" in blocked.error
    assert [e.rcpt_tos for e in smtp_server.inbox.envelopes] == [BOARD, ADMIN]
    assert "quality_gates.max_cohort_shrink" in smtp_server.inbox.message(1).get_content()
    out = deployment.paths.out_dir
    assert published(deployment) == good.run_id
    assert (out / "report.html").read_text() == f"report.html of {good.run_id}\n"
    assert json.loads((blocked.run_dir / "run.json").read_text())["status"] == "blocked"
    last = History(deployment.paths.history_db).last_succeeded()
    assert last is not None and last.run_id == good.run_id


def test_a_blocked_first_run_leaves_no_report_behind(deployment: Deployment, smtp_server: SmtpServer) -> None:
    result = run_service_job(deployment, send_request(), run=FakePipeline(unmappable=50))
    assert result.status == "blocked" and "50.0% of resources are unmappable" in result.error
    assert not (deployment.paths.out_dir / "report.pdf").exists()
    assert not (deployment.paths.out_dir / "run.json").exists()


def test_a_retried_run_does_not_send_the_same_report_twice(deployment: Deployment, smtp_server: SmtpServer) -> None:
    first = run_service_job(deployment, send_request(), run=FakePipeline())
    retried = run_service_job(deployment, send_request(trigger="schedule"), run=FakePipeline())

    assert retried.email == f"already delivered in run {first.run_id}"
    assert len(smtp_server.inbox.envelopes) == 1
    record = History(deployment.paths.history_db).get(retried.run_id)
    assert record is not None and record.recipients == ()

    run_service_job(deployment, send_request(resend=True), run=FakePipeline())
    wider = dataclasses.replace(deployment.email, recipients=(*BOARD, "statistician@hospital.test"))
    run_service_job(dataclasses.replace(deployment, email=wider), send_request(), run=FakePipeline())
    changed = run_service_job(deployment, send_request(), run=FakePipeline(input_sha256="c" * 64))
    assert changed.email == "sent"
    assert len(smtp_server.inbox.envelopes) == 4


def test_dry_run_writes_the_email_into_the_run_folder_and_sends_nothing(
    deployment: Deployment, smtp_server: SmtpServer
) -> None:
    result = run_service_job(deployment, send_request(email=EmailMode.DRY_RUN), run=FakePipeline())
    eml = result.run_dir / "report-email.eml"
    assert result.email == f"dry-run: {eml}"
    assert "Content-Type: application/pdf" in eml.read_text()
    failed = run_service_job(deployment, send_request(email=EmailMode.DRY_RUN), run=FakePipeline(error="boom"))
    assert "Reason: boom" in (failed.run_dir / "alert-email.eml").read_text()
    assert smtp_server.inbox.envelopes == []
    assert run_service_job(deployment, send_request(), run=FakePipeline()).email == "sent"  # a dry run delivers nothing


def test_no_email_sends_nothing_even_for_a_failure(deployment: Deployment, smtp_server: SmtpServer) -> None:
    assert run_service_job(deployment, send_request(email=EmailMode.OFF), run=FakePipeline()).email == "off"
    assert run_service_job(deployment, send_request(email=EmailMode.OFF), run=FakePipeline(error="x")).email == "off"
    assert smtp_server.inbox.envelopes == []


def test_an_undeliverable_report_is_recorded_and_exits_with_the_delivery_code(
    write_deployment: WriteDeployment,
) -> None:
    deployment = load_deployment(write_deployment(smtp={"port": free_port(), "retries": 0}), TEST_ENV)
    result = run_service_job(deployment, send_request(), run=FakePipeline())
    assert (result.status, result.email, result.exit_code) == ("succeeded", "failed", 7)
    assert "ConnectionRefusedError" in result.error
    assert History(deployment.paths.history_db).delivered_in("a" * 64, BOARD) is None


def test_the_pipeline_gets_the_deployments_paths_source_and_trigger(
    deployment: Deployment, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    fake = FakePipeline()
    run_service_job(deployment, send_request(trigger="schedule", source=tmp_path / "exports"), run=fake)
    (plan,) = fake.calls
    assert (plan.layout.out_dir, plan.layout.data_dir) == (deployment.paths.out_dir, deployment.paths.data_dir)
    assert plan.trigger == "schedule" and plan.source_label == ""
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "Patient.ndjson").write_text('{"resourceType": "Patient", "id": "p1"}\n')
    snapshot = plan.extract(tmp_path / "raw")
    assert snapshot.manifest.source == str(tmp_path / "exports") and snapshot.manifest.counts == {"Patient": 1}


def test_overlapping_runs_are_refused_while_one_holds_the_lock(
    deployment: Deployment, smtp_server: SmtpServer
) -> None:
    inside, finish = threading.Event(), threading.Event()
    fake = FakePipeline()

    def slow_run(plan: RunPlan) -> RunOutcome:
        inside.set()
        finish.wait(10)
        return fake(plan)

    first = threading.Thread(target=run_service_job, args=(deployment, send_request(trigger="schedule")),
                             kwargs={"run": slow_run})
    first.start()
    try:
        assert inside.wait(10)
        with pytest.raises(RunLockedError, match="schedule run started"):
            run_service_job(deployment, send_request(), run=FakePipeline())
    finally:
        finish.set()
        first.join(10)
    assert [r.trigger for r in History(deployment.paths.history_db).recent()] == ["schedule"]


def test_the_scheduled_job_logs_and_skips_when_a_manual_run_holds_the_lock(
    write_deployment: WriteDeployment, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_deployment(smtp_server)
    deployment = load_deployment(path, TEST_ENV)
    with run_lock(deployment.paths.lock_file, "manual"), caplog.at_level(logging.WARNING, "service.jobs"):
        scheduled_run(str(path))
    assert "scheduled run skipped: another run is in progress" in caplog.text
    assert not deployment.paths.history_db.exists() or History(deployment.paths.history_db).recent() == []
