"""Bulk Data $export mode: against real HAPI (equals the search pull) and a stub (polling, errors, cleanup)."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from hapi_data import (
    assert_pull_matches,
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
from stub_http import BASE, FakeClock, StubSession, response, settings

from config.errors import FhirError
from config.study import load_study
from extractor import pull, seed
from extractor.http import make_session

STUDY = load_study()
INDEX_SYSTEM, INDEX_CODE = sorted(STUDY.index_codes)[0]


@pytest.mark.hapi
@pytest.mark.timeout(900)  # HAPI's export jobs on a loaded 2-core machine: minutes, not seconds
@pytest.mark.parametrize("level", ["group", "system"])
def test_bulk_export_pull_equals_the_search_pull(
    hapi_url: str, synthetic_cohort: dict[str, Any], tmp_path: Path, level: str
):
    study = synthetic_cohort["study"]
    searched = pull(hapi_settings(hapi_url), study, tmp_path / "search")
    bulk_settings = hapi_settings(hapi_url, mode="bulk", bulk_level=level, bulk_group_id=synthetic_cohort["group"])
    exported = pull(bulk_settings, study, tmp_path / "bulk")
    assert exported.manifest.kind == "fhir-bulk"
    assert canonical_lines(exported) == canonical_lines(searched)
    assert_pull_matches(exported, synthetic_cohort["expected"])


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def recording_session(settings_: Any) -> tuple[requests.Session, list[tuple[str, str, dict[str, Any]]]]:
    """A real session that notes every request (method, url, params)."""
    session = make_session(settings_)
    calls: list[tuple[str, str, dict[str, Any]]] = []
    original = session.request

    def request(method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        calls.append((method, url, dict(kwargs.get("params") or {})))
        return original(method, url, *args, **kwargs)

    session.request = request  # type: ignore[method-assign]
    return session, calls


@pytest.mark.hapi
@pytest.mark.timeout(900)  # HAPI's export jobs on a loaded 2-core machine: minutes, not seconds
@pytest.mark.parametrize("level", ["group", "system"])
def test_bulk_incremental_pull_after_change_add_and_delete_equals_a_full_bulk_pull(
    hapi_url: str, tmp_path: Path, level: str
):
    tag = new_tag("binc")
    resources = namespace(synthetic(24, 5, 6), tag)
    patients = [r["id"] for r in resources if r["resourceType"] == "Patient"]
    group = {"resourceType": "Group", "id": f"{tag}-all", "type": "person", "actual": True,
             "member": [{"entity": {"reference": f"Patient/{pid}"}} for pid in patients]}
    study = namespaced_study(tag)
    seed(write_ndjson([*resources, group], tmp_path / "data"), hapi_settings(hapi_url))
    cohort = sorted(expected_cohort(resources, study)["Patient"])
    noise = sorted(set(patients) - set(cohort))
    full_settings = hapi_settings(hapi_url, mode="bulk", bulk_level=level, bulk_group_id=group["id"])
    inc_settings = hapi_settings(hapi_url, mode="bulk", bulk_level=level, bulk_group_id=group["id"],
                                 incremental=True, incremental_overlap=0.0, patient_batch_size=7, page_size=20)
    before = pull(inc_settings, study, tmp_path / "night1")  # no previous snapshot: a full export
    assert before.manifest.details["bulk"]["since"] is None
    time.sleep(1.2)

    changes = change_add_delete(hapi_url, resources, tag, cohort, noise)

    session, calls = recording_session(inc_settings)
    with session:
        incremental = pull(inc_settings, study, tmp_path / "night2", previous=before, session=session)
    full = pull(full_settings, study, tmp_path / "full")
    assert incremental.manifest.kind == "fhir-bulk"
    assert canonical_lines(incremental) == canonical_lines(full)

    details = incremental.manifest.details
    marks = before.manifest.details["watermarks"]
    since = details["bulk"]["since"]
    assert instant(since) == min(map(instant, marks.values()))  # overlap 0: the previous pull's earliest mark
    kickoffs = [params for method, url, params in calls if method == "GET" and url.endswith("/$export")]
    assert [k.get("_since") for k in kickoffs] == [since]
    assert set(details["watermarks"]) == {"Patient", "Procedure", "Condition", "Observation"}
    assert all(instant(mark) > instant(since) for mark in details["watermarks"].values())
    info = details["incremental"]
    assert info["new_patients"] == 1
    assert sum(info["changed"].values()) < sum(before.manifest.counts.values()) / 2  # only the changes
    assert before.manifest.read == before.manifest.details["bulk"]["exported"]
    assert incremental.manifest.read >= details["bulk"]["exported"] + 1  # the export and the joining patient
    assert_changes_applied(incremental, changes, cohort, noise)


class FakeExportServer:
    """A stub Bulk Data server: 202 twice with Retry-After/X-Progress, then a manifest."""

    def __init__(self, *, errors: bool = False, bad_file: int = 0) -> None:
        self.polls = 0
        self.deleted = False
        self.errors = errors
        self.bad_file = bad_file  # serve this many invalid copies of the Patient file first
        patient = {"resourceType": "Patient", "id": "p1"}
        noise = {"resourceType": "Patient", "id": "p2"}
        proc = {"resourceType": "Procedure", "id": "x1", "subject": {"reference": "Patient/p1"},
                "code": {"coding": [{"system": INDEX_SYSTEM, "code": INDEX_CODE}]}}
        self.files = {"Patient": [patient, noise], "Procedure": [proc]}

    def __call__(self, call):
        if "$export-poll" in call.url and call.method == "DELETE":
            self.deleted = True
            return response(202)
        if "$export-poll" in call.url:
            self.polls += 1
            if self.polls < 3:
                return response(202, headers={"Retry-After": "5", "X-Progress": f"{self.polls * 40}% done"})
            body = {"transactionTime": "2026-01-02T03:04:05.000Z", "requiresAccessToken": True,
                    "output": [{"type": t, "url": f"{BASE}/files/{t}"} for t in self.files],
                    "error": [{"type": "OperationOutcome", "url": f"{BASE}/files/err"}] if self.errors else []}
            return response(200, body)
        if "/files/err" in call.url:
            outcome = {"resourceType": "OperationOutcome", "issue": [{"diagnostics": "Observation search failed"}]}
            return response(200, raw=json.dumps(outcome).encode())
        if "/files/" in call.url:
            rtype = call.url.rsplit("/", 1)[1]
            if rtype == "Patient" and self.bad_file > 0:
                self.bad_file -= 1
                return response(200, raw=b'{"resourceType":"Patient","id":"p1"}\n{"resourceTy')
            return response(200, raw="\n".join(json.dumps(r) for r in self.files[rtype]).encode())
        if "$export" in call.url:
            return response(202, headers={"Content-Location": f"{BASE}/$export-poll-status?_jobId=1"})
        return response(404)


def run_stub(server: FakeExportServer, tmp_path: Path):
    clock = FakeClock()
    snap = pull(settings(mode="bulk", backoff_base=0, backoff_cap=0), STUDY, tmp_path / "snap",
                session=StubSession(server), clock=clock)
    return snap, clock


def test_bulk_polls_honouring_retry_after_then_filters_to_the_cohort_and_deletes_the_job(tmp_path: Path):
    server = FakeExportServer()
    snap, clock = run_stub(server, tmp_path)
    assert clock.sleeps == [5.0, 5.0]
    assert snap.manifest.counts == {"Patient": 1, "Procedure": 1}
    assert snap.manifest.read == 3  # every exported line; the noise patient is read but not in the cohort
    assert snap.manifest.extracted_at == "2026-01-02T03:04:05.000Z"
    assert server.deleted
    exported = sum(len("\n".join(json.dumps(r) for r in rs)) for rs in server.files.values())
    assert snap.manifest.details["http"]["bytes"] >= exported  # the streamed files count as received


def test_bulk_error_outputs_fail_the_pull_and_still_delete_the_job(tmp_path: Path):
    server = FakeExportServer(errors=True)
    with pytest.raises(FhirError, match="Observation search failed"):
        run_stub(server, tmp_path)
    assert server.deleted
    assert not (tmp_path / "snap" / "manifest.json").exists()


def test_a_truncated_export_file_is_downloaded_again(tmp_path: Path):
    server = FakeExportServer(bad_file=2)
    snap, _ = run_stub(server, tmp_path)
    assert snap.manifest.counts["Patient"] == 1 and server.bad_file == 0


def test_an_export_file_that_stays_broken_fails_the_pull(tmp_path: Path):
    with pytest.raises(FhirError, match="not valid JSON"):
        run_stub(FakeExportServer(bad_file=99), tmp_path)


def test_a_bulk_incremental_pull_without_a_usable_previous_snapshot_falls_back_to_a_full_export(tmp_path: Path):
    first_snap, _ = run_stub(FakeExportServer(), tmp_path)
    object.__setattr__(first_snap.manifest, "source", "http://elsewhere/fhir")
    again = pull(settings(mode="bulk", incremental=True, backoff_base=0, backoff_cap=0), STUDY, tmp_path / "again",
                 session=StubSession(FakeExportServer()), clock=FakeClock(), previous=first_snap)
    assert "another server" in again.manifest.details["incremental"]["fallback"]
    assert again.manifest.details["bulk"]["since"] is None
    assert again.manifest.counts == first_snap.manifest.counts
