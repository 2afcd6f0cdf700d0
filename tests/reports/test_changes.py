"""The change log against the previous successful run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from config.errors import ReportError
from config.study import StudyDefinition
from reports.changes import ChangeLog, compare_runs, require_unique_ids
from tests.reports.conftest import FIXTURES

PREVIOUS = FIXTURES / "previous"


def _tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    return (pd.read_csv(FIXTURES / "cohort.csv", dtype={"study_id": str}),
            pd.read_csv(FIXTURES / "measures.csv", dtype={"study_id": str}))


def _flags(study: StudyDefinition) -> tuple[str, ...]:
    return (*study.flag_columns, "death")


def test_change_log_finds_new_patients_events_values_and_measures(study: StudyDefinition) -> None:
    cohort, measures = _tables()
    log = compare_runs(cohort, measures, PREVIOUS, _flags(study))
    assert log.compared and log.previous_run_id == "20240629T020003Z-9e2b41"
    assert log.previous_cutoff == "2024-06-29T02:00:06+00:00"
    assert log.new_patients == ["PO-D07C26"] and log.removed_patients == []
    assert sorted(log.new_events) == [("PO-A41E07", "local_recurrence", False),
                                      ("PO-D07C26", "distant_metastasis", True)]
    assert log.events_by_flag == {"local_recurrence": 1, "distant_metastasis": 1}
    assert log.retracted_events == []
    assert {(c.study_id, c.what, c.timepoint, c.before, c.after) for c in log.changed_values} == {
        ("PO-7B20D4", "resection_margin", "", "marginal", "wide"),
        ("PO-91AB5E", "kps", "3m", "80", "90"),
    }
    assert len(log.new_measures) == 13 and log.removed_measures == []
    assert ("PO-C5D812", "vas", "6m") in {(c.study_id, c.what, c.timepoint) for c in log.new_measures}
    assert log.followup_updated == 6  # every continuing patient was seen again: not a "changed value"


def test_a_flag_going_from_one_to_zero_is_a_retracted_event(study: StudyDefinition) -> None:
    cohort, measures = _tables()
    cohort.loc[cohort["study_id"] == "PO-3F9A1C", "heterotopic_ossification"] = 0
    log = compare_runs(cohort, measures, PREVIOUS, _flags(study))
    assert log.retracted_events == [("PO-3F9A1C", "heterotopic_ossification")]


def test_identical_runs_have_no_changes(tmp_path: Path, study: StudyDefinition) -> None:
    cohort, measures = _tables()
    cohort.to_csv(tmp_path / "cohort.csv", index=False)
    measures.to_csv(tmp_path / "measures.csv", index=False)
    log = compare_runs(cohort, measures, tmp_path, _flags(study))
    assert log.compared and not log.any and log.followup_updated == 0
    assert log.previous_run_id == tmp_path.name  # no run.json: the folder name stands in


def test_first_run_and_unreadable_previous_run_say_why_there_is_no_comparison(tmp_path: Path,
                                                                               study: StudyDefinition) -> None:
    cohort, measures = _tables()
    first = compare_runs(cohort, measures, None, _flags(study))
    assert not first.compared and first.note.startswith("First run")
    broken = compare_runs(cohort, measures, tmp_path, _flags(study))
    assert not broken.compared and "could not be read" in broken.note and not broken.any


def test_duplicated_study_ids_are_refused() -> None:
    cohort, _ = _tables()
    with pytest.raises(ReportError, match="repeats 1 study id"):
        require_unique_ids(pd.concat([cohort, cohort.iloc[[0]]]))


def test_empty_change_log_has_nothing_to_report() -> None:
    assert not ChangeLog().any


def test_previous_run_without_measures_compares_patients_and_events_but_not_measurements(
        tmp_path: Path, study: StudyDefinition) -> None:
    cohort, measures = _tables()
    (tmp_path / "cohort.csv").write_bytes((PREVIOUS / "cohort.csv").read_bytes())
    log = compare_runs(cohort, measures, tmp_path, _flags(study))
    assert log.compared and log.new_patients == ["PO-D07C26"]
    assert ("PO-A41E07", "local_recurrence", False) in log.new_events
    assert log.new_measures == [] and log.removed_measures == []
    assert log.note == ("The previous run's measures.csv could not be read (FileNotFoundError); "
                        "measurements were not compared.")


@pytest.mark.parametrize("content", ["", "name,age\nx,1\n", "\xff\xfe not text"])
def test_an_empty_or_foreign_previous_cohort_gives_no_comparison_and_says_why(
        tmp_path: Path, study: StudyDefinition, content: str) -> None:
    cohort, measures = _tables()
    (tmp_path / "cohort.csv").write_bytes(content.encode("latin-1"))
    (tmp_path / "measures.csv").write_bytes((PREVIOUS / "measures.csv").read_bytes())
    log = compare_runs(cohort, measures, tmp_path, _flags(study))
    assert not log.compared and not log.any and log.note.startswith("The previous run's tables could not be read")


def test_a_previous_folder_that_is_gone_or_a_file_gives_no_comparison(tmp_path: Path, study: StudyDefinition) -> None:
    cohort, measures = _tables()
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    for previous in (tmp_path / "gone", tmp_path / "afile"):
        log = compare_runs(cohort, measures, previous, _flags(study))
        assert not log.compared and "could not be read" in log.note
        assert log.previous_run_id == previous.name


def test_a_malformed_previous_manifest_still_names_the_folder(tmp_path: Path, study: StudyDefinition) -> None:
    cohort, measures = _tables()
    for name in ("cohort.csv", "measures.csv"):
        (tmp_path / name).write_bytes((PREVIOUS / name).read_bytes())
    (tmp_path / "run.json").write_text('{"run_id": null, "source": "https://fhir.example.org"}', encoding="utf-8")
    log = compare_runs(cohort, measures, tmp_path, _flags(study))
    assert log.compared and log.previous_run_id == tmp_path.name and log.previous_cutoff == ""


def test_a_changed_pseudonym_key_compares_nothing_and_says_why(study: StudyDefinition) -> None:
    cohort, measures = _tables()
    log = compare_runs(cohort, measures, PREVIOUS, _flags(study), ids_comparable=False)
    assert not log.compared and not log.any and log.previous_run_id == "20240629T020003Z-9e2b41"
    assert log.note.startswith("Not compared: the pseudonym key changed since the previous run")
