"""The cohort row: index procedure, demographics, diagnosis, zones, margin, follow-up (issue 5, cohort schema)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ICD10, ICDO3, KEY, LOCAL, SNOMED, SOURCE, cc

from mapping import Cohort, cohort_columns, pseudonym


def first(cohort: Cohort) -> dict[str, Any]:
    assert len(cohort.patients) >= 1
    return dict(cohort.patients.iloc[0])


def reasons(cohort: Cohort, rid: str | None = None) -> list[str]:
    entries = cohort.quality.entries if rid is None else cohort.quality.for_id(rid)
    return [entry.reason for entry in entries]


def test_cohort_columns_are_those_of_issue_5_in_order_then_the_reoperations(study):
    assert cohort_columns(study) == [
        "study_id",
        "sex",
        "age_at_surgery",
        "surgery_date",
        "diagnosis",
        "tumor_category",
        "enneking_zones",
        "zone_iv",
        "resection_margin",
        "reconstruction",
        "followup_months",
        "os_months",
        "os_event",
        "pfs_months",
        "pfs_event",
        "heterotopic_ossification",
        "screw_fracture",
        "dislocation",
        "delayed_wound_healing",
        "deep_infection",
        "periprosthetic_osteolysis",
        "implant_loosening",
        "local_recurrence",
        "distant_metastasis",
        "death",
        "revision",
        "revision_months",
    ]


def test_surgery_date_is_the_earliest_index_procedure_and_later_ones_are_logged(fhir, run):
    later = fhir.index("p1", "2023-01-05", kind="screw-connected")
    earlier = fhir.index("p1", "2022-06-10")
    del earlier["performedDateTime"]
    earlier["performedPeriod"] = {"start": "2022-06-10T08:00:00+02:00", "end": "2022-06-10T14:00:00+02:00"}
    cohort = run([fhir.patient("p1"), later, earlier, fhir.primary("p1")])
    assert first(cohort)["surgery_date"] == "2022-06-10"
    assert first(cohort)["reconstruction"] == "standard"
    assert "several index procedures: the earliest is the index" in reasons(cohort, later["id"])


def test_reconstruction_comes_from_the_index_procedure_code(fhir, run):
    cohort = run(fhir.basic(kind="screw-connected"))
    assert first(cohort)["reconstruction"] == "screw-connected"


def test_age_is_completed_years_at_surgery_and_sex_is_patient_gender(fhir, run):
    resources = [
        fhir.patient("p1", gender="female", birth="1980-06-11"),
        fhir.index("p1", "2022-06-10"),
        fhir.primary(),
    ]
    row = first(run(resources))
    assert row["age_at_surgery"] == 41  # birthday one day after surgery
    assert row["sex"] == "female"


def test_primary_diagnosis_from_icdo3_histology_extension(fhir, run):
    resources = [fhir.patient("p1"), fhir.index("p1"), fhir.primary("p1", morphology="9180/3")]
    row = first(run(resources))
    assert (row["diagnosis"], row["tumor_category"]) == ("osteosarcoma", "primary")


def test_primary_diagnosis_from_histology_coding_in_the_condition_code(fhir, run):
    condition = fhir.condition("p1", (SNOMED, "363346000"), (ICDO3, "9220/3"), onset="2022-03-01")
    row = first(run([fhir.patient("p1"), fhir.index("p1"), condition]))
    assert (row["diagnosis"], row["tumor_category"]) == ("chondrosarcoma", "primary")


def test_secondary_diagnosis_names_the_site_of_the_related_primary_condition(fhir, run):
    site = fhir.condition("p1", (ICD10, "C22.0"), onset="2021-01-01")
    resources = [fhir.patient("p1"), fhir.index("p1"), site, fhir.secondary("p1", site["id"])]
    row = first(run(resources))
    assert (row["diagnosis"], row["tumor_category"]) == ("metastatic hepatocellular carcinoma", "secondary")
    assert row["distant_metastasis"] == 0


def test_secondary_without_related_reference_uses_the_only_primary_site_and_logs_it(fhir, run):
    site = fhir.condition("p1", (ICD10, "C54.1"), onset="2021-01-01")
    secondary = fhir.condition("p1", (SNOMED, "94222008"), onset="2022-04-01")
    cohort = run([fhir.patient("p1"), fhir.index("p1"), site, secondary])
    assert first(cohort)["diagnosis"] == "metastatic endometrial carcinoma"
    assert any("only primary-site Condition used" in r for r in reasons(cohort, secondary["id"]))


def test_enneking_zones_in_order_joined_by_plus_and_zone_iv_flag(fhir, run):
    row = first(run(fhir.basic(zones=("IV", "I", "II"))))
    assert (row["enneking_zones"], row["zone_iv"]) == ("I+II+IV", 1)
    row = first(run(fhir.basic(zones=("II", "III"))))
    assert (row["enneking_zones"], row["zone_iv"]) == ("II+III", 0)


def test_enneking_zones_from_observations_when_the_procedure_has_none(fhir, run):
    resources = fhir.basic(zones=())
    resources += [
        fhir.observation("p1", (LOCAL, "enneking-zone-I"), "2022-06-10"),
        fhir.observation("p1", (LOCAL, "enneking-zone-IV"), "2022-06-10"),
    ]
    row = first(run(resources))
    assert (row["enneking_zones"], row["zone_iv"]) == ("I+IV", 1)


def test_resection_margin_from_procedure_outcome_or_margin_observation(fhir, run):
    assert first(run(fhir.basic(margin="marginal")))["resection_margin"] == "marginal"
    resources = fhir.basic(margin=None)
    margin = cc((LOCAL, "margin-intralesional"))
    resources.append(fhir.observation("p1", (LOCAL, "resection-margin"), "2022-06-12", valueCodeableConcept=margin))
    assert first(run(resources))["resection_margin"] == "intralesional"


def test_last_contact_is_the_latest_clinical_date_and_months_are_days_over_30_4375(fhir, run):
    resources = fhir.basic(date="2022-06-10")
    resources.append(fhir.vas("p1", "2023-06-10", 2))  # outside every window, still a clinical date
    row = first(run(resources))
    assert row["followup_months"] == pytest.approx(365 / 30.4375)
    assert row["os_months"] == pytest.approx(365 / 30.4375)
    assert row["os_event"] == 0


def test_os_event_and_os_months_from_deceased_datetime(fhir, run):
    resources = fhir.basic(date="2022-06-10")
    resources[0]["deceasedDateTime"] = "2023-01-10"
    resources.append(fhir.vas("p1", "2022-12-01", 3))
    row = first(run(resources))
    assert (row["death"], row["os_event"], row["pfs_event"]) == (1, 1, 1)
    assert row["os_months"] == pytest.approx(214 / 30.4375)
    assert row["followup_months"] == pytest.approx(214 / 30.4375)


def test_deceased_boolean_without_date_dies_at_last_contact_and_is_logged(fhir, run, study):
    resources = fhir.basic(date="2022-06-10")
    resources[0]["deceasedBoolean"] = True
    resources.append(fhir.kps("p1", "2022-12-07", 40))
    cohort = run(resources)
    row = first(cohort)
    assert (row["death"], row["os_event"]) == (1, 1)
    assert row["os_months"] == pytest.approx(180 / 30.4375)
    study_id = pseudonym(study, SOURCE, "p1", KEY)
    assert "deceased without a usable date: death date set to last contact" in reasons(cohort, study_id)
    assert cohort.events.query("event == 'death'")["date"].tolist() == ["2022-12-07"]


def test_patients_without_an_index_procedure_are_not_in_the_cohort_and_are_logged(fhir, run, study):
    resources = [*fhir.basic("p1"), fhir.patient("p2"), fhir.vas("p2", "2022-05-01", 5)]
    cohort = run(resources)
    assert len(cohort.patients) == 1
    assert reasons(cohort, pseudonym(study, SOURCE, "p2", KEY)) == ["no index procedure: patient not in the cohort"]
    assert cohort.n_unmappable == 0


def test_rows_are_sorted_by_surgery_date_then_study_id(fhir, run):
    resources = fhir.basic("a", date="2023-01-01") + fhir.basic("b", date="2022-01-01") + fhir.basic("c", "2022-01-01")
    cohort = run(resources)
    dates = cohort.patients["surgery_date"].tolist()
    assert dates == sorted(dates)
    same_day = cohort.patients[cohort.patients["surgery_date"] == "2022-01-01"]["study_id"].tolist()
    assert same_day == sorted(same_day)
    assert cohort.measures.empty and list(cohort.measures.columns)[:2] == ["study_id", "instrument"]


def test_resources_of_other_types_are_ignored(fhir, run):
    encounter = {"resourceType": "Encounter", "id": "e1", "status": "finished", "subject": {"reference": "Patient/p1"}}
    cohort = run([*fhir.basic(), encounter])
    assert cohort.n_resources == 3
    assert len(cohort.quality) == 0
