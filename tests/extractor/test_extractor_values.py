"""The extractor's one parser of patient references and of FHIR instants (extractor.values)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from extractor.http import JsonResponse
from extractor.paging import bundle_time
from extractor.values import iso, owner, parse_instant, patient_id

DATE_HEADER = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(("reference", "expected"), [
    ("Patient/abc", "abc"),
    ("Patient/abc/_history/3", "abc"),
    ("http://h/fhir/Patient/abc", "abc"),
    ("http://h/fhir/Patient/abc/_history/3", "abc"),
    ("https://h:8443/base/r4/Patient/a.b-1", "a.b-1"),
    ("Patient/abc/", "abc"),
    ("Group/abc", None),
    ("http://h/fhir/Group/Patient", None),  # the word Patient as an id is not a Patient reference
    ("Patient/", None),
    ("Patient", None),
    ("#p1", None),  # contained
    ("urn:uuid:7e57c0de-0000-4000-8000-000000000001", None),  # a transaction Bundle's, not a server's
    ("", None),
    (None, None),
    (42, None),
])
def test_patient_references_are_parsed_in_every_form(reference: object, expected: str | None):
    assert patient_id(reference) == expected


@pytest.mark.parametrize(("resource", "expected"), [
    ({"resourceType": "Patient", "id": "p"}, "p"),
    ({"resourceType": "Patient", "id": 7}, None),
    ({"resourceType": "Patient"}, None),
    ({"resourceType": "Observation", "subject": {"reference": "Patient/x"}}, "x"),
    ({"resourceType": "Observation", "subject": {"reference": "http://h/fhir/Patient/x/_history/2"}}, "x"),
    ({"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/y"}}, "y"),
    ({"resourceType": "Observation", "subject": {"reference": "Patient/x"},
      "patient": {"reference": "Patient/y"}}, "x"),  # subject first
    ({"resourceType": "Observation", "subject": {"reference": "Group/g"},
      "patient": {"reference": "Patient/y"}}, "y"),  # the first that is a Patient
    ({"resourceType": "Observation", "subject": {"reference": "Group/g"}}, None),
    ({"resourceType": "Observation", "subject": {"identifier": {"value": "123"}}}, None),
    ({"resourceType": "Observation", "subject": "Patient/x"}, None),  # not a Reference
    ({"resourceType": "Observation"}, None),
])
def test_a_resource_belongs_to_the_patient_it_is_or_refers_to(resource: dict[str, object], expected: str | None):
    assert owner(resource) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-03-01T02:30:00Z", datetime(2026, 3, 1, 2, 30, tzinfo=UTC)),
    ("2026-03-01T02:30:00.123Z", datetime(2026, 3, 1, 2, 30, 0, 123000, tzinfo=UTC)),
    ("2026-03-01T03:30:00.123+01:00", datetime(2026, 3, 1, 3, 30, 0, 123000, tzinfo=timezone(timedelta(hours=1)))),
    ("2026-03-01T02:30:00.123456-05:00",
     datetime(2026, 3, 1, 2, 30, 0, 123456, tzinfo=timezone(timedelta(hours=-5)))),
])
def test_fhir_instants_are_read_with_their_offset(text: str, expected: datetime):
    parsed = parse_instant(text)
    assert parsed == expected and parsed is not None and parsed.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize("value", ["", "yesterday", "2026-13-01T00:00:00Z", None, 1772332200, {"value": "x"}])
def test_what_is_not_an_instant_is_none(value: object):
    assert parse_instant(value) is None


def test_instants_are_written_in_utc_to_the_millisecond_and_read_back():
    moment = datetime(2026, 3, 1, 3, 30, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert iso(moment) == "2026-03-01T02:30:00.123Z"
    assert parse_instant(iso(moment)) == moment.replace(microsecond=123000)


def page(body: dict[str, object], date: datetime | None = DATE_HEADER) -> JsonResponse:
    return JsonResponse("http://h/fhir/Patient", 200, {}, body, date)


def test_a_pages_server_time_is_its_last_updated_else_its_date_header():
    assert bundle_time(page({"meta": {"lastUpdated": "2026-03-01T02:30:00.5+00:00"}})) == datetime(
        2026, 3, 1, 2, 30, 0, 500000, tzinfo=UTC
    )
    assert bundle_time(page({"meta": {"lastUpdated": "not a time"}})) == DATE_HEADER
    assert bundle_time(page({"meta": {"lastUpdated": 5}})) == DATE_HEADER
    assert bundle_time(page({"meta": "broken"})) == DATE_HEADER
    assert bundle_time(page({})) == DATE_HEADER
    assert bundle_time(page({}, date=None)) is None
