"""Complications, recurrence, metastasis, death and progression-free survival (issue 5)."""

from __future__ import annotations

import pytest
from conftest import ICD10, LOCAL, SNOMED, cc

from mapping import Cohort

WORSENED = (SNOMED, "271299001")
LOCAL_QUALIFIER = (SNOMED, "255470001")
DISTANT_PRESENT = (SNOMED, "399409002")


def flags(cohort: Cohort) -> dict[str, int]:
    row = cohort.patients.iloc[0]
    return {name: int(row[name]) for name in cohort.patients.columns if row[name] in (0, 1) and name != "sex"}


def reasons(cohort: Cohort, rid: str) -> list[str]:
    return [entry.reason for entry in cohort.quality.for_id(rid)]


def test_complication_counts_only_when_its_onset_is_after_surgery(fhir, run):
    before = fhir.complication("p1", "screw-fracture", "2022-06-01")
    same_day = fhir.complication("p1", "dislocation", "2022-06-10")
    after = fhir.complication("p1", "heterotopic-ossification", "2022-08-01")
    cohort = run([*fhir.basic(date="2022-06-10"), before, same_day, after])
    assert flags(cohort)["heterotopic_ossification"] == 1
    assert flags(cohort)["screw_fracture"] == 0
    assert flags(cohort)["dislocation"] == 0
    assert reasons(cohort, before["id"]) == ["date not after surgery: not counted as an event"]
    events = cohort.events
    assert events[["event", "date", "days_from_surgery"]].values.tolist() == [
        ["heterotopic_ossification", "2022-08-01", 52]
    ]


def test_recorded_date_is_used_when_the_onset_is_absent(fhir, run):
    late = fhir.complication("p1", "delayed-wound-healing", "2022-06-01")
    del late["onsetDateTime"]
    late["recordedDate"] = "2022-07-01"
    cohort = run([*fhir.basic(date="2022-06-10"), late])
    assert flags(cohort)["delayed_wound_healing"] == 1


def test_complication_without_onset_or_recorded_date_is_rejected_and_logged(fhir, run):
    undated = fhir.condition("p1", (LOCAL, "deep-infection"))
    cohort = run([*fhir.basic(), undated])
    assert flags(cohort)["deep_infection"] == 0
    assert reasons(cohort, undated["id"]) == ["no onset or recorded date: cannot be placed after surgery"]
    assert cohort.n_unmappable == 1


def test_the_preoperative_metastatic_diagnosis_is_never_an_event(fhir, run):
    site = fhir.condition("p1", (ICD10, "C20"), onset="2021-01-01")
    secondary = fhir.secondary("p1", site["id"], onset="2022-05-01")
    cohort = run([fhir.patient("p1"), fhir.index("p1", "2022-06-10"), site, secondary])
    assert flags(cohort)["distant_metastasis"] == 0
    assert cohort.patients.iloc[0]["diagnosis"] == "metastatic rectal carcinoma"
    assert cohort.events.empty


def test_disease_status_worsened_with_local_qualifier_is_a_local_recurrence(fhir, run):
    status = fhir.status("p1", "2022-12-01", WORSENED)
    status["component"] = [{"code": cc((SNOMED, "106234000")), "valueCodeableConcept": cc(LOCAL_QUALIFIER)}]
    cohort = run([*fhir.basic(date="2022-06-10"), status])
    assert flags(cohort)["local_recurrence"] == 1
    assert flags(cohort)["pfs_event"] == 1
    assert cohort.patients.iloc[0]["pfs_months"] == pytest.approx(174 / 30.4375)


def test_disease_status_distant_metastasis_present_is_a_distant_metastasis_in_both_loinc_codes(fhir, run):
    current = fhir.status("p1", "2022-12-01", DISTANT_PRESENT)
    stu1 = fhir.status("p2", "2022-12-01", WORSENED, DISTANT_PRESENT, code="88040-1")
    cohort = run([*fhir.basic("p1"), *fhir.basic("p2"), current, stu1])
    assert cohort.patients["distant_metastasis"].tolist() == [1, 1]


