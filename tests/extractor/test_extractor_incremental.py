"""Incremental pulls: after changes, additions and deletions on HAPI, incremental == full pull."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hapi_data import (
    canonical_lines,
    expected_cohort,
    hapi_settings,
    namespace,
    namespaced_study,
    new_tag,
    synthetic,
    write_ndjson,
)
from server_changes import assert_changes_applied, change_add_delete
from stub_http import FakeFhirServer, StubSession, cohort_resources, settings

from config.study import load_study
from extractor import pull, seed
from extractor.incremental import since_marks

STUDY = load_study()
@pytest.mark.hapi
def test_incremental_pull_after_change_add_and_delete_equals_a_full_pull(hapi_url: str, tmp_path: Path):
    tag = new_tag("inc")
    resources = namespace(synthetic(24, 3, 6), tag)
    study = namespaced_study(tag)
    seed(write_ndjson(resources, tmp_path / "data"), hapi_settings(hapi_url))
    cohort = sorted(expected_cohort(resources, study)["Patient"])
    noise = sorted({r["id"] for r in resources if r["resourceType"] == "Patient"} - set(cohort))
    inc_settings = hapi_settings(hapi_url, incremental=True, incremental_overlap=0.0, patient_batch_size=7,
                                 page_size=20)
    before = pull(inc_settings, study, tmp_path / "night1")
    time.sleep(1.2)

    changes = change_add_delete(hapi_url, resources, tag, cohort, noise)

    incremental = pull(inc_settings, study, tmp_path / "night2", previous=before)
    full = pull(hapi_settings(hapi_url), study, tmp_path / "full")
    assert canonical_lines(incremental) == canonical_lines(full)
    info = incremental.manifest.details["incremental"]
    assert info["new_patients"] == 1
    fetched = sum(info["changed"].values())
    assert fetched < sum(before.manifest.counts.values()) / 2  # it really fetched only changes
    assert incremental.manifest.read == fetched  # what was received, not the previous snapshot again
    assert_changes_applied(incremental, changes, cohort, noise)


def test_an_incremental_pull_from_another_server_falls_back_to_a_full_pull(tmp_path: Path):
    index = sorted(STUDY.index_codes)[0]
    server = FakeFhirServer(cohort_resources(3, index_code=index))
    first_pull = pull(settings(), STUDY, tmp_path / "a", session=StubSession(server))
    assert isinstance(since_marks(first_pull, "http://elsewhere/fhir", 0), str)
    other = settings(base_url="http://fhir.test/fhir", incremental=True)
    object.__setattr__(first_pull.manifest, "source", "http://elsewhere/fhir")
    again = pull(other, STUDY, tmp_path / "b", session=StubSession(server), previous=first_pull)
    assert "another server" in again.manifest.details["incremental"]["fallback"]
    assert again.manifest.counts == first_pull.manifest.counts


def test_watermarks_are_server_times_minus_the_overlap(tmp_path: Path):
    index = sorted(STUDY.index_codes)[0]
    server = FakeFhirServer(cohort_resources(2, index_code=index))
    snap = pull(settings(), STUDY, tmp_path / "a", session=StubSession(server))
    assert set(snap.manifest.details["watermarks"].values()) == {"2026-01-01T00:00:00.000Z"}  # Bundle.meta
    marks = since_marks(snap, snap.manifest.source, 300)
    assert marks == dict.fromkeys(("Patient", "Procedure", "Condition", "Observation"), "2025-12-31T23:55:00.000Z")
