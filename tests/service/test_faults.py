"""The fault suite of a service run: real pipeline, real SMTP server on loopback, hostile input and disks.

What the tumour board reads must never be half-made or identifying; every failure is one line, an exit
code, an alert to the admin and (where the disk allows) a history row.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader

from config.deployment import load_deployment
from extractor import demo_source
from service.cli import main
from service.history import History
from service.jobs import run_service_job, scheduled_run
from tests.service.conftest import TEST_ENV, TEST_KEY, SmtpServer, WriteDeployment
from tests.service.fakes import FakePipeline, send_request

BOARD = ["board-a@hospital.test", "board-b@hospital.test"]
ADMIN = ["admin@hospital.test"]


def demo_copy(folder: Path) -> Path:
    shutil.copytree(demo_source(), folder)
    (folder / "manifest.json").unlink()  # a plain export, not a stored snapshot
    return folder


def published_run(out: Path) -> str:
    return str(json.loads((out / "run.json").read_text())["run_id"])


def test_a_half_broken_export_is_blocked_the_board_gets_nothing_and_the_admin_is_told_where(
    write_deployment: WriteDeployment, smtp_server: SmtpServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = demo_copy(tmp_path / "export")
    config = write_deployment(smtp_server, source=str(source))
    deployment = load_deployment(config, TEST_ENV)
    assert main(["run", "--config", str(config)]) == 0, capsys.readouterr().err
    good = published_run(deployment.paths.out_dir)
    good_report = (deployment.paths.out_dir / "report.pdf").read_bytes()

    observations = source / "Observation.ndjson"
    lines = observations.read_text().splitlines()
    broken = [f"{{broken json line {n}" if n % 2 == 0 else line for n, line in enumerate(lines, start=1)]
    observations.write_text("\n".join(broken) + "\n")
    assert main(["run", "--config", str(config)]) == 8
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "blocked" in err and "max_extraction_problem_percent" in err

    assert [sorted(e.rcpt_tos) for e in smtp_server.inbox.envelopes] == [BOARD, ADMIN]
    alert = smtp_server.inbox.message(1)
    assert "blocked" in alert["Subject"]
    body = alert.get_content()
    assert f"{len(lines) // 2} of" in body and "Observation.ndjson:2 not valid JSON" in body
    assert published_run(deployment.paths.out_dir) == good
    assert (deployment.paths.out_dir / "report.pdf").read_bytes() == good_report

    (blocked,) = [r for r in History(deployment.paths.history_db).recent() if r.status == "blocked"]
    run_dir = deployment.paths.data_dir / "runs" / blocked.run_id
    quality = json.loads((run_dir / "data_quality.json").read_text())  # a blocked run keeps its quality log
    assert quality["extraction"]["by_file"]["Observation.ndjson"]["not valid JSON"] == len(lines) // 2
    assert (run_dir / "data_quality_full.json").exists()


def hostile_export(folder: Path) -> tuple[Path, list[str]]:
    """The demo cohort with distinctive names, MRNs, FHIR ids and birth dates: what must never be published."""
    demo_copy(folder)
    secrets: list[str] = []
    patients = [json.loads(line) for line in (folder / "Patient.ndjson").read_text().splitlines() if line.strip()]
    renames = {}
    for index, patient in enumerate(patients):
        new_id = f"fhirid-{index}-qzx"
        renames[patient["id"]] = new_id
        patient["name"] = [{"family": f"Qwertyfamily{index}", "given": [f"Zyxgiven{index}"]}]
        patient["identifier"][0]["value"] = f"MRN-77{index}4321"
        secrets += [new_id, f"Qwertyfamily{index}", f"Zyxgiven{index}", f"MRN-77{index}4321", patient["birthDate"]]
    for path in folder.glob("*.ndjson"):
        text = path.read_text() if path.name != "Patient.ndjson" else "\n".join(json.dumps(p) for p in patients)
        for old, new in renames.items():
            text = text.replace(f'"{old}"', f'"{new}"').replace(f"Patient/{old}\"", f"Patient/{new}\"")
        path.write_text(text + "\n")
    return folder, secrets


def board_text(out: Path) -> str:
    """Everything a reader of the board's folder can read, PDF text included."""
    parts = []
    for path in out.rglob("*"):
        if path.is_file():
            parts.append(path.read_bytes().decode("utf-8", "replace"))
            if path.suffix == ".pdf":
                parts += [page.extract_text() for page in PdfReader(path).pages]
    return "\n".join(parts)


