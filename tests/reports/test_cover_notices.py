"""The cover's notices about study ids, from the run manifest's ``pseudonym`` record (issue 11), and the
change log when the previous run folder lacks files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from config.study import StudyDefinition
from reports import render_report
from reports.context import DEVELOPMENT_KEY, KEY_CHANGED, pseudonym_notices
from tests.reports.conftest import FIXTURES, make_run_dir, manifest, pdf_pages


def cover_page(tmp_path: Path, study: StudyDefinition, run: dict[str, Any], previous: Path | None) -> str:
    run_dir = make_run_dir(tmp_path / "run")
    render_report(run_dir, study=study, run=run, previous=previous)
    return pdf_pages(run_dir / "report.pdf")[0]


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("record, expected", [
    ({}, []),
    ({"key_changed": False, "development_key": False}, []),
    ({"key_changed": True}, [KEY_CHANGED]),
    ({"development_key": True}, [DEVELOPMENT_KEY]),
    ({"key_changed": True, "development_key": True}, [KEY_CHANGED, DEVELOPMENT_KEY]),
    ({"key_changed": "yes"}, []),  # only a real true counts
])
def test_pseudonym_notices_follow_the_manifest_flags(record: dict[str, Any], expected: list[str]) -> None:
    assert pseudonym_notices({"pseudonym": record}) == expected
    assert pseudonym_notices({}) == [] and pseudonym_notices({"pseudonym": "x"}) == []


def test_cover_says_study_ids_are_not_comparable_when_the_pseudonym_key_changed(
        tmp_path: Path, study: StudyDefinition) -> None:
    run = manifest()
    run["pseudonym"] = {"key_changed": True, "development_key": False}
    cover = cover_page(tmp_path, study, run, FIXTURES / "previous")
    assert flat(KEY_CHANGED) in cover
    assert flat(DEVELOPMENT_KEY) not in cover
    assert "Not compared: the pseudonym key changed since the previous run" in cover
    assert "New patients" not in cover  # every patient would look new: no misleading counts


def test_cover_says_study_ids_were_made_with_the_development_key(tmp_path: Path, study: StudyDefinition) -> None:
    run = manifest()
    run["pseudonym"] = {"development_key": True}
    cover = cover_page(tmp_path, study, run, FIXTURES / "previous")
    assert flat(DEVELOPMENT_KEY) in cover
    assert flat(KEY_CHANGED) not in cover
    assert "New patients 1" in cover  # the change log is unaffected


def test_a_previous_run_folder_with_only_its_cohort_still_gives_a_change_log(
        tmp_path: Path, study: StudyDefinition) -> None:
    previous = tmp_path / "previous"
    previous.mkdir()
    (previous / "cohort.csv").write_bytes((FIXTURES / "previous" / "cohort.csv").read_bytes())
    cover = cover_page(tmp_path, study, manifest(), previous)
    assert "New patients 1" in cover and "Compared with run previous" in cover
    assert "The previous run's measures.csv could not be read (FileNotFoundError); measurements were not compared." \
        in cover
