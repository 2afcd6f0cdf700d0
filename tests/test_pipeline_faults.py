"""Plain runs on hostile input: bad input degrades (logged, skipped), never crashes; every error is one line."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from extractor import demo_source
from service.cli import main


def demo_copy(folder: Path) -> Path:
    """The demo cohort, with its manifest (so its data cut-off, 2024-06-05, stays)."""
    shutil.copytree(demo_source(), folder)
    return folder


def run(source: Path, out: Path) -> int:
    return main(["run", "--source", str(source), "--out", str(out), "--no-email"])


def quality(out: Path) -> dict:
    return json.loads((out / "data_quality.json").read_text())


def cohort(out: Path) -> list[dict[str, str]]:
    with (out / "cohort.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_a_non_utf8_byte_loses_one_line_not_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = demo_copy(tmp_path / "export")
    patients = (source / "Patient.ndjson").read_bytes().splitlines()
    patients[0] = patients[0].replace(b'"One"', b'"On\xe9"')  # Latin-1, not UTF-8
    (source / "Patient.ndjson").write_bytes(b"\n".join(patients) + b"\n")
    assert run(source, tmp_path / "out") == 0, capsys.readouterr().err
    assert quality(tmp_path / "out")["extraction"]["by_file"]["Patient.ndjson"] == {"not UTF-8": 1}
    assert len(cohort(tmp_path / "out")) == 6


def test_a_resource_of_an_unused_type_is_counted_not_dropped_silently(tmp_path: Path) -> None:
    source = demo_copy(tmp_path / "export")
    with (source / "Observation.ndjson").open("a") as handle:
        handle.write(json.dumps({"resourceType": "Medication", "id": "m1"}) + "\n")
    assert run(source, tmp_path / "out") == 0
    by_file = quality(tmp_path / "out")["extraction"]["by_file"]["Observation.ndjson"]
    assert sum(by_file.values()) == 1 and "Medication" in next(iter(by_file))
    assert quality(tmp_path / "out")["unusable"] >= 1


def test_impossible_dates_are_logged_and_not_used(tmp_path: Path) -> None:
    source = demo_copy(tmp_path / "export")
    patients = [json.loads(line) for line in (source / "Patient.ndjson").read_text().splitlines()]
    patients[0]["birthDate"] = "2040-01-01"  # born after surgery
    (source / "Patient.ndjson").write_text("\n".join(json.dumps(p) for p in patients) + "\n")
    procedures = [json.loads(line) for line in (source / "Procedure.ndjson").read_text().splitlines()]
    for procedure in procedures:
        if procedure["subject"]["reference"] == "Patient/demo-p2" and "performedDateTime" in procedure:
            procedure["performedDateTime"] = "2030-01-01"  # after the data cut-off (2024-06-05)
    (source / "Procedure.ndjson").write_text("\n".join(json.dumps(p) for p in procedures) + "\n")

    assert run(source, tmp_path / "out") == 0
    rows = cohort(tmp_path / "out")
    assert len(rows) == 6  # the surgery after the data cut-off is not in the cohort
    ages = [row["age_at_surgery"] for row in rows]
    assert "" in ages and all(a == "" or 0 <= int(a) <= 110 for a in ages)
    reasons = " ".join(quality(tmp_path / "out")["mapping"]["counts"]).lower()
    assert "birth" in reasons and "cut-off" in reasons


def test_a_source_with_no_patient_in_the_cohort_is_one_line_and_exit_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "unrelated"
    source.mkdir()
    (source / "notes.json").write_text('{"hello": "world"}')
    (source / "Patient.ndjson").write_text('{"resourceType": "Patient", "id": "x1", "gender": "female"}\n')
    assert run(source, tmp_path / "out") == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert "no patient with an index procedure in" in err[-1] and "2 resources read" in err[-1]
    assert "Traceback" not in "\n".join(err)
    assert not (tmp_path / "out" / "report.pdf").exists()


def test_out_naming_a_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "a-file"
    target.write_text("x")
    assert main(["run", "--out", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: argument --out: {target} is a file, not a folder (give a folder for the report)"]


def test_an_unknown_option_shows_the_commands_own_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "--bogus"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "usage: pelvic-outcomes run" in err and "unrecognized arguments: --bogus" in err


def test_an_internal_error_is_one_line_pointing_at_the_private_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import service.run

    def broken(*args: object) -> None:
        raise KeyError("Qwertyfamily")  # its message could be patient data

    monkeypatch.setattr(service.run, "analysis_plan", broken)
    assert main(["run", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Qwerty" not in err
    assert "internal error (KeyError)" in err and "--debug" in err
    log = tmp_path / "data" / "logs" / "errors.log"
    assert "KeyError: 'Qwertyfamily'" in log.read_text()

    monkeypatch.setattr("service.cli._run_plain", broken)
    assert main(["--debug", "run", "--out", str(tmp_path / "out")]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_a_plain_run_says_it_uses_the_development_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PELVIC_PSEUDONYM_KEY", raising=False)
    assert main(["run", "--out", str(tmp_path / "out")]) == 0
    assert "PELVIC_PSEUDONYM_KEY is not set: study ids use the development key" in capsys.readouterr().err
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["pseudonym"]["development_key"] is True
    assert "development" in (tmp_path / "out" / "report.html").read_text().lower()


@pytest.mark.parametrize(
    ("target", "error", "code"),
    [
        ("service.run.analysis_plan", "AnalysisError", 5),
        ("reports.render_report", "ReportError", 6),
        ("mapping.map_cohort", "MappingError", 4),
    ],
)
def test_each_failing_stage_exits_with_its_documented_code(
    target: str, error: str, code: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import config.errors

    def fail(*args: object, **kwargs: object) -> None:
        raise getattr(config.errors, error)(f"{error} injected")

    monkeypatch.setattr(target, fail)
    assert main(["run", "--out", str(tmp_path / "out")]) == code
    assert f"{error} injected" in capsys.readouterr().err
    assert not (tmp_path / "out" / "report.pdf").exists()
