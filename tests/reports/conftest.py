"""Fixtures for the report tests: a 7-patient run folder shaped like the seed abstract.

``fixtures/`` holds one run's files: ``cohort.csv`` and ``measures.csv`` (hand-made, 7 patients as in
the abstract), ``results.json`` (the analysis package run on those tables by ``make_results.py``, results.json
schema 3.1), ``results_minimal.json``
(hand-made with only the keys of issue 6, warnings without scopes), ``data_quality.json`` (the public
summary of schema 2, as the service writes it), the run manifest ``run.json``, and ``previous/``: the run
before (one patient fewer, an event and values different; its ``data_quality.json`` is the older log with
resource ids that runs before schema 2 wrote).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from config.study import StudyDefinition, load_study
from reports import render_report

FIXTURES = Path(__file__).parent / "fixtures"
RUN_FILES = ("cohort.csv", "measures.csv", "results.json", "data_quality.json")


def make_run_dir(target: Path, results: str = "results.json") -> Path:
    """A run folder with the fixture files, as the pipeline leaves it before rendering."""
    target.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        shutil.copy(FIXTURES / (results if name == "results.json" else name), target / name)
    return target


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "run.json").read_text(encoding="utf-8"))
    return data


def pdf_pages(path: Path) -> list[str]:
    """The text of each page, whitespace collapsed to single spaces."""
    return [" ".join(page.extract_text().split()) for page in PdfReader(path).pages]


@dataclass(frozen=True)
class Word:
    """A word of the PDF where poppler's ``pdftotext -bbox`` finds it, in points from the top left."""

    text: str
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True)
class Page:
    width: float
    height: float
    words: list[Word]


WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>')


def pdf_words(path: Path) -> list[Page]:
    """Every word of every page with its box (``pdftotext -bbox``, Debian package poppler-utils)."""
    out = subprocess.run(["pdftotext", "-bbox", str(path), "-"], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    pages = []
    for chunk in out.split("<page ")[1:]:
        size = re.match(r'width="([\d.]+)" height="([\d.]+)"', chunk)
        assert size, "pdftotext -bbox gave a page without its size"
        words = [Word(m[5], float(m[1]), float(m[2]), float(m[3]), float(m[4])) for m in WORD.finditer(chunk)]
        pages.append(Page(float(size[1]), float(size[2]), words))
    return pages


@pytest.fixture(scope="session")
def study() -> StudyDefinition:
    return load_study()


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory, study: StudyDefinition) -> tuple[Path, dict[str, float]]:
    """The fixture run rendered once, against the previous run: (run folder, returned timings)."""
    run_dir = make_run_dir(tmp_path_factory.mktemp("run"))
    timings = render_report(run_dir, study=study, run=manifest(), previous=FIXTURES / "previous")
    return run_dir, timings


@pytest.fixture(scope="session")
def pages(rendered: tuple[Path, dict[str, float]]) -> list[str]:
    return pdf_pages(rendered[0] / "report.pdf")


@pytest.fixture(scope="session")
def results() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "results.json").read_text(encoding="utf-8"))
    return data
