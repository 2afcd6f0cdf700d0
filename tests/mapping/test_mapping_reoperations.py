"""Reoperations (the study's [reoperations] Procedure codes): flag, time to the first one, events table."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import LOCAL, cc

from mapping import Cohort

MONTH = 30.4375


def revision(fhir: Any, pid: str, date: str | None, **extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Procedure",
        "id": fhir._id("rev"),
        "status": "completed",
        "code": cc((LOCAL, "revision-surgery")),
        "subject": {"reference": f"Patient/{pid}"},
    }
    if date:
        resource["performedDateTime"] = date
    resource.update(extra)
    return resource


def reasons(cohort: Cohort, rid: str) -> list[str]:
    return [entry.reason for entry in cohort.quality.for_id(rid)]


def test_the_first_revision_after_surgery_sets_the_flag_and_the_months_to_it(fhir, run):
    first, second = revision(fhir, "p1", "2022-09-08"), revision(fhir, "p1", "2023-01-10")
    cohort = run([*fhir.basic(date="2022-06-10"), second, first])
    row = cohort.patients.iloc[0]
    assert row["revision"] == 1
    assert row["revision_months"] == pytest.approx(90 / MONTH)
    assert cohort.events[["event", "date", "days_from_surgery"]].values.tolist() == [["revision", "2022-09-08", 90]]


def test_without_a_revision_the_implant_is_censored_at_last_contact(fhir, run):
    resources = [*fhir.basic(date="2022-06-10"), fhir.complication("p1", "heterotopic-ossification", "2022-12-07")]
    row = run(resources).patients.iloc[0]
    assert row["revision"] == 0
    assert row["revision_months"] == pytest.approx(180 / MONTH) == row["followup_months"]


def test_a_revision_on_the_day_of_surgery_is_not_counted_and_is_logged(fhir, run):
    same_day = revision(fhir, "p1", "2022-06-10")
    cohort = run([*fhir.basic(date="2022-06-10"), same_day])
    assert cohort.patients.iloc[0]["revision"] == 0
    assert reasons(cohort, same_day["id"]) == ["date not after surgery: not counted as an event"]


def test_a_revision_without_a_date_is_rejected_and_logged(fhir, run):
    undated = revision(fhir, "p1", None)
    cohort = run([*fhir.basic(date="2022-06-10"), undated])
    assert cohort.patients.iloc[0]["revision"] == 0
    assert reasons(cohort, undated["id"]) == [
        "reoperation without a usable performed date: cannot be placed after surgery"
    ]
    assert cohort.n_unmappable == 1


def test_a_revision_is_not_a_progression_and_does_not_change_survival(fhir, run):
    cohort = run([*fhir.basic(date="2022-06-10"), revision(fhir, "p1", "2022-09-08")])
    row = cohort.patients.iloc[0]
    assert (row["pfs_event"], row["os_event"], row["local_recurrence"]) == (0, 0, 0)


def test_a_study_without_reoperations_has_no_such_columns(fhir, run, study):
    from dataclasses import replace

    plain = replace(study, reoperations={})
    cohort = run([*fhir.basic(date="2022-06-10"), revision(fhir, "p1", "2022-09-08")], study_def=plain)
    assert "revision" not in cohort.patients.columns
    assert cohort.events.empty
