"""The service's commands: help on every command, exit codes and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from config.deployment import Deployment
from service.cli import COMMANDS, main
from service.jobs import run_service_job
from tests.service.conftest import SmtpServer, WriteDeployment
from tests.service.fakes import FakePipeline, send_request
from tests.service.test_lock import HOLDER

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help_with_an_example(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([name, "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert f"usage: pelvic-outcomes {name}" in text
    assert "Example" in text and f"pelvic-outcomes {name}" in text.split("Example", 1)[1]


def test_a_config_error_exits_2_naming_the_field(
    write_deployment: WriteDeployment, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_deployment(schedule={"timezone": "Europe/Nowhere"})
    assert main(["run", "--config", str(path)]) == 2
    assert "config field 'schedule.timezone'" in capsys.readouterr().err


def test_dry_run_needs_a_deployment(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--dry-run"]) == 2
    assert "argument --dry-run: needs --config" in capsys.readouterr().err


def test_history_lists_recent_runs_as_a_table_or_json(
    deployment: Deployment, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(deployment.config_file)
    result = run_service_job(deployment, send_request(trigger="schedule"), run=FakePipeline())
    assert main(["history", "--config", config]) == 0
    fields = capsys.readouterr().out.splitlines()[1].split()
    assert (fields[0], fields[1], fields[3], fields[5]) == (result.run_id, "schedule", "succeeded", "sent")
    assert main(["history", "--config", config, "--json", "--limit", "1"]) == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert run["run_id"] == result.run_id and run["email"] == "sent"


def test_report_of_an_unknown_run_names_the_option(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--run", "20260101T000000Z-000000", "--config", str(deployment.config_file)]) == 2
    assert "argument --run: run 20260101T000000Z-000000 is not in the history" in capsys.readouterr().err


@pytest.mark.parametrize("run_id", ["../../../evilrun", "/etc", "", "..", "20260101T000000Z-000000/../x", "runs"])
def test_report_accepts_only_run_ids_never_paths(
    run_id: str, deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evil = tmp_path / "evilrun" / "raw"
    evil.mkdir(parents=True)
    (evil / "manifest.json").write_text("{}")
    for config in (["--config", str(deployment.config_file)], ["--out", str(tmp_path / "out")]):
        assert main(["report", "--run", run_id, *config]) == 2
        assert f"argument --run: {run_id!r} is not a run id" in capsys.readouterr().err
    assert not (deployment.paths.out_dir / "report.pdf").exists()
    assert not (tmp_path / "out" / "report.pdf").exists()


def test_a_manual_run_during_another_run_exits_75_saying_who_holds_the_lock(deployment: Deployment) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(deployment.paths.lock_file)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        manual = subprocess.run(
            [sys.executable, "-m", "service", "run", "--config", str(deployment.config_file)],
            capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
        )
    finally:
        holder.communicate("\n", timeout=10)
    assert manual.returncode == 75
    assert f"error: another run is in progress: pid {holder.pid} (schedule run started" in manual.stderr