def test_nothing_identifiable_reaches_the_boards_folder_and_the_private_folder_is_private(
    write_deployment: WriteDeployment, smtp_server: SmtpServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, secrets = hostile_export(tmp_path / "export")
    config = write_deployment(smtp_server, source=str(source))
    deployment = load_deployment(config, TEST_ENV)
    old = os.umask(0o022)
    try:
        assert main(["run", "--config", str(config), "--no-email"]) == 0, capsys.readouterr().err
    finally:
        os.umask(old)

    text = board_text(deployment.paths.out_dir)
    assert [s for s in secrets if s in text] == []
    private = "\n".join(p.read_text(errors="replace") for p in deployment.paths.data_dir.rglob("*.ndjson"))
    assert all(s in private for s in secrets[:4])  # the scan would have seen them: they are in the raw data

    data = deployment.paths.data_dir
    for path in [data, *data.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if not path.is_symlink():
            assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
    for name in ("report.pdf", "cohort.csv", "run.json", "data_quality.json"):
        assert stat.S_IMODE((deployment.paths.out_dir / name).stat().st_mode) == 0o644, name
    assert stat.S_IMODE(deployment.paths.out_dir.stat().st_mode) == 0o755
    assert not (deployment.paths.out_dir / "runs").exists()


def test_a_service_run_refuses_to_start_without_a_key_or_with_a_short_one(
    write_deployment: WriteDeployment, smtp_server: SmtpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_deployment(smtp_server)
    monkeypatch.delenv("PELVIC_PSEUDONYM_KEY")
    assert main(["run", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "PELVIC_PSEUDONYM_KEY is not set" in err and "secrets.token_hex(32)" in err
    monkeypatch.setenv("PELVIC_PSEUDONYM_KEY", "short")
    assert main(["run", "--config", str(config)]) == 2
    assert "too short" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "data").exists()
    assert smtp_server.inbox.envelopes == []


def test_a_changed_key_is_recorded_and_said_on_the_cover(
    write_deployment: WriteDeployment, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_deployment(smtp_server)
    assert main(["run", "--config", str(config), "--no-email"]) == 0
    out = load_deployment(config, TEST_ENV).paths.out_dir
    first = json.loads((out / "run.json").read_text())["pseudonym"]
    assert first == {"key_fingerprint": first["key_fingerprint"], "development_key": False, "key_changed": False}
    assert TEST_KEY not in (out / "run.json").read_text()
    monkeypatch.setenv("PELVIC_PSEUDONYM_KEY", "another-key-" + "9" * 40)
    assert main(["run", "--config", str(config), "--no-email"]) == 0, capsys.readouterr().err
    second = json.loads((out / "run.json").read_text())["pseudonym"]
    assert second["key_changed"] is True and second["key_fingerprint"] != first["key_fingerprint"]
    assert "pseudonym key" in (out / "report.html").read_text().lower()


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a tmpfs with no free byte left, holding empty data/ and out/ folders (needs root)."""
    folder = tmp_path / "full"
    folder.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(folder)], capture_output=True, check=False
    ).returncode == 0
    if not mounted:
        pytest.skip("mounting a tmpfs needs root: test_an_injected_disk_error_is_one_line_and_an_alert covers it")
    try:
        (folder / "data").mkdir()
        (folder / "out").mkdir()
        fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_private_disk_is_one_line_exit_74_and_an_alert(
    write_deployment: WriteDeployment, smtp_server: SmtpServer, full_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_deployment(smtp_server, paths={"data_dir": str(full_disk / "data")})
    assert main(["run", "--config", str(config)]) == 74
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "No space left on device" in err and "Traceback" not in err
    assert [e.rcpt_tos for e in smtp_server.inbox.envelopes] == [ADMIN]
    assert "No space left on device" in smtp_server.inbox.message(0).get_content()


def test_a_full_board_disk_at_publishing_is_a_failure_with_a_history_row(
    write_deployment: WriteDeployment, smtp_server: SmtpServer, full_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_deployment(smtp_server, paths={"out_dir": str(full_disk / "out")})
    assert main(["run", "--config", str(config)]) == 74
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "No space left on device" in err
    (run,) = History(load_deployment(config, TEST_ENV).paths.history_db).recent()
    assert run.status == "failed" and "No space left on device" in run.error
    assert [e.rcpt_tos for e in smtp_server.inbox.envelopes] == [ADMIN]


def test_an_injected_disk_error_is_one_line_and_an_alert(
    write_deployment: WriteDeployment, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import service.lock

    def no_space(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(service.lock.os, "pwrite", no_space)
    config = write_deployment(smtp_server)
    assert main(["run", "--config", str(config)]) == 74
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "No space left on device" in err
    assert [e.rcpt_tos for e in smtp_server.inbox.envelopes] == [ADMIN]
    (run,) = History(load_deployment(config, TEST_ENV).paths.history_db).recent()
    assert run.status == "failed"


def test_a_run_killed_mid_way_is_marked_interrupted_by_the_next(
    deployment_path: Path, smtp_server: SmtpServer
) -> None:
    deployment = load_deployment(deployment_path, TEST_ENV)
    History(deployment.paths.history_db).start("20261130T023000Z-abcdef", "schedule", "2026-11-30T02:30:00+00:00")
    result = run_service_job(deployment, send_request(), run=FakePipeline())
    runs = {r.run_id: r for r in History(deployment.paths.history_db).recent()}
    assert runs["20261130T023000Z-abcdef"].status == "interrupted"
    assert runs[result.run_id].status == "succeeded"


def test_the_scheduled_job_survives_any_error_and_alerts_the_admin(
    deployment_path: Path, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import service.jobs

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyError("Qwertyfamily0")  # a bug whose message holds data: never in a log line or an email

    monkeypatch.setattr(service.jobs, "run_service_job", crash)
    with caplog.at_level(logging.ERROR, "service.jobs"):
        scheduled_run(str(deployment_path))  # does not raise
    assert "scheduled run failed: internal error (KeyError)" in caplog.text and "Qwerty" not in caplog.text
    assert [e.rcpt_tos for e in smtp_server.inbox.envelopes] == [ADMIN]
    assert "Qwerty" not in smtp_server.inbox.message(0).get_content()
    log = load_deployment(deployment_path, TEST_ENV).paths.data_dir / "logs" / "errors.log"
    assert "Traceback" in log.read_text() and stat.S_IMODE(log.stat().st_mode) == 0o600


@pytest.fixture
def deployment_path(write_deployment: WriteDeployment, smtp_server: SmtpServer) -> Path:
    return write_deployment(smtp_server)


def test_a_nightly_run_on_unchanged_input_skips_analysis_and_rendering_and_sends_nothing_twice(
    deployment_path: Path, smtp_server: SmtpServer
) -> None:
    deployment = load_deployment(deployment_path, TEST_ENV)
    first = run_service_job(deployment, send_request(trigger="schedule"))
    second = run_service_job(deployment, send_request(trigger="schedule"))
    assert (first.status, second.status) == ("succeeded", "succeeded")
    manifest = json.loads((second.run_dir / "run.json").read_text())
    assert manifest["unchanged_since"] == first.run_id and "skipped" in manifest["skipped"]
    assert not (second.run_dir / "report.pdf").exists() and (second.run_dir / "worklist.csv").exists()
    assert published_run(deployment.paths.out_dir) == first.run_id
    assert second.email == f"already delivered in run {first.run_id}"
    assert len(smtp_server.inbox.envelopes) == 1
    manual = run_service_job(deployment, send_request())  # a manual refresh always runs in full
    assert (manual.run_dir / "report.pdf").exists()
