"""The rendered report: its sections, page furniture, files and timings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pypdf import PdfReader

import reports
from config.study import StudyDefinition
from reports import render_report
from tests.reports.conftest import FIXTURES, make_run_dir, manifest, pdf_pages

SECTIONS = [
    "Key findings",
    "Patient flow and follow-up",
    "Table 1: patients",
    "VAS and KPS over time",
    "MSTS 93 and SIJ before and after",
    "Complications, events and implant outcome",
    "Survival",
    "Methods",
    "Appendix",
    "A. Data quality",
    "B. Patients, in order of surgery",
    "C. Measurements by patient and timepoint, in order of surgery",
    "D. Change log",
    "E. Analysis warnings",
    "F. Codebook of the tables",
]
FURNITURE = re.compile(r"\s*(Pelvic prosthesis outcomes Data cut-off \S+ \S+ UTC )?Run \S+ Page \d+ of \d+$")


def test_render_report_is_the_package_public_surface() -> None:
    assert reports.__all__ == ["render_report"]


def test_key_findings_open_page_2_and_every_section_follows_on_without_an_orphaned_heading(pages: list[str]) -> None:
    assert pages[1].startswith("Key findings")
    for number, page in enumerate(pages, start=1):
        body = FURNITURE.sub("", page)
        assert not any(body.endswith(heading) for heading in SECTIONS), f"page {number} ends with a heading"
    text = " ".join(pages)
    for heading in SECTIONS:
        assert heading in text, heading


def test_cover_shows_title_cutoff_host_run_version_patients_and_changes(pages: list[str],
                                                                       study: StudyDefinition) -> None:
    cover = pages[0]
    assert " ".join(study.title.split()) in cover
    assert "Data cut-off 2024-06-30 02:00 UTC" in cover
    assert "Source fhir.hospital.example:8443" in cover
    assert "/fhir/R4" not in " ".join(pages)  # host only
    assert "20240630T020004Z-4c1f7a" in cover
    assert "pelvic-outcomes 0.1.0" in cover
    assert "Patients 7" in cover
    assert "New patients 1" in cover
    assert "New events 2 (distant metastasis 1, local recurrence 1)" in cover
    assert "Changed values 2" in cover
    assert "New / removed measurements 13 / 0" in cover


def test_every_page_after_the_cover_has_running_header_and_page_number(pages: list[str]) -> None:
    total = len(pages)
    assert f"Page 1 of {total}" in pages[0]
    assert "Data cut-off" in pages[0] and "Pelvic prosthesis outcomes" not in pages[0][:40]
    for number, page in enumerate(pages[1:], start=2):
        assert "Pelvic prosthesis outcomes" in page, number
        assert "Data cut-off 2024-06-30 02:00 UTC" in page, number
        assert f"Page {number} of {total}" in page, number


def test_pages_are_a4_portrait(rendered: tuple[Path, dict[str, float]]) -> None:
    for page in PdfReader(rendered[0] / "report.pdf").pages:
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert (round(width), round(height)) == (595, 842)  # A4 in points


def test_contents_lists_the_page_of_each_section(pages: list[str]) -> None:
    match = re.search(r"Key findings\s*\.+\s*(\d+)", pages[0])
    assert match and pages[int(match.group(1)) - 1].startswith("Key findings")
    match = re.search(r"Methods\s*\.+\s*(\d+)", pages[0])
    assert match and "Methods Cohort and timepoints" in pages[int(match.group(1)) - 1]


def test_methods_name_tests_quantile_rule_windows_censoring_and_versions(pages: list[str]) -> None:
    start = next(i for i, page in enumerate(pages) if "Methods Cohort and timepoints" in page)
    methods = " ".join(pages[start:start + 3])
    for text in ("R type 7", "Friedman", "Wilcoxon signed-rank", "Bonferroni", "paired t-test", "Clopper–Pearson",
                 "Kaplan–Meier", "log-rank", "Efron", "Schoenfeld", "−90 to 0", "15 to 45", "value closest to day 30",
                 "150 to 240", "censored at last contact", "30.4375", "lifelines 0.30.3", "weasyprint 70.0"):
        assert text in methods, text


def test_survival_section_has_km_log_rank_and_cox_with_not_estimable_reasons(pages: list[str]) -> None:
    text = " ".join(pages)
    assert "Overall survival: median not reached (1 event, n = 7)" in text
    assert "Progression-free survival: median not reached (3 events, n = 7)" in text
    assert "Log-rank test by" in text and "Cox model, univariable" in text
    assert "Cox model, multivariable: not estimable – separation: no events among patients with sex male" in text
    assert "Zone IV involvement (yes vs no) 3.19 (0.29 to 35.46) [" in text  # PFS, the one estimable HR
    assert text.count("not estimable") >= 9


def test_appendix_lists_patients_by_study_id_only(pages: list[str]) -> None:
    text = " ".join(pages)
    for sid in ("PO-3F9A1C", "PO-7B20D4", "PO-A41E07", "PO-C5D812", "PO-2E6F93", "PO-91AB5E", "PO-D07C26"):
        assert sid in text
    for resource_id in ("obs-vas-0193", "cond-ho-0042", "obs-kps-0611"):  # FHIR ids from data_quality.json
        assert resource_id not in text
    assert "value outside every timepoint window 3" in text


def test_data_quality_appendix_states_what_could_not_be_used_by_stage_and_file(pages: list[str]) -> None:
    start = next(i for i, page in enumerate(pages) if "A. Data quality" in page)
    appendix = " ".join(pages[start:start + 2])
    assert "10 of 206 units read could not be used (2 at extraction, 8 at mapping)." in appendix
    assert "Observation.ndjson not UTF-8 1" in appendix and "Observation.ndjson not valid JSON 1" in appendix
    assert "Resource ids for the data steward are kept in the service's private data folder, not in this report." \
        in appendix
    assert "data_quality.json" not in " ".join(pages)
    assert "Condition verificationStatus status entered-in-error: excluded 1" in appendix
    assert "from 206 units read, 10 not usable (Appendix A)" in pages[0]


def test_change_log_appendix_names_each_change_by_study_id(pages: list[str]) -> None:
    start = next(i for i, page in enumerate(pages) if "D. Change log" in page)
    log = " ".join(pages[start:])
    assert "new patient PO-D07C26" in log
    assert "new event PO-A41E07 Local recurrence" in log
    assert "value changed PO-7B20D4 Resection margin marginal wide" in log
    assert "value changed PO-91AB5E KPS, 3 months 80 90" in log
    assert "new measurement PO-C5D812 VAS, 6 months 2" in log


def test_render_returns_timings_and_writes_both_documents(rendered: tuple[Path, dict[str, float]]) -> None:
    run_dir, timings = rendered
    assert set(timings) >= {"render_seconds", "charts_seconds", "pdf_seconds"}
    assert 0 < timings["render_seconds"] < 30
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<style>" in html and "<svg" in html
    assert "Key findings" in html
    # trajectories, paired, swimmer, OS, PFS and implant survival: inline, with the numbers-at-risk tables
    assert html.count("<svg") == 6 and html.count("At risk") == 3
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]


def test_report_html_is_self_contained(rendered: tuple[Path, dict[str, float]]) -> None:
    html = (rendered[0] / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"<(link|script|img|iframe|object)\b", html)
    assert not re.search(r"""(src|href)=["']?(https?:|file:|data:)""", html)


def test_first_run_without_previous_says_so(tmp_path: Path, study: StudyDefinition) -> None:
    run_dir = make_run_dir(tmp_path / "run", results="results_minimal.json")
    render_report(run_dir, study=study, run=manifest(), previous=None)
    text = " ".join(pdf_pages(run_dir / "report.pdf"))
    assert "First run: there is no previous successful run to compare with." in text


@pytest.mark.parametrize("location, shown", [
    ("https://user:s3cret@fhir.example.org:8443/R4?_token=abc", "fhir.example.org:8443"),
    ("/home/coordinator/exports/2024-06", "local files (2024-06)"),
])
def test_cover_shows_only_the_host_of_the_source(tmp_path: Path, study: StudyDefinition, location: str,
                                                 shown: str) -> None:
    run = manifest()
    run["source"]["location"] = location
    run_dir = make_run_dir(tmp_path / "run")
    render_report(run_dir, study=study, run=run, previous=FIXTURES / "previous")
    text = " ".join(pdf_pages(run_dir / "report.pdf"))
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert f"Source {shown}" in text
    for secret in ("s3cret", "user:", "_token", "/R4", "coordinator"):
        assert secret not in text and secret not in html
