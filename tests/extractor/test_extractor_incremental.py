"""Incremental pulls: after changes, additions and deletions on HAPI, incremental == full pull."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
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
from stub_http import FakeFhirServer, StubSession, cohort_resources, settings

from config.study import load_study
from extractor import pull, seed
from extractor.incremental import since_marks
from extractor.search import owner

STUDY = load_study()
FHIR = {"Accept": "application/fhir+json", "Content-Type": "application/fhir+json"}


def put(url: str, resource: dict[str, Any]) -> None:
    answer = requests.put(f"{url}/{resource['resourceType']}/{resource['id']}", json=resource, headers=FHIR,
                          timeout=60)
    assert answer.status_code in (200, 201), answer.text[:300]


def delete(url: str, rtype: str, rid: str) -> bool:
    answer = requests.delete(f"{url}/{rtype}/{rid}", headers=FHIR, timeout=60)
    return answer.status_code in (200, 202, 204)


def first(resources: list[dict[str, Any]], rtype: str, patient: str) -> dict[str, Any]:
    return next(r for r in resources if r["resourceType"] == rtype and owner(r) == patient)


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


@dataclass(frozen=True)
class Changes:
    added: str  # an Observation added to a cohort patient
    deleted: str  # an Observation deleted
    moved: str  # a Condition moved to a noise patient (leaves the pull)


def change_add_delete(
    hapi_url: str, resources: list[dict[str, Any]], tag: str, cohort: list[str], noise: list[str]
) -> Changes:
    """The server changes every incremental test makes between two nights (also used by the bulk tests).

    cohort[0]'s Observation changes; cohort[1]'s Condition moves to noise[0]; an Observation is added;
    noise[1] joins the cohort with a new index procedure; cohort[3] loses an Observation; cohort[4] leaves
    the cohort (its index procedures are recoded).
    """
    # change: an Observation gets a new note; a Condition moves to a noise patient (leaves the pull)
    changed = copy.deepcopy(first(resources, "Observation", cohort[0]))
    changed["note"] = [{"text": "amended"}]
    put(hapi_url, changed)
    moved = copy.deepcopy(first(resources, "Condition", cohort[1]))
    moved["subject"] = {"reference": f"Patient/{noise[0]}"}
    put(hapi_url, moved)
    # add: an Observation for a cohort patient, and a noise patient gains an index procedure (joins)
    added = copy.deepcopy(changed)
    added["id"] = f"{tag}-added-obs"
    put(hapi_url, added)
    joining = copy.deepcopy(first(resources, "Procedure", cohort[2]))
    joining["id"] = f"{tag}-joining-proc"
    joining["subject"] = {"reference": f"Patient/{noise[1]}"}
    put(hapi_url, joining)
    # delete: an Observation; and a patient's index procedure is recoded (the patient leaves the cohort)
    deletable = [r for r in resources if r["resourceType"] == "Observation" and owner(r) == cohort[3]]
    deleted = next(r["id"] for r in deletable if delete(hapi_url, "Observation", r["id"]))
    for proc in (r for r in resources if r["resourceType"] == "Procedure" and owner(r) == cohort[4]):
        recoded = copy.deepcopy(proc)
        recoded["code"] = {"coding": [{"system": "urn:other", "code": "not-an-index-procedure"}]}
        put(hapi_url, recoded)
    return Changes(added=added["id"], deleted=deleted, moved=moved["id"])


def assert_changes_applied(snapshot: Any, changes: Changes, cohort: list[str], noise: list[str]) -> None:
    ids = {r["id"] for r in snapshot.iter_resources("Observation")}
    assert changes.added in ids and changes.deleted not in ids
    assert changes.moved not in {r["id"] for r in snapshot.iter_resources("Condition")}
    assert noise[1] in {r["id"] for r in snapshot.iter_resources("Patient")}
    assert cohort[4] not in {r["id"] for r in snapshot.iter_resources("Patient")}
