"""Validation, references, time zones, partial dates, pseudonyms and the data-quality log (issue 5)."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest
from conftest import KEY, LOCAL, LOINC, SOURCE, cc

from config.errors import MappingError
from mapping import Cohort, QualityLog, map_cohort, pseudonym


def reasons(cohort: Cohort, rid: str) -> list[str]:
    return [entry.reason for entry in cohort.quality.for_id(rid)]


def values(cohort: Cohort, instrument: str) -> dict[str, float]:
    rows = cohort.measures[cohort.measures["instrument"] == instrument]
    return dict(zip(rows["timepoint"], rows["value"], strict=True))


def test_invalid_resource_is_logged_with_its_reason_and_does_not_crash(fhir, run):
    bad_value = fhir.vas("p1", "2022-06-01", 7)
    bad_value["valueQuantity"] = {"value": "seven"}
    del bad_value["valueInteger"]
    unknown_field = fhir.complication("p1", "dislocation", "2022-09-01", severity_text="bad")
    cohort = run([*fhir.basic(), bad_value, unknown_field])
    assert len(cohort.patients) == 1 and cohort.measures.empty
    assert cohort.patients.iloc[0]["dislocation"] == 0
    entry = cohort.quality.for_id(bad_value["id"])[0]
    assert (entry.resource_type, entry.field) == ("Observation", "valueQuantity.value")
    assert entry.reason == "invalid FHIR R4: Value error, Decimal value string does not match spec regex."
    assert reasons(cohort, unknown_field["id"]) == ["invalid FHIR R4: Extra inputs are not permitted"]
    assert cohort.n_unmappable == 2


def test_time_without_time_zone_is_invalid_fhir_and_logged(fhir, run):
    naive = fhir.vas("p1", "2022-06-01T10:00:00", 7)
    cohort = run([*fhir.basic(), naive])
    assert cohort.measures.empty
    entry = cohort.quality.for_id(naive["id"])[0]
    assert entry.field == "effectiveDateTime"
    assert entry.reason == "invalid FHIR R4: Value error, DateTime value string does not match spec regex."


def test_dates_with_a_time_zone_compare_as_the_patients_local_day(fhir, run):
    # 23:30 in New York on 10 July is 11 July in UTC; the patient's day is 10 July, day 30 after surgery.
    late_evening = fhir.vas("p1", "2022-07-10T23:30:00-04:00", 4)
    cohort = run([*fhir.basic(date="2022-06-10"), late_evening])
    row = cohort.measures.iloc[0]
    assert (row["date"], row["days_from_surgery"], row["timepoint"]) == ("2022-07-10", 30, "1m")


def test_utc_time_stamps_move_to_the_patients_usual_offset(fhir, run):
    # Recorded 01:30 UTC on 11 July; the patient's other stamps are at -04:00, so the local day is 10 July.
    utc = fhir.vas("p1", "2022-07-11T01:30:00Z", 4)
    local = fhir.kps("p1", "2022-06-01T10:00:00-04:00", 60)
    other = fhir.kps("p1", "2022-07-12T10:00:00-04:00", 60)
    cohort = run([*fhir.basic(date="2022-06-10"), utc, local, other])
    vas = cohort.measures[cohort.measures["instrument"] == "vas"].iloc[0]
    assert (vas["date"], vas["days_from_surgery"]) == ("2022-07-10", 30)


def test_utc_time_stamps_stay_in_utc_without_any_local_offset(fhir, run):
    utc = fhir.vas("p1", "2022-07-11T01:30:00Z", 4)
    cohort = run([*fhir.basic(date="2022-06-10"), utc])
    assert cohort.measures.iloc[0]["date"] == "2022-07-11"


def test_partial_dates_are_imputed_and_logged(fhir, run):
    month = fhir.vas("p1", "2022-07", 4)
    year_birth = fhir.patient("p1", birth="1980")
    cohort = run([year_birth, fhir.index("p1", "2022-06-10"), fhir.primary(), month])
    assert values(cohort, "vas") == {"1m": 4}
    assert cohort.measures.iloc[0]["date"] == "2022-07-15"
    assert reasons(cohort, month["id"]) == ["partial date (month precision): day 15 assumed"]
    assert cohort.patients.iloc[0]["age_at_surgery"] == 41  # born 1 July 1980 assumed
    study_id = cohort.patients.iloc[0]["study_id"]
    assert "partial birth date (year): middle of the span assumed" in reasons(cohort, study_id)


def test_references_to_missing_patients_are_logged(fhir, run):
    orphan = fhir.vas("ghost", "2022-06-01", 5)
    no_subject = fhir.vas("p1", "2022-06-01", 5)
    del no_subject["subject"]
    absolute = fhir.vas("p1", "2022-07-10", 3)
    absolute["subject"] = {"reference": "https://fhir.example.org/fhir/Patient/p1/_history/3"}
    cohort = run([*fhir.basic(), orphan, no_subject, absolute])
    assert reasons(cohort, orphan["id"]) == ["subject refers to a Patient that is not in the pull"]
    assert reasons(cohort, no_subject["id"]) == ["no Patient subject"]
    assert values(cohort, "vas") == {"1m": 3}
    assert cohort.n_unmappable == 2


def test_resources_of_an_invalid_patient_are_logged_as_such(fhir, run):
    patient = fhir.patient("p1", birth="1980-13-45")
    cohort = run([patient, fhir.index("p1"), fhir.primary()])
    assert cohort.patients.empty
    assert all(
        r == "subject Patient is invalid or unusable: resource not used"
        for r in [e.reason for e in cohort.quality.entries if e.resource_type != "Patient"]
    )
    assert cohort.n_unmappable == 3


def test_entered_in_error_condition_and_refuted_or_differential_verification_are_excluded(fhir, run):
    status = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
    refuted = fhir.complication("p1", "dislocation", "2022-09-01", verificationStatus=cc((status, "refuted")))
    error = fhir.complication("p1", "screw-fracture", "2022-09-01", verificationStatus=cc((status, "entered-in-error")))
    provisional = fhir.complication(
        "p1", "deep-infection", "2022-09-01", verificationStatus=cc((status, "provisional"))
    )
    cohort = run([*fhir.basic(), refuted, error, provisional])
    row = cohort.patients.iloc[0]
    assert (row["dislocation"], row["screw_fracture"], row["deep_infection"]) == (0, 0, 1)
    assert reasons(cohort, refuted["id"]) == ["excluded: verificationStatus refuted"]
    assert reasons(cohort, error["id"]) == ["excluded: verificationStatus entered-in-error"]
    assert reasons(cohort, provisional["id"]) == ["verificationStatus provisional: used"]


def test_codes_outside_a_required_value_set_are_invalid(fhir, run):
    robot = fhir.patient("p2", gender="robot")
    odd = fhir.vas("p1", "2022-06-01", 7, status="done")
    cohort = run([*fhir.basic(), robot, odd])
    assert reasons(cohort, odd["id"]) == ["invalid FHIR R4: status is not a code of its required value set"]
    assert len(cohort.patients) == 1


def test_index_procedure_not_done_or_entered_in_error_does_not_define_surgery(fhir, run):
    not_done = fhir.index("p1", "2022-05-01", status="not-done")
    cohort = run([*fhir.basic(date="2022-06-10"), not_done])
    assert cohort.patients.iloc[0]["surgery_date"] == "2022-06-10"
    assert reasons(cohort, not_done["id"]) == ["excluded: status not-done"]


def test_unknown_code_of_the_studys_own_code_system_is_logged(fhir, run):
    typo = fhir.complication("p1", "heterotopic-ossificaton", "2022-09-01")
    cohort = run([*fhir.basic(), typo])
    assert reasons(cohort, typo["id"]) == [
        "code heterotopic-ossificaton of the study's CodeSystem is not in the study definition"
    ]
    assert cohort.n_unmappable == 1


def test_duplicate_resource_id_keeps_the_first_copy(fhir, run):
    vas = fhir.vas("p1", "2022-06-01", 7)
    copy = {**vas, "valueInteger": 2}
    cohort = run([*fhir.basic(), vas, copy])
    assert values(cohort, "vas") == {"pre": 7}
    assert reasons(cohort, vas["id"]) == ["duplicate resource id: first copy kept"]


def test_unrelated_resources_set_last_contact_and_an_invalid_one_is_skipped(fhir, run):
    heart_rate = {"value": 70, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}
    valid = fhir.observation("p1", (LOINC, "8867-4"), "2022-12-07", valueQuantity=heart_rate)
    invalid = fhir.observation("p1", (LOINC, "8867-4"), "2023-03-07", valueQuantity={**heart_rate, "value": "x"})
    cohort = run([*fhir.basic(date="2022-06-10"), valid, invalid])
    assert cohort.patients.iloc[0]["followup_months"] == pytest.approx(180 / 30.4375)
    assert reasons(cohort, invalid["id"])[0].startswith("invalid FHIR R4")
    eager = run([*fhir.basic(date="2022-06-10"), valid, invalid], lazy=False)
    assert eager.patients.equals(cohort.patients)


def test_quality_log_holds_study_ids_and_never_names_or_mrns(fhir, run, study):
    patient = fhir.patient("p1", birth=None)
    cohort = run([patient, fhir.index("p1"), fhir.primary(), fhir.vas("p1", "2022-06-01", "x")])
    text = json.dumps(cohort.quality.to_dict())
    assert "Testperson" not in text and "MRN-p1" not in text and '"p1"' not in text
    study_id = pseudonym(study, SOURCE, "p1", KEY)
    assert reasons(cohort, study_id) == ["no birth date: age unknown"]
    assert set(cohort.quality.to_dict()) == {"counts", "entries"}
    assert set(cohort.quality.to_dict()["entries"][0]) == {"resource_type", "id", "field", "reason"}
    assert sum(cohort.quality.counts.values()) == len(cohort.quality)


def test_quality_summary_counts_by_reason_and_by_type_field_reason_without_ids():
    log = QualityLog()
    log.add("Observation", "obs-9", "effective[x]", "outside every timepoint window")
    log.add("Observation", "obs-3", "effective[x]", "outside every timepoint window")
    log.add("Patient", "PO-1a2b3c4d5e", "birthDate", "no birth date: age unknown")
    log.add("Condition", "cond-1", "onset[x]", "outside every timepoint window")
    log.add("Condition", "cond-2", "code", "no gender")
    summary = log.summary()
    assert summary == {
        "counts": {"outside every timepoint window": 3, "no birth date: age unknown": 1, "no gender": 1},
        "detail": [
            {"resource_type": "Observation", "field": "effective[x]", "reason": "outside every timepoint window",
             "count": 2},
            {"resource_type": "Condition", "field": "code", "reason": "no gender", "count": 1},
            {"resource_type": "Condition", "field": "onset[x]", "reason": "outside every timepoint window",
             "count": 1},
            {"resource_type": "Patient", "field": "birthDate", "reason": "no birth date: age unknown", "count": 1},
        ],
    }
    text = json.dumps(summary)
    assert not any(rid in text for rid in ("obs-9", "obs-3", "PO-1a2b3c4d5e", "cond-1", "cond-2"))


def test_quality_summary_of_a_mapped_cohort_has_no_names_mrns_or_ids(fhir, run):
    vas = fhir.vas("p1", "2022-06-01", "x")
    cohort = run([fhir.patient("p1", birth=None), fhir.index("p1"), fhir.primary(), vas])
    summary = cohort.quality.summary()
    assert sum(summary["counts"].values()) == sum(row["count"] for row in summary["detail"]) == len(cohort.quality)
    text = json.dumps(summary)
    for secret in ("Testperson", "MRN-p1", '"p1"', vas["id"], "1980"):
        assert secret not in text


def test_pseudonym_is_stable_keyed_prefixed_and_ten_hex_characters(study):
    first = pseudonym(study, SOURCE, "p1", KEY)
    assert first == pseudonym(study, SOURCE + "/", "p1", KEY)
    assert re.fullmatch(r"PO-[0-9a-f]{10}", first), first
    assert first != pseudonym(study, SOURCE, "p2", KEY)
    assert first != pseudonym(study, "https://other.example.org/fhir", "p1", KEY)
    assert first != pseudonym(study, SOURCE, "p1", b"another key")
    with pytest.raises(MappingError):
        pseudonym(study, SOURCE, "p1", b"")


def test_study_identifier_system_is_used_when_the_config_names_one(fhir, run, study):
    custom = replace(study, study_id_system="https://example.org/study-ids")
    enrolled = fhir.patient("p1")
    enrolled["identifier"].append({"system": "https://example.org/study-ids", "value": "PELVIS-007"})
    cohort = run([enrolled, fhir.index("p1"), fhir.primary("p1"), *fhir.basic("p2")], study_def=custom)
    ids = set(cohort.patients["study_id"])
    assert ids == {"PELVIS-007", pseudonym(custom, SOURCE, "p2", KEY)}
    assert reasons(cohort, pseudonym(custom, SOURCE, "p2", KEY)) == ["no study identifier: keyed-hash pseudonym used"]


def test_n_resources_and_n_unmappable_count_what_was_read_and_rejected(fhir, run):
    orphan = fhir.vas("ghost", "2022-06-01", 5)
    error = fhir.vas("p1", "2022-06-01", 9, status="entered-in-error")
    cohort = run([*fhir.basic(), orphan, error, fhir.observation("p1", (LOCAL, "msts93"), "2022-06-01")])
    assert cohort.n_resources == 6
    assert cohort.n_unmappable == 2  # the orphan and the MSTS without value; the excluded one is not unmappable
    assert (cohort.n_unmappable, cohort.n_resources) == (2, 6)


def test_a_year_only_measure_date_is_too_imprecise_and_rejected(fhir, run):
    vague = fhir.vas("p1", "2022", 4)
    cohort = run([*fhir.basic(date="2022-06-10"), vague])
    assert cohort.measures.empty
    assert reasons(cohort, vague["id"]) == ["partial date (year precision): too imprecise for a timepoint window"]


def test_an_unparseable_onset_string_falls_back_to_the_recorded_date(fhir, run):
    complication = fhir.complication("p1", "dislocation", "2022-01-01")
    del complication["onsetDateTime"]
    complication["onsetString"] = "after the fall in the garden"
    complication["recordedDate"] = "2022-09-01"
    cohort = run([*fhir.basic(date="2022-06-10"), complication])
    assert cohort.patients.iloc[0]["dislocation"] == 1


def test_a_source_yielding_something_that_is_not_a_json_object_is_logged(study):
    class Odd:
        def iter_resources(self, resource_type):
            return iter([["not", "a", "resource"]] if resource_type == "Observation" else [])

    cohort = map_cohort(Odd(), study, source_id=SOURCE, pseudonym_key=KEY)
    assert [e.reason for e in cohort.quality.entries] == ["not a JSON object"]
    assert (cohort.n_resources, cohort.n_unmappable) == (1, 1)