def test_disease_status_worsened_without_qualifier_is_logged_and_not_counted(fhir, run):
    status = fhir.status("p1", "2022-12-01", WORSENED)
    cohort = run([*fhir.basic(), status])
    assert flags(cohort)["local_recurrence"] == 0 and flags(cohort)["distant_metastasis"] == 0
    assert reasons(cohort, status["id"]) == [
        "disease status worsened without a local or distant qualifier: not counted"
    ]


def test_disease_status_before_surgery_is_not_an_event(fhir, run):
    status = fhir.status("p1", "2022-05-01", DISTANT_PRESENT)
    cohort = run([*fhir.basic(date="2022-06-10"), status])
    assert flags(cohort)["distant_metastasis"] == 0


def test_recurrence_condition_with_clinical_status_relapse_is_a_local_recurrence(fhir, run):
    relapse = fhir.condition("p1", (ICD10, "C41.4"), onset="2023-02-01")
    relapse["clinicalStatus"] = cc(("http://terminology.hl7.org/CodeSystem/condition-clinical", "relapse"))
    cohort = run([*fhir.basic(date="2022-06-10"), relapse])
    assert flags(cohort)["local_recurrence"] == 1
    assert cohort.events["date"].tolist() == ["2023-02-01"]


def test_relapse_of_the_preoperative_diagnosis_is_dated_by_its_recorded_date(fhir, run):
    tumour = fhir.primary("p1", onset="2022-03-01")
    tumour["clinicalStatus"] = cc(("http://terminology.hl7.org/CodeSystem/condition-clinical", "relapse"))
    tumour["recordedDate"] = "2023-03-01"
    cohort = run([fhir.patient("p1"), fhir.index("p1", "2022-06-10"), tumour])
    assert flags(cohort)["local_recurrence"] == 1
    assert cohort.patients.iloc[0]["diagnosis"] == "chondrosarcoma"


def test_local_recurrence_and_metastasis_conditions_count_after_surgery(fhir, run):
    recurrence = fhir.complication("p1", "local-recurrence", "2023-01-01")
    metastasis = fhir.complication("p1", "distant-metastasis", "2022-11-01")
    cohort = run([*fhir.basic(date="2022-06-10"), recurrence, metastasis])
    assert (flags(cohort)["local_recurrence"], flags(cohort)["distant_metastasis"]) == (1, 1)
    assert cohort.patients.iloc[0]["pfs_months"] == pytest.approx(144 / 30.4375)  # the earlier: metastasis


def test_pfs_event_at_the_earliest_of_recurrence_metastasis_or_death(fhir, run):
    resources = fhir.basic(date="2022-06-10")
    resources[0]["deceasedDateTime"] = "2022-09-08"
    resources.append(fhir.complication("p1", "local-recurrence", "2022-12-01"))  # after death: counted, logged
    cohort = run(resources)
    row = cohort.patients.iloc[0]
    assert (row["pfs_event"], row["os_event"]) == (1, 1)
    assert row["pfs_months"] == pytest.approx(90 / 30.4375)
    assert row["followup_months"] == pytest.approx(90 / 30.4375)


def test_pfs_is_censored_at_last_contact_without_progression(fhir, run):
    resources = [*fhir.basic(date="2022-06-10"), fhir.complication("p1", "heterotopic-ossification", "2022-12-07")]
    row = run(resources).patients.iloc[0]
    assert row["pfs_event"] == 0
    assert row["pfs_months"] == pytest.approx(180 / 30.4375)


def test_partial_onset_spanning_the_surgery_month_is_not_counted(fhir, run):
    spanning = fhir.complication("p1", "dislocation", "2022-06")
    later = fhir.complication("p1", "screw-fracture", "2022-08")
    cohort = run([*fhir.basic(date="2022-06-10"), spanning, later])
    assert flags(cohort)["dislocation"] == 0
    assert flags(cohort)["screw_fracture"] == 1
    assert cohort.events["date"].tolist() == ["2022-08-15"]
    assert "partial date spans the surgery date: not counted" in reasons(cohort, spanning["id"])
    assert "partial date (month precision): day 15 assumed" in reasons(cohort, later["id"])
