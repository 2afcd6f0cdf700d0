"""Integration tests against the real HAPI FHIR server: seeding, search pulls, paging, concurrency."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hapi_data import STUDY, assert_pull_matches, count_on_server, expected_cohort, hapi_settings

from extractor import demo_source, pull, seed

pytestmark = pytest.mark.hapi

def test_seeding_the_demo_twice_creates_no_duplicates(hapi_url: str, demo_seeded: list[dict[str, Any]]):
    by_type: dict[str, list[str]] = {}
    for resource in demo_seeded:
        by_type.setdefault(resource["resourceType"], []).append(resource["id"])
    before = {t: count_on_server(hapi_url, t, ids) for t, ids in by_type.items()}
    seed(demo_source(), hapi_settings(hapi_url))
    after = {t: count_on_server(hapi_url, t, ids) for t, ids in by_type.items()}
    assert before == after == {t: len(ids) for t, ids in by_type.items()}


def test_pull_of_the_demo_cohort_has_exactly_the_demo_resources(
    hapi_url: str, demo_seeded: list[dict[str, Any]], tmp_path: Path
):
    snapshot = pull(hapi_settings(hapi_url), STUDY, tmp_path / "snap")
    expected = expected_cohort(demo_seeded, STUDY)
    assert expected["Patient"], "the demo cohort has patients with an index procedure"
    assert_pull_matches(snapshot, expected)
    assert snapshot.manifest.source == hapi_url and snapshot.manifest.kind == "fhir-search"
    assert snapshot.manifest.extracted_at.endswith("Z")


def test_synthetic_cohort_pulls_exactly_the_right_patients_across_many_pages(
    hapi_url: str, synthetic_cohort: dict[str, Any], tmp_path: Path
):
    settings = hapi_settings(hapi_url, page_size=7, patient_batch_size=60)
    snapshot = pull(settings, synthetic_cohort["study"], tmp_path / "snap")
    assert_pull_matches(snapshot, synthetic_cohort["expected"])
    total = sum(len(v) for v in synthetic_cohort["expected"].values())
    assert snapshot.manifest.details["pages"] >= total // 7


def test_concurrent_pull_equals_the_sequential_pull(
    hapi_url: str, synthetic_cohort: dict[str, Any], tmp_path: Path
):
    study = synthetic_cohort["study"]
    sequential = pull(hapi_settings(hapi_url, page_size=50, patient_batch_size=25), study, tmp_path / "seq")
    concurrent = pull(hapi_settings(hapi_url, page_size=50, patient_batch_size=25, concurrency=6), study,
                      tmp_path / "par")
    assert sequential.manifest.sha256 == concurrent.manifest.sha256
    assert_pull_matches(concurrent, synthetic_cohort["expected"])
