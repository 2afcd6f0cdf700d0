"""The server changes the incremental tests (search and Bulk) make on HAPI between two nights, and the
check that an incremental pull applied them."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import requests

from extractor.values import owner

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


@dataclass(frozen=True)
class Changes:
    added: str  # an Observation added to a cohort patient
    deleted: str  # an Observation deleted
    moved: str  # a Condition moved to a noise patient (leaves the pull)


def change_add_delete(
    hapi_url: str, resources: list[dict[str, Any]], tag: str, cohort: list[str], noise: list[str]
) -> Changes:
    """The server changes every incremental test (search and Bulk) makes between two nights.

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
