"""Building blocks: dates, values and codes, on literal inputs."""

from __future__ import annotations

from datetime import date

import pytest

from mapping import dates, values
from mapping.codes import CodeIndex, normalise_system


def test_fhir_dates_parse_with_precision_span_and_offset():
    assert dates.parse("2023-05") == dates.When(date(2023, 5, 15), date(2023, 5, 1), date(2023, 5, 31), "month")
    assert dates.parse("2024-02").last == date(2024, 2, 29)
    year = dates.parse("2023")
    assert year is not None and (year.day, year.precision) == (date(2023, 7, 1), "year")
    stamp = dates.parse("2023-01-31T23:30:00.123-05:00")
    assert stamp is not None and (stamp.day, stamp.minute, stamp.offset) == (date(2023, 1, 31), 23 * 60 + 30, -300)
    assert dates.parse("2023-02-30") is None and dates.parse("yesterday") is None and dates.parse(None) is None


def test_utc_stamps_are_localised_to_the_patient_offset_and_others_are_not():
    utc = dates.parse("2023-02-01T02:00:00Z")
    assert utc is not None and dates.localise(utc, -300).day == date(2023, 1, 31)
    assert dates.localise(utc, 60).day == date(2023, 2, 1)
    assert dates.localise(utc, None) == utc
    summer = dates.parse("2023-07-01T00:30:00+02:00")
    assert summer is not None and dates.localise(summer, 60) == summer
    assert dates.patient_offset([summer, utc, dates.parse("2023-07-02T10:00:00+02:00")]) == 120


def test_completed_years_and_months():
    assert dates.completed_years(date(1980, 6, 11), date(2022, 6, 10)) == 41
    assert dates.completed_years(date(1980, 6, 10), date(2022, 6, 10)) == 42
    assert dates.months_between(date(2022, 1, 1), date(2022, 1, 31)) == pytest.approx(30 / 30.4375)


def test_values_read_every_numeric_encoding(study):
    kps = study.instruments["kps"]
    assert values.read({"valueInteger": 80}, kps).number == 80
    assert values.read({"valueString": "7,5"}, kps).number == 7.5
    assert values.read({"valueQuantity": {"value": 5, "unit": "{score}"}}, kps).unit == "{score}"
    concept = {"coding": [{"system": "urn:oid:2.16.840.1.113883.6.1", "code": "LA9627-6"}]}
    assert values.convert(values.read({"valueCodeableConcept": concept}, kps), kps).value == 0
    assert values.read({"dataAbsentReason": {}}, kps).problem == "no value (dataAbsentReason)"
    problem = values.read({"valueQuantity": {"value": 5, "comparator": "<"}}, kps).problem
    assert problem == "value with a comparator (<, >)"


def test_a_coded_value_is_the_instruments_answer_or_a_number_after_its_name_or_short_label(study):
    kps, vas = study.instruments["kps"], study.instruments["vas"]
    answer = {"valueCodeableConcept": {"coding": [{"system": "http://loinc.org", "code": "LA29177-5"}]}}
    assert values.read(answer, kps).number == 80
    assert values.read(answer, vas).problem == "coded value without a known number"  # not a VAS answer
    display = {"valueCodeableConcept": {"text": "kps 70: cares for self"}}
    assert values.read(display, kps).number == 70
    assert values.read({"valueCodeableConcept": {"text": "VAS 4 - moderate"}}, vas).number == 4
    assert values.read({"valueCodeableConcept": {"text": "6"}}, vas).number == 6


def test_length_units_convert_to_mm_and_scores_reject_lengths(study):
    sij = study.instruments["sij_contralateral_mm"]
    assert values.convert(values.Reading(4.0, "mm", "valueQuantity"), sij) == values.Converted(4.0)
    assert values.convert(values.Reading(0.005, "m", "valueQuantity"), sij).value == pytest.approx(5.0)
    assert (
        values.convert(values.Reading(4.0, None, "valueInteger"), sij).note
        == "sij_contralateral_mm: no unit, mm assumed"
    )
    kps = study.instruments["kps"]
    assert values.convert(values.Reading(80.0, "mm", "valueQuantity"), kps).problem == "kps: unit is not a score unit"
    assert values.convert(values.Reading(80.0, "%", "valueQuantity"), kps).value == 80


def test_code_index_normalises_systems_and_icd10_dots(study):
    codes = CodeIndex(study)
    assert normalise_system("urn:oid:2.16.840.1.113883.6.96") == "http://snomed.info/sct"
    dotless = {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C414"}]}
    assert codes.group(dotless) == "primary"
    both = {"coding": [{"system": "http://loinc.org", "code": "x"}, {"system": "http://loinc.org", "code": "38208-5"}]}
    assert codes.keys(both, "instrument") == ["vas"]
    local = {"coding": [{"system": "https://example.org/fhir/CodeSystem/pelvic-outcomes", "code": "nope"}]}
    assert codes.unknown_local(local) == ["nope"]


def test_free_cpus_are_the_idle_share_of_the_window_plus_this_process(tmp_path, monkeypatch):
    from mapping import cpus

    stat = tmp_path / "stat"
    monkeypatch.setattr(cpus, "PROC_STAT", stat)
    monkeypatch.setattr(cpus, "cpu_count", lambda: 2)
    stat.write_text("cpu  1000 0 1000 5000 0 0 0 0 0 0\ncpu0 1 2 3\n")
    window = cpus.FreeCpus()
    stat.write_text("cpu  1100 0 1000 5100 0 0 0 0 0 0\n")  # one CPU busy (this process), one idle
    assert window.count() == 2
    window = cpus.FreeCpus()
    stat.write_text("cpu  1300 0 1000 5100 0 0 0 0 0 0\n")  # both busy: another process holds the second
    assert window.count() == 1
