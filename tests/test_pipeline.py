"""End to end on the bundled demo cohort: the CLI's exit codes, the files of a run, the PDF's content."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from pypdf import PdfReader

from service.cli import main

OUTPUTS = [
    "report.pdf", "report.html", "cohort.csv", "measures.csv", "codebook.csv", "results.json", "data_quality.json",
    "run.json", "export.json",
]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "out"
    assert main(["run", "--out", str(out), "--no-email"]) == 0
    return out


def test_demo_run_writes_every_output_file(demo_run: Path) -> None:
    for name in OUTPUTS:
        assert (demo_run / name).stat().st_size > 0, name
    run = json.loads((demo_run / "run.json").read_text())
    assert run["status"] == "succeeded"
    assert run["counts"]["patients"] == 7
    assert len(run["input_sha256"]) == 64
    assert (demo_run.parent / "data" / "runs" / run["run_id"] / "raw" / "manifest.json").exists()
    assert not (demo_run / "runs").exists()  # raw data never sits in the board's folder


def test_the_codebook_describes_every_column_of_the_published_tables(demo_run: Path) -> None:
    with (demo_run / "codebook.csv").open() as handle:
        codebook = list(csv.DictReader(handle))
    with (demo_run / "cohort.csv").open() as handle:
        columns = next(csv.reader(handle))
    described = [row["name"] for row in codebook if row["table"] == "cohort.csv"]
    assert described == columns
    assert all(row["label"] and row["type"] for row in codebook)


def test_demo_cohort_csv_has_one_row_per_patient_in_the_schema_order(demo_run: Path) -> None:
    with (demo_run / "cohort.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 7
    assert list(rows[0])[:4] == ["study_id", "sex", "age_at_surgery", "surgery_date"]
    assert sorted(r["sex"] for r in rows) == ["female"] * 3 + ["male"] * 4


def test_demo_report_pdf_has_pages_with_cohort_size_and_vas_medians(demo_run: Path) -> None:
    reader = PdfReader(demo_run / "report.pdf")
    assert len(reader.pages) >= 2
    text = "\n".join(page.extract_text() for page in reader.pages)
    results = json.loads((demo_run / "results.json").read_text())
    assert results["n_patients"] == 7
    assert "7" in text
    vas = results["repeated_measures"]["vas"]["timepoints"]
    # The abstract's VAS medians: 7.0 pre-op, 4.0 at 1 month, 3.0 at 3 months, 2.5 at 6 months.
    assert [vas[t]["median"] for t in ("pre", "1m", "3m", "6m")] == [7.0, 4.0, 3.0, 2.5]
    for value in ("7.0", "4.0", "3.0", "2.5"):
        assert value in text


def test_rerun_from_the_stored_raw_snapshot_gives_identical_tables(demo_run: Path, tmp_path: Path) -> None:
    run = json.loads((demo_run / "run.json").read_text())
    raw = demo_run.parent / "data" / "runs" / run["run_id"] / "raw"
    again = tmp_path / "again"
    assert main(["run", "--source", str(raw), "--out", str(again), "--no-email"]) == 0
    for name in ("cohort.csv", "measures.csv"):
        assert (again / name).read_bytes() == (demo_run / name).read_bytes(), name
    assert json.loads((again / "run.json").read_text())["input_sha256"] == run["input_sha256"]


def test_failed_run_exits_non_zero_with_one_line_reason_and_keeps_the_last_report(
    demo_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (demo_run / "report.pdf").read_bytes()
    previous_run = json.loads((demo_run / "run.json").read_text())["run_id"]
    code = main(["run", "--source", str(tmp_path / "does-not-exist"), "--out", str(demo_run), "--no-email"])
    assert code == 3  # FhirError: extraction failed
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: run ") and "failed" in err[-1] and "does not exist" in err[-1]
    assert (demo_run / "report.pdf").read_bytes() == before
    assert json.loads((demo_run / "run.json").read_text())["run_id"] == previous_run


def test_bad_study_file_is_a_config_error_naming_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = tmp_path / "study.toml"
    bundled = resources.files("config").joinpath("study.toml").read_text(encoding="utf-8")
    study.write_text(bundled.replace("[study]\n", "[study]\nbogus = 1\n", 1), encoding="utf-8")
    code = main(["run", "--study", str(study), "--out", str(tmp_path / "out"), "--no-email"])
    assert code != 0
    assert "study.bogus" in capsys.readouterr().err


def test_python_dash_m_service_is_the_same_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "service", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0
    assert "run" in done.stdout


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage" in capsys.readouterr().err


def test_a_tripped_quality_gate_blocks_the_run_before_anything_is_published(demo_run: Path, tmp_path: Path) -> None:
    from config.study import load_study
    from extractor import demo_source
    from service.keys import DEVELOPMENT_KEY, PseudonymKey
    from service.layout import Layout
    from service.request import RunPlan
    from service.run import run_pipeline
    from service.sources import files_extract

    layout = Layout.plain(tmp_path / "gated")
    seen: list[dict[str, int]] = []

    def gate(counts: dict[str, int], examples: list[str]) -> list[str]:
        seen.append(dict(counts))
        return ["the cohort shrank"]

    plan = RunPlan(study=load_study(), layout=layout, extract=files_extract(demo_source()), source_label="",
                   key=PseudonymKey(DEVELOPMENT_KEY, development=True), gate=gate)
    outcome = run_pipeline(plan)
    assert (outcome.status, outcome.exit_code) == ("blocked", 8)
    assert "data-quality gate: the cohort shrank" in outcome.error
    assert seen and seen[0]["patients"] == 7
    assert not (layout.out_dir / "report.pdf").exists() and not (layout.out_dir / "run.json").exists()
    assert json.loads((outcome.run_dir / "run.json").read_text())["status"] == "blocked"
    assert (outcome.run_dir / "data_quality.json").exists()  # a blocked run keeps its data-quality log


def test_report_rerenders_the_published_run_from_its_raw_data(demo_run: Path, tmp_path: Path) -> None:
    import shutil

    shutil.copytree(demo_run.parent, tmp_path / "copy", symlinks=True)
    out = tmp_path / "copy" / "out"
    first = json.loads((out / "run.json").read_text())
    assert main(["report", "--out", str(out)]) == 0
    second = json.loads((out / "run.json").read_text())
    assert second["run_id"] != first["run_id"]
    assert second["trigger"] == "report"
    assert second["input_sha256"] == first["input_sha256"]
    assert (out / "cohort.csv").read_bytes() == (demo_run / "cohort.csv").read_bytes()


def test_report_without_a_published_run_names_the_missing_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--out", str(tmp_path / "out")]) == 2
    assert "argument --run: no published run" in capsys.readouterr().err


def test_published_files_get_the_umask_mode_not_mkstemps_private_0600(demo_run: Path) -> None:
    import stat

    umask = os.umask(0)
    os.umask(umask)
    for name in ("report.pdf", "cohort.csv", "run.json"):
        assert stat.S_IMODE((demo_run / name).stat().st_mode) == 0o666 & ~umask, name


def test_the_analysis_reference_copy_of_the_demo_cohort_is_what_the_pipeline_maps(demo_run: Path) -> None:
    """tests/reference/demo/ (checked against R by tests/analysis) must stay the demo's real tables.

    Study ids are left out: they depend on PELVIC_PSEUDONYM_KEY, which a developer may have set.
    """
    import pandas as pd

    reference = Path(__file__).parent / "reference" / "demo"
    for name in ("cohort.csv", "measures.csv"):
        ours = pd.read_csv(demo_run / name).drop(columns="study_id")
        kept = pd.read_csv(reference / name).drop(columns="study_id")
        pd.testing.assert_frame_equal(ours, kept, obj=name)
