"""Repeated measures: encodings, units, windows, statuses and duplicates (issue 5)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import LOCAL, LOINC, UCUM, cc

from config.study import TimepointWindow
from mapping import Cohort


def values(cohort: Cohort, instrument: str) -> dict[str, float]:
    rows = cohort.measures[cohort.measures["instrument"] == instrument]
    return dict(zip(rows["timepoint"], rows["value"], strict=True))


def reasons(cohort: Cohort, rid: str) -> list[str]:
    return [entry.reason for entry in cohort.quality.for_id(rid)]


SURGERY = "2022-06-10"


def test_windows_pre_takes_the_latest_value_in_minus_90_to_0(fhir, run):
    old = fhir.vas("p1", "2022-03-01", 9)  # day -101: outside
    earlier = fhir.vas("p1", "2022-05-01", 8)
    latest = fhir.vas("p1", "2022-06-10", 6)  # the surgery day counts as pre-op
    cohort = run([*fhir.basic(date=SURGERY), old, earlier, latest])
    assert values(cohort, "vas") == {"pre": 6}
    assert reasons(cohort, earlier["id"]) == ["not selected: another value was chosen for timepoint pre"]
    assert reasons(cohort, old["id"]) == ["outside every timepoint window"]


def test_windows_closest_to_the_target_day_and_a_tie_goes_to_the_earlier(fhir, run):
    day_25 = fhir.kps("p1", "2022-07-05", 50)
    day_35 = fhir.kps("p1", "2022-07-15", 70)
    day_95 = fhir.kps("p1", "2022-09-13", 80)
    day_87 = fhir.kps("p1", "2022-09-05", 60)
    cohort = run([*fhir.basic(date=SURGERY), day_35, day_25, day_95, day_87])
    assert values(cohort, "kps") == {"1m": 50, "3m": 60}
    row = cohort.measures[cohort.measures["timepoint"] == "1m"].iloc[0]
    assert (row["date"], row["days_from_surgery"]) == ("2022-07-05", 25)


def test_values_outside_every_window_are_left_out_and_logged(fhir, run):
    gap = fhir.vas("p1", "2022-08-20", 3)  # day 71 is in 3m; day 50 is in no window
    nowhere = fhir.vas("p1", "2022-07-30", 4)
    cohort = run([*fhir.basic(date=SURGERY), gap, nowhere])
    assert values(cohort, "vas") == {"3m": 3}
    assert reasons(cohort, nowhere["id"]) == ["outside every timepoint window"]


def test_window_bounds_and_rules_come_from_the_study_definition(fhir, run, study):
    windows = {"12m": TimepointWindow("12m", 300, 420, "closest", 365)}
    custom = replace(study, timepoints=windows)
    cohort = run([*fhir.basic(date=SURGERY), fhir.vas("p1", "2023-06-01", 2)], study_def=custom)
    assert values(cohort, "vas") == {"12m": 2}


def test_value_as_quantity_integer_string_or_codeable_concept(fhir, run):
    msts = (LOCAL, "msts93")
    resources = [
        *fhir.basic(date=SURGERY),
        fhir.observation("p1", msts, "2022-06-01", valueQuantity={"value": 11, "system": UCUM, "code": "{score}"}),
        fhir.observation("p1", msts, "2022-07-10", valueInteger=15),
        fhir.observation("p1", msts, "2022-09-08", valueString=" 23,5 "),
        fhir.observation("p1", msts, "2022-12-07", valueCodeableConcept=cc((LOCAL, "27"), text="27")),
    ]
    assert values(run(resources), "msts93") == {"pre": 11, "1m": 15, "3m": 23.5, "6m": 27}


def test_kps_loinc_answer_code_is_its_score(fhir, run):
    kps = fhir.observation("p1", (LOINC, "89243-0"), "2022-09-08", valueCodeableConcept=cc((LOINC, "LA29177-5")))
    assert values(run([*fhir.basic(date=SURGERY), kps]), "kps") == {"3m": 80}


def test_kps_numeric_code_or_display_is_accepted(fhir, run):
    by_display = {"coding": [{"system": "urn:local:kps", "code": "x", "display": "KPS 70: Cares for self"}]}
    kps = fhir.observation("p1", (LOINC, "89243-0"), "2022-09-08", valueCodeableConcept=by_display)
    by_code = fhir.observation("p1", (LOINC, "89243-0"), "2022-12-07", valueCodeableConcept=cc(("urn:x", "90")))
    assert values(run([*fhir.basic(date=SURGERY), kps, by_code]), "kps") == {"3m": 70, "6m": 90}


def test_vas_on_100mm_scale_is_converted_to_0_10_and_logged(fhir, run):
    vas = fhir.observation(
        "p1", (LOINC, "38214-3"), "2022-06-01", valueQuantity={"value": 65, "unit": "mm", "system": UCUM, "code": "mm"}
    )
    cohort = run([*fhir.basic(date=SURGERY), vas])
    assert values(cohort, "vas") == {"pre": 6.5}
    assert reasons(cohort, vas["id"]) == ["vas on a 0-100 mm scale (unit mm) converted to 0-10"]


def test_vas_on_100mm_scale_without_unit_is_recognised_by_range_and_logged(fhir, run):
    vas = fhir.vas("p1", "2022-06-01", 72)
    cohort = run([*fhir.basic(date=SURGERY), vas])
    assert values(cohort, "vas") == {"pre": 7.2}
    assert reasons(cohort, vas["id"]) == ["vas on a 0-100 mm scale (by range) converted to 0-10"]


def test_sij_in_cm_is_converted_to_mm_via_ucum_and_logged(fhir, run):
    sij = fhir.observation(
        "p1",
        (LOCAL, "sij-space-contralateral"),
        "2022-12-07",
        valueQuantity={"value": 0.42, "unit": "cm", "system": UCUM, "code": "cm"},
    )
    cohort = run([*fhir.basic(date=SURGERY), sij])
    assert values(cohort, "sij_contralateral_mm") == {"6m": pytest.approx(4.2)}
    assert reasons(cohort, sij["id"]) == ["sij_contralateral_mm: cm converted to mm"]


def test_values_outside_the_instrument_range_or_in_a_wrong_unit_are_rejected(fhir, run):
    too_high = fhir.kps("p1", "2022-06-01", 120)
    wrong_unit = fhir.observation(
        "p1", (LOCAL, "sij-space-contralateral"), "2022-06-01", valueQuantity={"value": 3, "system": UCUM, "code": "kg"}
    )
    text = fhir.observation("p1", (LOINC, "72514-3"), "2022-06-01", valueString="moderate")
    cohort = run([*fhir.basic(date=SURGERY), too_high, wrong_unit, text])
    assert cohort.measures.empty
    assert reasons(cohort, too_high["id"]) == ["value outside the range of kps (0-100)"]
    assert reasons(cohort, wrong_unit["id"]) == ["sij_contralateral_mm: unit is not a length convertible to mm"]
    assert reasons(cohort, text["id"]) == ["valueString is not a number"]
    assert cohort.n_unmappable == 3


def test_effective_period_start_and_effective_instant_are_accepted(fhir, run):
    period = fhir.vas("p1", "2022-06-01", 7)
    period["effectivePeriod"] = {"start": period.pop("effectiveDateTime")}
    instant = fhir.vas("p1", "2022-07-10", 4)
    instant["effectiveInstant"] = instant.pop("effectiveDateTime") + "T09:30:00.000+02:00"
    assert values(run([*fhir.basic(date=SURGERY), period, instant]), "vas") == {"pre": 7, "1m": 4}


def test_alternative_codes_per_variable_are_accepted(fhir, run):
    pain = fhir.observation("p1", (LOINC, "38208-5"), "2022-06-01", valueInteger=5)
    pain_oid = fhir.observation("p1", ("urn:oid:2.16.840.1.113883.6.1", "72514-3"), "2022-07-10", valueInteger=4)
    ho = fhir.condition("p1", ("http://snomed.info/sct", "444748003"), onset="2022-09-01")
    cohort = run([*fhir.basic(date=SURGERY), pain, pain_oid, ho])
    assert values(cohort, "vas") == {"pre": 5, "1m": 4}
    assert cohort.patients.iloc[0]["heterotopic_ossification"] == 1


def test_several_codings_in_one_codeable_concept_match_when_any_is_known(fhir, run):
    kps = fhir.kps("p1", "2022-09-08", 60)
    kps["code"] = cc(("urn:hospital:codes", "KARNOFSKY"), (LOINC, "89243-0"))
    assert values(run([*fhir.basic(date=SURGERY), kps]), "kps") == {"3m": 60}


def test_entered_in_error_and_cancelled_observations_are_excluded_and_logged(fhir, run):
    error = fhir.vas("p1", "2022-06-01", 9, status="entered-in-error")
    cancelled = fhir.vas("p1", "2022-06-02", 9, status="cancelled")
    cohort = run([*fhir.basic(date=SURGERY), error, cancelled])
    assert cohort.measures.empty
    assert reasons(cohort, error["id"]) == ["excluded: status entered-in-error"]
    assert reasons(cohort, cancelled["id"]) == ["excluded: status cancelled"]
    assert cohort.n_unmappable == 0


def test_preliminary_value_is_used_when_alone_and_logged(fhir, run):
    preliminary = fhir.vas("p1", "2022-06-01", 8, status="preliminary")
    cohort = run([*fhir.basic(date=SURGERY), preliminary])
    assert values(cohort, "vas") == {"pre": 8}
    assert reasons(cohort, preliminary["id"]) == ["preliminary value used (no final value that day)"]


def test_final_value_supersedes_a_preliminary_one_the_same_day(fhir, run):
    preliminary = fhir.vas("p1", "2022-06-01T09:00:00+02:00", 8, status="preliminary")
    final = fhir.vas("p1", "2022-06-01T08:00:00+02:00", 7)
    cohort = run([*fhir.basic(date=SURGERY), preliminary, final])
    assert values(cohort, "vas") == {"pre": 7}
    assert reasons(cohort, preliminary["id"]) == ["superseded by a final or amended value the same day"]


def test_amended_value_replaces_the_final_one_the_same_day(fhir, run):
    final = fhir.vas("p1", "2022-06-01", 8)
    amended = fhir.vas("p1", "2022-06-01", 6, status="amended")
    cohort = run([*fhir.basic(date=SURGERY), final, amended])
    assert values(cohort, "vas") == {"pre": 6}
    assert reasons(cohort, final["id"]) == ["superseded by a final or amended value the same day"]


def test_duplicate_same_value_is_kept_once_and_logged(fhir, run):
    one = fhir.vas("p1", "2022-06-01", 7)
    two = fhir.vas("p1", "2022-06-01", 7)
    cohort = run([*fhir.basic(date=SURGERY), one, two])
    assert len(cohort.measures) == 1
    assert reasons(cohort, two["id"]) == ["duplicate value (same instrument, day and value): one kept"]


def test_two_different_values_the_same_day_keep_the_later_and_log_the_conflict(fhir, run):
    morning = fhir.vas("p1", "2022-06-01T08:00:00+02:00", 7)
    evening = fhir.vas("p1", "2022-06-01T18:00:00+02:00", 5)
    cohort = run([*fhir.basic(date=SURGERY), morning, evening])
    assert values(cohort, "vas") == {"pre": 5}
    assert reasons(cohort, morning["id"]) == ["conflicting values the same day: the latest is kept"]
