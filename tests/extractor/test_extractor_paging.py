"""Following next links: relative, absolute, off-origin, loops, short pulls."""

from __future__ import annotations

import pytest
from stub_http import BASE, FakeClock, StubSession, bundle, response, settings

from config.errors import FhirError
from extractor.http import HttpClient
from extractor.paging import iter_resources, resolve_link, same_origin


def pages(*bodies):
    bodies_list = list(bodies)

    def handler(call):
        return response(200, bodies_list.pop(0))

    return handler


def run(handler, url=f"{BASE}/Patient"):
    session = StubSession(handler)
    http = HttpClient(settings(), session, clock=FakeClock())
    return list(iter_resources(http, url, {"_count": "1"})), session


def test_pager_follows_absolute_and_relative_next_links_until_exhausted():
    resources, session = run(pages(
        bundle([{"resourceType": "Patient", "id": "a"}], f"{BASE}/Patient?page=2"),
        bundle([{"resourceType": "Patient", "id": "b"}], "Patient?page=3"),
        bundle([{"resourceType": "Patient", "id": "c"}]),
    ))
    assert [r["id"] for r in resources] == ["a", "b", "c"]
    assert [c.url for c in session.calls][1:] == [f"{BASE}/Patient?page=2", f"{BASE}/Patient?page=3"]


def test_pager_refuses_a_next_link_to_another_origin_without_requesting_it():
    with pytest.raises(FhirError, match="another origin") as caught:
        run(pages(
            bundle([{"resourceType": "Patient", "id": "a"}], "https://evil.example:8443/fhir/Patient?page=2"),
        ))
    assert "evil.example" in str(caught.value)


def test_off_origin_refusal_happens_before_any_request_to_the_stranger():
    session = StubSession(pages(bundle([], "http://fhir.test:9999/fhir/Patient?page=2")))
    http = HttpClient(settings(), session, clock=FakeClock())
    with pytest.raises(FhirError):
        list(iter_resources(http, f"{BASE}/Patient"))
    assert len(session.calls) == 1


def test_pager_refuses_a_next_link_loop():
    loop = f"{BASE}/Patient?page=2"
    with pytest.raises(FhirError, match="loop"):
        run(pages(bundle([], loop), bundle([], loop), bundle([], loop)))


def test_a_search_that_delivers_fewer_than_its_total_fails():
    with pytest.raises(FhirError, match="total 3"):
        run(pages(bundle([{"resourceType": "Patient", "id": "a"}], total=3)))


def test_a_page_that_is_not_a_bundle_is_retried_then_fails():
    handler_calls = []

    def handler(call):
        handler_calls.append(call)
        return response(200, {"resourceType": "OperationOutcome"})

    with pytest.raises(FhirError, match="expected a Bundle"):
        run(handler)
    assert len(handler_calls) == 4


def test_an_entry_without_a_resource_fails_the_page():
    broken = bundle([])
    broken["entry"] = [{"fullUrl": "x"}]
    with pytest.raises(FhirError, match="no FHIR resource"):
        run(lambda call: response(200, broken))


def test_origin_comparison_knows_default_ports_and_case():
    assert same_origin("https://Host/fhir", "https://host:443/other")
    assert not same_origin("http://host/fhir", "https://host/fhir")
    assert resolve_link("Patient?x=1", "http://h/fhir") == "http://h/fhir/Patient?x=1"
