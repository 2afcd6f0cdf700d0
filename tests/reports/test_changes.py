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
