"""Reports of empty and tiny cohorts (issue 11, point 9): the report renders and says what is not estimable.

Each run folder is made as the pipeline makes it: the fixture cohort cut to 0, 1 or 2 patients (or with an
empty group), ``analyse`` on the tables read back from CSV, then ``render_report``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from analysis import analyse, assess_claims, plan_from_study
from config.study import StudyDefinition
from reports import render_report
from tests.reports.conftest import FIXTURES, manifest, pdf_pages


def run_folder(target: Path, study: StudyDefinition, cohort: pd.DataFrame, measures: pd.DataFrame) -> Path:
    """cohort.csv, measures.csv, results.json and data_quality.json, as the pipeline writes them."""
    target.mkdir(parents=True)
    cohort.to_csv(target / "cohort.csv", index=False)
    measures.to_csv(target / "measures.csv", index=False)
    patients = pd.read_csv(target / "cohort.csv", dtype={"study_id": str})
    values = pd.read_csv(target / "measures.csv", dtype={"study_id": str})
    results = analyse(patients, values, plan_from_study(study)).to_dict()
    results["claims"] = [verdict.as_dict() for verdict in assess_claims(results, study.claims)]
    (target / "results.json").write_text(json.dumps(results, allow_nan=False), encoding="utf-8")
    (target / "data_quality.json").write_text((FIXTURES / "data_quality.json").read_text(encoding="utf-8"))
    return target


def fixture_tables(n: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    cohort = pd.read_csv(FIXTURES / "cohort.csv", dtype={"study_id": str})
    measures = pd.read_csv(FIXTURES / "measures.csv", dtype={"study_id": str})
    if n is not None:
        cohort = cohort.iloc[:n]
        measures = measures[measures["study_id"].isin(cohort["study_id"])]
    return cohort, measures


def rendered_text(run_dir: Path, study: StudyDefinition) -> tuple[str, str]:
    render_report(run_dir, study=study, run=manifest(), previous=FIXTURES / "previous")
    text = " ".join(pdf_pages(run_dir / "report.pdf"))
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"\b(nan|NaN|None|inf)\b", text), "a missing figure leaked as a Python value"
    return text, html


def test_an_empty_cohort_renders_a_report_that_says_nothing_is_estimable(tmp_path: Path,
                                                                       study: StudyDefinition) -> None:
    text, html = rendered_text(run_folder(tmp_path / "run", study, *fixture_tables(0)), study)
    assert "0 patients in the cohort" in text
    assert "The cohort has no patients: every figure is empty or not estimable." in text
    assert "Overall survival, median not estimable; 0 events in 0" in text
    assert "reverse Kaplan–Meier median not estimable" in text
    assert "Patients no longer in the cohort 6" in text  # the change log still compares with the previous run
    # every Kaplan–Meier chart (OS, PFS and implant survival) says so instead of a curve
    assert html.count("No patients: not estimable") == html.count('<figure class="km">') == 3
    assert "median not reached" not in text


@pytest.mark.parametrize("n", [1, 2])
def test_one_or_two_patients_render_with_small_sample_caveats(tmp_path: Path, study: StudyDefinition,
                                                             n: int) -> None:
    text, _ = rendered_text(run_folder(tmp_path / "run", study, *fixture_tables(n)), study)
    assert f"{n} patients in the cohort" in text
    assert "Cox model, multivariable: not estimable" in text
    assert f"n = {n} complete cases (fewer than 10)" in text
    assert "The cohort has no patients" not in text


def test_an_empty_zone_iv_group_renders_with_its_panel_saying_so(tmp_path: Path, study: StudyDefinition) -> None:
    cohort, measures = fixture_tables()
    text, html = rendered_text(run_folder(tmp_path / "run", study, cohort.assign(zone_iv=0), measures), study)
    assert "SIJ, with zone IV involvement, mean ± SD Pre-op — → 6 months — mm (n = 0) paired not estimable" in text
    assert "a group has no patients" in text
    assert "No patient with both values" in html  # the empty zone-IV panel of the paired chart
