"""The printed report holds together (issue 12): pages are full, nothing runs past the margins, no table row is
split across two pages, study ids are never broken, and a bigger cohort adds rows, not a page per patient.

Positions come from poppler's ``pdftotext -bbox`` on the rendered PDF: what is measured is what prints.
"""

from __future__ import annotations

import html.parser
import re
from pathlib import Path

import pandas as pd
import pytest

from config.study import StudyDefinition
from reports import render_report
from tests.reports.conftest import Page, make_run_dir, manifest, pdf_words

MM = 72 / 25.4
MARGIN_LEFT = MARGIN_RIGHT = 18 * MM  # templates/report.css @page
MARGIN_TOP, MARGIN_BOTTOM = 22 * MM, 20 * MM
MIN_FILL = 1 / 3  # of the page's text area


def body_words(page: Page) -> list[str]:
    """The words between the running header and footer."""
    return [w.text for w in page.words if w.y0 >= MARGIN_TOP and w.y1 <= page.height - MARGIN_BOTTOM]


def fill(page: Page) -> float:
    """How far down the text area the lowest word of the body reaches, 0–1."""
    bottoms = [w.y1 for w in page.words if w.y0 >= MARGIN_TOP and w.y1 <= page.height - MARGIN_BOTTOM]
    area = page.height - MARGIN_BOTTOM - MARGIN_TOP
    return (max(bottoms, default=MARGIN_TOP) - MARGIN_TOP) / area


@pytest.fixture(scope="module")
def printed(rendered: tuple[Path, dict[str, float]]) -> list[Page]:
    return pdf_words(rendered[0] / "report.pdf")


def test_no_page_but_the_last_is_near_empty(printed: list[Page]) -> None:
    for number, page in enumerate(printed[:-1], start=1):
        assert fill(page) >= MIN_FILL, f"page {number} is only {fill(page):.0%} full"
        assert len(body_words(page)) >= 40, f"page {number} has {len(body_words(page))} words"


def test_no_word_runs_past_the_page_margins(printed: list[Page]) -> None:
    for number, page in enumerate(printed, start=1):
        right = page.width - MARGIN_RIGHT + 0.5  # half a point for rounding in the PDF
        outside = [w.text for w in page.words if w.x1 > right or w.x0 < MARGIN_LEFT - 0.5]
        assert not outside, f"page {number}: {outside[:5]}"


class Rows(html.parser.HTMLParser):
    """The text of every cell of every body row of report.html's tables."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self._body = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tbody":
            self._body += 1
        elif tag == "tr" and self._body:
            self.rows.append([])
        elif tag in ("td", "th") and self._body and self.rows:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._body -= 1
        elif tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_no_table_row_is_split_across_pages(rendered: tuple[Path, dict[str, float]], pages: list[str]) -> None:
    """Every body row of every table prints whole on one page: its cells' text, in the PDF's own order, is on a
    single page (a row broken across pages would have the running footer and header inside it)."""
    parser = Rows()
    parser.feed((rendered[0] / "report.html").read_text(encoding="utf-8"))
    squeezed = ["".join(page.split()) for page in pages]  # line breaks inside a cell leave no trace
    rows = ["".join("".join(row).split()) for row in parser.rows]
    rows = [row for row in rows if len(row) >= 20]
    assert len(rows) > 150
    split = [row[:60] for row in rows if not any(row in page for page in squeezed)]
    assert not split, split


def test_study_ids_are_printed_whole(rendered: tuple[Path, dict[str, float]], printed: list[Page]) -> None:
    ids = set(pd.read_csv(rendered[0] / "cohort.csv", dtype={"study_id": str})["study_id"])
    printed_ids = [w.text for page in printed for w in page.words if w.text.startswith("PO-")]
    assert set(printed_ids) >= ids
    assert not [t for t in printed_ids if t not in ids], "a study id was broken across a line"


def test_no_column_wraps_a_short_label_into_stacked_words(printed: list[Page]) -> None:
    """Group labels such as "No zone IV involvement" stay on one line (never "No / zone / IV")."""
    for page in printed:
        lines: dict[int, list[str]] = {}
        for w in page.words:
            lines.setdefault(round(w.y0), []).append(w.text)
        stacked = [" ".join(t) for t in lines.values() if t in (["No"], ["zone"], ["IV"])]
        assert not stacked, stacked


def bigger_cohort(folder: Path, copies: int) -> Path:
    """The fixture run with ``copies`` times its patients (new study ids; the same results.json)."""
    cohort = pd.read_csv(folder / "cohort.csv", dtype={"study_id": str})
    measures = pd.read_csv(folder / "measures.csv", dtype={"study_id": str})
    cohorts, values = [], []
    for k in range(copies):
        rename = {sid: f"{sid}{k:02d}" for sid in cohort["study_id"]}
        cohorts.append(cohort.assign(study_id=cohort["study_id"].map(rename)))
        values.append(measures.assign(study_id=measures["study_id"].map(rename)))
    pd.concat(cohorts).to_csv(folder / "cohort.csv", index=False)
    pd.concat(values).to_csv(folder / "measures.csv", index=False)
    return folder


def test_a_bigger_cohort_adds_compact_rows_not_a_page_per_patient(
    rendered: tuple[Path, dict[str, float]], printed: list[Page], tmp_path: Path, study: StudyDefinition
) -> None:
    run_dir = bigger_cohort(make_run_dir(tmp_path / "run"), 10)  # 70 patients
    render_report(run_dir, study=study, run=manifest(), previous=None)
    more = pdf_words(run_dir / "report.pdf")
    added = len(more) - len(printed)
    assert added <= 6, f"63 more patients added {added} pages"  # the two listings: about 25 patients a page
    swimmer = re.search(r'<svg[^>]*height="([\d.]+)pt"', (run_dir / "report.html").read_text(encoding="utf-8")
                        .split('id="flow"', 1)[1])
    assert swimmer and float(swimmer[1]) <= 8.7 * 72  # the swimmer plot stays within a page
