"""A render that fails raises ReportError and leaves the report already in the run folder untouched."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import weasyprint

import reports.render
from config.errors import ReportError
from config.study import StudyDefinition
from reports import render_report
from tests.reports.conftest import make_run_dir, manifest

OLD_PDF = b"%PDF-1.7 the report of last night"
OLD_HTML = "<!DOCTYPE html><p>last night</p>"


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    folder = make_run_dir(tmp_path / "run")
    (folder / "report.pdf").write_bytes(OLD_PDF)
    (folder / "report.html").write_text(OLD_HTML, encoding="utf-8")
    return folder


def _untouched(folder: Path) -> None:
    assert (folder / "report.pdf").read_bytes() == OLD_PDF
    assert (folder / "report.html").read_text(encoding="utf-8") == OLD_HTML
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_unreadable_results_raise_report_error_and_keep_the_old_report(run_dir: Path, study: StudyDefinition) -> None:
    (run_dir / "results.json").write_text("{ not json", encoding="utf-8")
    with pytest.raises(ReportError, match=r"results\.json"):
        render_report(run_dir, study=study, run=manifest(), previous=None)
    _untouched(run_dir)


def test_missing_input_raises_report_error(run_dir: Path, study: StudyDefinition) -> None:
    (run_dir / "measures.csv").unlink()
    with pytest.raises(ReportError, match=r"measures\.csv"):
        render_report(run_dir, study=study, run=manifest(), previous=None)
    _untouched(run_dir)


def test_weasyprint_failure_becomes_report_error(run_dir: Path, study: StudyDefinition,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Any, *args: Any, **kwargs: Any) -> bytes:
        raise AssertionError("layout went wrong")

    monkeypatch.setattr(weasyprint.HTML, "write_pdf", broken)
    with pytest.raises(ReportError, match="rendering the report failed: AssertionError: layout went wrong") as info:
        render_report(run_dir, study=study, run=manifest(), previous=None)
    assert isinstance(info.value.__cause__, AssertionError)
    _untouched(run_dir)


def test_template_error_becomes_report_error(run_dir: Path, study: StudyDefinition,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reports.render, "build_context", lambda *args: {})
    with pytest.raises(ReportError, match="report template error"):
        render_report(run_dir, study=study, run=manifest(), previous=None)
    _untouched(run_dir)


def test_failure_while_writing_the_pdf_keeps_the_old_pdf(run_dir: Path, study: StudyDefinition,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    real_replace = os.replace

    def failing_replace(src: str, dst: Path) -> None:
        if Path(dst).name == "report.pdf":
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(ReportError, match="No space left on device"):
        render_report(run_dir, study=study, run=manifest(), previous=None)
    assert (run_dir / "report.pdf").read_bytes() == OLD_PDF
    assert not [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")]
