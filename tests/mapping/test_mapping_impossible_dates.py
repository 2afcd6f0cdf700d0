"""Impossible dates (issue 11, point 6): birth after surgery, implausible ages, dates after the data cut-off,
before birth or after death are set aside with a data-quality entry (docs/mapping.md, *Impossible dates*)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from conftest import KEY, LOINC, SOURCE

from mapping import Cohort, dates, pseudonym

CUTOFF = date(2023, 1, 31)
HEART_RATE = {"value": 70, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}


def reasons(cohort: Cohort, rid: str) -> list[str]:
    return [entry.reason for entry in cohort.quality.for_id(rid)]


def row(cohort: Cohort) -> pd.Series:
    assert len(cohort.patients) == 1
    return cohort.patients.iloc[0]


@pytest.fixture
def study_id(study) -> str:  # type: ignore[no-untyped-def]
    return pseudonym(study, SOURCE, "p1", KEY)


def test_a_birth_date_after_surgery_leaves_the_age_unknown_and_is_logged(fhir, run, study_id):
    cohort = run([fhir.patient("p1", birth="2040-03-15"), fhir.index("p1", "2022-06-10"), fhir.primary()])
    assert pd.isna(row(cohort)["age_at_surgery"])  # not -19
    assert reasons(cohort, study_id) == ["birth date after surgery: age unknown"]


def test_an_age_above_110_is_unknown_and_110_itself_is_kept(fhir, run, study_id):
    old = run([fhir.patient("p1", birth="1900-01-01"), fhir.index("p1", "2022-06-10"), fhir.primary()])
    assert pd.isna(row(old)["age_at_surgery"])
    assert reasons(old, study_id) == ["age at surgery above 110 years: age unknown"]
    oldest = run([fhir.patient("p1", birth="1912-01-01"), fhir.index("p1", "2022-06-10"), fhir.primary()])
    assert row(oldest)["age_at_surgery"] == 110 and reasons(oldest, study_id) == []


def test_surgery_after_the_cutoff_leaves_the_patient_out_of_the_cohort(fhir, run, study_id):
    resources = [*fhir.basic("p1", date="2023-03-01"), fhir.vas("p1", "2023-02-20", 7)]
    cohort = run(resources, cutoff=CUTOFF)
    assert cohort.patients.empty and cohort.measures.empty and cohort.events.empty
    assert reasons(cohort, study_id) == ["surgery after the data cut-off: patient not in the cohort"]
    assert reasons(cohort, resources[1]["id"]) == ["index procedure dated after the data cut-off: not used"]
    assert len(run(resources).patients) == 1  # no cut-off given: no cut-off rule, as before


def test_an_index_procedure_after_the_cutoff_does_not_count_beside_an_earlier_one(fhir, run):
    later = fhir.index("p1", "2023-03-01", kind="screw-connected")
    cohort = run([*fhir.basic("p1", date="2022-06-10"), later], cutoff=CUTOFF)
    assert row(cohort)["surgery_date"] == "2022-06-10" and row(cohort)["reconstruction"] == "standard"
    assert reasons(cohort, later["id"]) == ["index procedure dated after the data cut-off: not used"]
    assert row(cohort)["followup_months"] == 0  # the later procedure is no last contact either


def test_values_after_the_cutoff_are_not_used_and_do_not_extend_follow_up(fhir, run):
    before = fhir.vas("p1", "2022-12-01", 4)  # day 91: 3 months
    after = fhir.vas("p1", "2023-02-28", 2)  # day 180: 6 months, after the cut-off
    resources = [*fhir.basic("p1", date="2022-09-01"), before, after]
    cohort = run(resources, cutoff=CUTOFF)
    assert cohort.measures["timepoint"].tolist() == ["3m"]
    assert reasons(cohort, after["id"]) == ["dated after the data cut-off: not used"]
    assert row(cohort)["followup_months"] == pytest.approx(91 / 30.4375)
    assert run(resources).measures["timepoint"].tolist() == ["3m", "6m"]  # without a cut-off, as before


def test_conditions_and_events_after_the_cutoff_are_not_counted(fhir, run):
    complication = fhir.complication("p1", "dislocation", "2023-02-02")
    metastasis = fhir.complication("p1", "distant-metastasis", "2023-03-01")
    counted = fhir.complication("p1", "heterotopic-ossification", "2023-01-31")  # on the cut-off day: counts
    cohort = run([*fhir.basic("p1", date="2022-06-10"), complication, metastasis, counted], cutoff=CUTOFF)
    assert (row(cohort)["dislocation"], row(cohort)["distant_metastasis"], row(cohort)["pfs_event"]) == (0, 0, 0)
    assert row(cohort)["heterotopic_ossification"] == 1
    for resource in (complication, metastasis):
        assert reasons(cohort, resource["id"]) == ["dated after the data cut-off: not counted as an event"]
    assert cohort.events["event"].tolist() == ["heterotopic_ossification"]


def test_a_relapse_recorded_after_the_cutoff_is_not_counted(fhir, run):
    tumour = fhir.primary("p1", onset="2022-03-01")
    tumour["clinicalStatus"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                            "code": "relapse"}]}
    tumour["recordedDate"] = "2023-03-01"
    cohort = run([fhir.patient("p1"), fhir.index("p1", "2022-06-10"), tumour], cutoff=CUTOFF)
    assert row(cohort)["local_recurrence"] == 0
    assert "dated after the data cut-off: not counted as an event" in reasons(cohort, tumour["id"])


def test_a_death_after_the_cutoff_is_not_a_death_within_follow_up(fhir, run, study_id):
    resources = [*fhir.basic("p1", date="2022-06-10"), fhir.vas("p1", "2022-12-07", 3)]
    resources[0]["deceasedDateTime"] = "2023-05-01"
    cohort = run(resources, cutoff=CUTOFF)
    assert (row(cohort)["death"], row(cohort)["os_event"], row(cohort)["pfs_event"]) == (0, 0, 0)
    assert row(cohort)["followup_months"] == pytest.approx(180 / 30.4375)  # to the last contact, not the death
    assert "death" not in cohort.events["event"].tolist()
    assert reasons(cohort, study_id) == ["death date after the data cut-off: not a death within follow-up"]
    assert row(run(resources))["death"] == 1  # without a cut-off, as before


def test_values_before_birth_or_after_death_are_not_used(fhir, run):
    resources = [fhir.patient("p1", birth="2022-05-01", deceasedDateTime="2022-08-01"),
                 fhir.index("p1", "2022-06-10"), fhir.primary()]
    before_birth = fhir.vas("p1", "2022-04-01", 7)  # in the pre-op window, before the birth date
    after_death = fhir.vas("p1", "2022-09-10", 3)  # in the 3-month window, after the death date
    kept = fhir.kps("p1", "2022-07-10", 60)
    cohort = run([*resources, before_birth, after_death, kept], cutoff=CUTOFF)
    assert cohort.measures[["instrument", "timepoint"]].values.tolist() == [["kps", "1m"]]
    assert reasons(cohort, before_birth["id"]) == ["dated before the birth date: value not used"]
    assert reasons(cohort, after_death["id"]) == ["dated after the death date: value not used"]
    assert row(cohort)["age_at_surgery"] == 0


def test_a_last_contact_date_after_the_cutoff_is_logged_and_ignored_lazily_or_not(fhir, run):
    seen = fhir.observation("p1", (LOINC, "8867-4"), "2022-12-07", valueQuantity=HEART_RATE)
    future = fhir.observation("p1", (LOINC, "8867-4"), "2024-03-07", valueQuantity=HEART_RATE)
    resources = [*fhir.basic("p1", date="2022-06-10"), seen, future]
    for lazy in (True, False):
        cohort = run(resources, cutoff=CUTOFF, lazy=lazy)
        assert row(cohort)["followup_months"] == pytest.approx(180 / 30.4375), lazy
        assert reasons(cohort, future["id"]) == ["date after the data cut-off: not used as last contact"], lazy


@pytest.mark.parametrize("value, after", [
    ("2023-01-31", False),
    ("2023-02-01", True),
    ("2023-02-01T01:00:00+02:00", False),  # 2023-01-31T23:00Z: recorded before the end of the cut-off day
    ("2023-02-01T03:00:00+02:00", True),
    ("2023-01-31T22:00:00-05:00", True),  # 2023-02-01T03:00Z
    ("2023-01-31T23:30:00Z", False),
    ("2023-02", True),  # a partial date by its assumed day, 15 February
    ("2023", True),  # assumed 1 July
])
def test_the_cutoff_compares_time_stamps_by_their_utc_day_and_dates_as_used(value: str, after: bool) -> None:
    when = dates.parse(value)
    assert when is not None
    assert dates.after_cutoff(when, CUTOFF) is after
    assert dates.after_cutoff(dates.localise(when, 120), CUTOFF) is after  # the same after localisation
