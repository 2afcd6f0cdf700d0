"""Incremental pulls: after changes, additions and deletions (on HAPI and on a stub server), incremental ==
full pull; deletions are found by counting the cohort's resources, never by reading server-wide history."""

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
from stub_http import Call, FakeFhirServer, StubSession, cohort_resources, settings

from config.study import load_study
from extractor import Snapshot, pull, seed
from extractor.incremental import since_marks
from extractor.recount import LEAF_PATIENTS

STUDY = load_study()
INDEX = sorted(STUDY.index_codes)[0]
CHANGED = {"lastUpdated": "2026-01-02T00:00:00.000Z"}  # after the stub's server time (2026-01-01)


def night(
    server: object, folder: Path, previous: Snapshot | None = None, **overrides: object
) -> tuple[Snapshot, list[Call]]:
    """One incremental pull from the stub server (a full one without ``previous``) and its requests."""
    session = StubSession(server)  # type: ignore[arg-type]
    values = {"incremental": True, "incremental_overlap": 0.0, "page_size": 50, "patient_batch_size": 16,
              "concurrency": 1, **overrides}
    return pull(settings(**values), STUDY, folder, session=session, previous=previous), session.calls


def full_pull(server: FakeFhirServer, folder: Path) -> Snapshot:
    return pull(settings(), STUDY, folder, session=StubSession(server))


def ids(snapshot: Snapshot, rtype: str) -> set[str]:
    return {r["id"] for r in snapshot.iter_resources(rtype)}


def changed(server: FakeFhirServer, rtype: str, rid: str, **fields: object) -> None:
    server.store[(rtype, rid)] = {**server.store[(rtype, rid)], **fields, "meta": CHANGED}


def test_an_unchanged_server_costs_one_count_per_type_and_batch_and_reads_no_history(tmp_path: Path):
    server = FakeFhirServer(cohort_resources(30, noise=40, index_code=INDEX))
    first, _ = night(server, tmp_path / "a")
    again, calls = night(server, tmp_path / "b", previous=first)
    assert again.manifest.sha256 == first.manifest.sha256  # copied line for line
    assert not any("_history" in c.url for c in calls)
    assert len([c for c in calls if "_summary=count" in c.url]) == 4 * 2  # 30 patients in batches of 16
    info = again.manifest.details["incremental"]
    assert info["recount"] == {"counts": 8, "batches_with_changes": {}, "patients_listed": {}}
    assert sum(info["changed"].values()) == 0 and again.manifest.read == 0


def test_a_deleted_resource_is_found_by_halving_the_batch_and_listing_a_few_patients(tmp_path: Path):
    server = FakeFhirServer(cohort_resources(30, noise=10, index_code=INDEX))
    first, _ = night(server, tmp_path / "a")
    del server.store[("Observation", "p0013-obs1")]
    changed(server, "Condition", "p0002-cond", note=[{"text": "amended"}])
    again, calls = night(server, tmp_path / "b", previous=first)
    assert canonical_lines(again) == canonical_lines(full_pull(server, tmp_path / "full"))
    assert "p0013-obs1" not in ids(again, "Observation") and len(ids(again, "Observation")) == 59
    recount = again.manifest.details["incremental"]["recount"]
    assert recount["batches_with_changes"] == {"Observation": 1}
    assert 0 < recount["patients_listed"]["Observation"] <= LEAF_PATIENTS
    listings = [c.url for c in calls if "_elements=subject" in c.url and "code=" not in c.url]
    assert len(listings) == 1 and "Observation?" in listings[0]
    assert again.manifest.details["incremental"]["dropped_ids"]["Observation"] == 1


def test_resources_moved_out_of_the_cohort_or_between_its_patients_are_merged_like_a_full_pull(tmp_path: Path):
    server = FakeFhirServer(cohort_resources(30, noise=10, index_code=INDEX))
    first, _ = night(server, tmp_path / "a")
    changed(server, "Condition", "p0001-cond", subject={"reference": "Patient/p0035"})  # to a noise patient
    changed(server, "Observation", "p0002-obs0", subject={"reference": "Patient/p0029"})  # to another batch
    changed(server, "Procedure", "p0004-proc", code={"coding": [{"system": "urn:other", "code": "x"}]})  # leaves
    changed(server, "Procedure", "p0036-proc", code={"coding": [{"system": INDEX[0], "code": INDEX[1]}]})  # joins
    again, _ = night(server, tmp_path / "b", previous=first)
    assert canonical_lines(again) == canonical_lines(full_pull(server, tmp_path / "full"))
    assert "p0001-cond" not in ids(again, "Condition") and "p0002-obs0" in ids(again, "Observation")
    assert "p0004" not in ids(again, "Patient") and "p0036" in ids(again, "Patient")
    assert again.manifest.details["incremental"]["new_patients"] == 1


def test_a_server_that_sends_no_count_gets_whole_batches_listed_with_the_same_result(tmp_path: Path):
    server = FakeFhirServer(cohort_resources(20, noise=5, index_code=INDEX), counts=False)
    first, _ = night(server, tmp_path / "a")
    del server.store[("Observation", "p0007-obs0")]
    again, _ = night(server, tmp_path / "b", previous=first)
    assert canonical_lines(again) == canonical_lines(full_pull(server, tmp_path / "full"))
    assert again.manifest.details["incremental"]["recount"]["patients_listed"] == dict.fromkeys(
        ("Condition", "Observation", "Patient", "Procedure"), 20)


def test_a_deletion_hidden_by_a_late_addition_is_found_on_the_next_pull(tmp_path: Path):
    """Counting compares states: what one night misses stays a difference the next night sees."""
    server = FakeFhirServer(cohort_resources(12, index_code=INDEX))
    first, _ = night(server, tmp_path / "a")
    del server.store[("Observation", "p0003-obs0")]
    late = {"resourceType": "Observation", "id": "p0003-late", "subject": {"reference": "Patient/p0003"},
            "meta": CHANGED}

    def adds_before_counting(call: Call) -> object:
        if "_summary=count" in call.url:
            server.store[("Observation", "p0003-late")] = late  # lands after the changes were fetched
        return server(call)

    second, _ = night(adds_before_counting, tmp_path / "b", previous=first)
    assert "p0003-obs0" in ids(second, "Observation")  # hidden: one gone, one unseen, same count
    third, _ = night(server, tmp_path / "c", previous=second)
    assert canonical_lines(third) == canonical_lines(full_pull(server, tmp_path / "full"))
    assert "p0003-obs0" not in ids(third, "Observation") and "p0003-late" in ids(third, "Observation")
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
