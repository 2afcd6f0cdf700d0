"""The service end to end on the bundled demo cohort: the real pipeline, a real SMTP server on loopback.

These need every stage of the pipeline (mapping, analysis, report) to work.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader

from config.deployment import load_deployment
from service.cli import main
from service.history import History
from tests.service.conftest import TEST_ENV, SmtpServer, WriteDeployment

ROOT = Path(__file__).parents[2]
BOARD = ["board-a@hospital.test", "board-b@hospital.test"]


def study_ids(out: Path) -> list[str]:
    with (out / "cohort.csv").open(encoding="utf-8") as handle:
        return [row["study_id"] for row in csv.DictReader(handle)]


def test_run_emails_the_demo_report_and_a_retry_does_not_resend(
    write_deployment: WriteDeployment, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_deployment(smtp_server)
    deployment = load_deployment(config, TEST_ENV)
    assert main(["run", "--config", str(config)]) == 0, capsys.readouterr().err

    (envelope,) = smtp_server.inbox.envelopes
    assert sorted(envelope.rcpt_tos) == BOARD
    message = smtp_server.inbox.message(0)
    assert message["Subject"].endswith("(n=7)")
    (attachment,) = list(message.iter_attachments())
    payload = attachment.get_payload(decode=True)
    assert isinstance(payload, bytes) and len(PdfReader(io.BytesIO(payload)).pages) >= 2
    body_part = message.get_body(("plain",))
    assert body_part is not None
    body = body_part.get_content()
    ids = study_ids(deployment.paths.out_dir)
    assert len(ids) == 7
    assert not [sid for sid in ids if sid in body]

    assert main(["run", "--config", str(config)]) == 0
    assert "email: already delivered in run" in capsys.readouterr().out
    assert len(smtp_server.inbox.envelopes) == 1
    assert [r.status for r in History(deployment.paths.history_db).recent()] == ["succeeded", "succeeded"]


def test_report_rerenders_a_stored_run_and_dry_run_writes_the_email(
    write_deployment: WriteDeployment, smtp_server: SmtpServer
) -> None:
    config = write_deployment(smtp_server)
    deployment = load_deployment(config, TEST_ENV)
    assert main(["run", "--config", str(config), "--dry-run"]) == 0
    (first,) = History(deployment.paths.history_db).recent()
    assert (deployment.paths.data_dir / "runs" / first.run_id / "report-email.eml").exists()
    assert smtp_server.inbox.envelopes == []

    assert main(["report", "--run", first.run_id, "--config", str(config)]) == 0
    rerun = History(deployment.paths.history_db).recent()[0]
    assert (rerun.trigger, rerun.status, rerun.input_sha256) == ("report", "succeeded", first.input_sha256)
    assert smtp_server.inbox.envelopes == []


class Process:
    """``pelvic-outcomes schedule`` in a child process, its log lines collected as they come."""

    def __init__(self, config: Path) -> None:
        self.lines: list[str] = []
        self.child = subprocess.Popen(
            [sys.executable, "-m", "service", "schedule", "--config", str(config)],
            cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.reader = threading.Thread(target=self._read)
        self.reader.start()

    def _read(self) -> None:
        assert self.child.stderr is not None
        for line in self.child.stderr:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert self.child.poll() is None, "".join(self.lines)
            assert time.monotonic() < deadline, f"no {text!r} in:\n" + "".join(self.lines)
            time.sleep(0.1)

    def terminate(self) -> int:
        self.child.send_signal(signal.SIGTERM)
        code = self.child.wait(120)
        self.reader.join(10)
        assert self.child.stderr is not None
        self.child.stderr.close()
        return code


@pytest.mark.slow
def test_schedule_fires_emails_the_report_stops_cleanly_and_does_not_refire_after_a_restart(
    write_deployment: WriteDeployment, smtp_server: SmtpServer
) -> None:
    at = (datetime.now(UTC) + timedelta(seconds=4)).replace(microsecond=0)
    cron = f"{at.second} {at.minute} {at.hour} * * *"
    config = write_deployment(smtp_server, schedule={"cron": cron, "timezone": "UTC"})
    deployment = load_deployment(config, TEST_ENV)

    scheduler = Process(config)
    scheduler.wait_for("started (trigger=schedule)")
    assert scheduler.terminate() == 0  # SIGTERM during the run: the run finishes first
    log = "".join(scheduler.lines)
    assert "waiting for a run in progress to finish" in log and "scheduler stopped" in log
    (run,) = History(deployment.paths.history_db).recent()
    assert (run.trigger, run.status, run.email) == ("schedule", "succeeded", "sent"), log
    assert [sorted(e.rcpt_tos) for e in smtp_server.inbox.envelopes] == [BOARD]
    assert not list(deployment.paths.out_dir.rglob("*.tmp"))

    restarted = Process(config)
    restarted.wait_for("scheduler started")
    time.sleep(2)
    assert restarted.terminate() == 0
    assert len(History(deployment.paths.history_db).recent()) == 1
