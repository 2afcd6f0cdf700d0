"""The search pull and the seeder against an in-memory fake FHIR server (the real one: test_extractor_hapi)."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
from stub_http import FakeFhirServer, StubSession, cohort_resources, settings

from config.errors import FhirError
from config.fhir import BasicAuth, Secret
from config.study import load_study
from extractor import pull, seed
from extractor.progress import Progress
from extractor.search import batches

STUDY = load_study()
INDEX = sorted(STUDY.index_codes)[0]


def snapshot_ids(snapshot) -> dict[str, set[str]]:
    return {t: {r["id"] for r in snapshot.iter_resources(t)} for t in snapshot.resource_types}


def test_pull_gets_exactly_the_cohort_across_many_pages(tmp_path: Path):
    server = FakeFhirServer(cohort_resources(23, noise=7, index_code=INDEX))
    session = StubSession(server)
    snap = pull(settings(page_size=3, patient_batch_size=5, concurrency=1), STUDY, tmp_path / "snap",
                session=session)
    ids = snapshot_ids(snap)
    assert len(ids["Patient"]) == 23 and all(int(p[1:]) < 23 for p in ids["Patient"])
    assert len(ids["Observation"]) == 46 and len(ids["Procedure"]) == 23 and len(ids["Condition"]) == 23
    assert snap.manifest.kind == "fhir-search" and snap.manifest.counts["Observation"] == 46
    assert snap.manifest.details["pages"] > 30
    assert set(snap.manifest.details["watermarks"]) == {"Patient", "Procedure", "Condition", "Observation"}
    assert not any("_id" in c.url and c.url.count("/Patient/") for c in session.calls)  # no per-resource reads


def test_concurrent_pull_writes_the_same_files_as_the_sequential_one(tmp_path: Path):
    resources = cohort_resources(40, noise=5, index_code=INDEX)
    snaps = []
    for concurrency in (1, 6):
        s = settings(page_size=4, patient_batch_size=3, concurrency=concurrency)
        snaps.append(pull(s, STUDY, tmp_path / f"c{concurrency}", session=StubSession(FakeFhirServer(resources))))
    assert snaps[0].manifest.sha256 == snaps[1].manifest.sha256
    for name in ("Patient", "Observation"):
        first = (snaps[0].folder / f"{name}.ndjson").read_bytes()
        assert first == (snaps[1].folder / f"{name}.ndjson").read_bytes()


def test_patient_batches_are_sized_from_a_count_so_that_each_search_fits_in_one_page(tmp_path: Path):
    server = FakeFhirServer(cohort_resources(12, noise=3, index_code=INDEX))  # 2 Observations per patient
    session = StubSession(server)
    snap = pull(settings(page_size=8, patient_batch_size=10), STUDY, tmp_path / "snap", session=session)
    assert snap.manifest.details["patients_per_search"] == {"Patient": 6, "Procedure": 6, "Condition": 6,
                                                            "Observation": 3}  # 8 * 0.75 / per patient
    searches = [c.url for c in session.calls if "_summary" not in c.url and "code=" not in c.url]
    assert not any("_offset=" in url for url in searches)  # no second pages
    assert len(ids := snapshot_ids(snap)["Observation"]) == 24 and len(searches) == 2 + 2 + 2 + 4
    assert ids == {f"p{i:04d}-obs{j}" for i in range(12) for j in range(2)}


def test_a_server_without_counts_gets_patient_batch_size_patients_per_search(tmp_path: Path):
    server = FakeFhirServer(cohort_resources(12, index_code=INDEX), counts=False)
    snap = pull(settings(page_size=8, patient_batch_size=10), STUDY, tmp_path / "snap", session=StubSession(server))
    assert snap.manifest.details["patients_per_search"] == {"Patient": 6, "Procedure": 10, "Condition": 10,
                                                            "Observation": 10}
    assert len(snapshot_ids(snap)["Observation"]) == 24


def test_a_search_pull_counts_every_resource_received_as_read(tmp_path: Path):
    server = FakeFhirServer(cohort_resources(7, noise=3, index_code=INDEX))
    snap = pull(settings(page_size=3, patient_batch_size=2), STUDY, tmp_path / "snap", session=StubSession(server))
    assert snap.manifest.read == sum(snap.manifest.counts.values()) == 7 * 5
    assert snap.manifest.problems == []


def test_a_resource_the_server_repeats_is_a_problem_grouped_by_resource_type(tmp_path: Path):
    server = FakeFhirServer(cohort_resources(3, index_code=INDEX))

    def repeating(call):
        answer = server(call)
        if "/Observation?" in call.url and "_summary=count" not in call.url:
            body = answer.json()
            body["entry"].append(body["entry"][0])
            body["total"] += 1
            answer._content = json.dumps(body).encode()
        return answer

    snap = pull(settings(), STUDY, tmp_path / "snap", session=StubSession(repeating))
    assert snap.manifest.problems == [{"file": "Observation", "where": "Observation",
                                       "reason": "duplicate Observation id in the pull; first copy kept"}]
    assert snap.manifest.read == sum(snap.manifest.counts.values()) + 1


def test_a_server_that_ignores_the_patient_filter_fails_the_pull(tmp_path: Path):
    server = FakeFhirServer(cohort_resources(3, noise=2, index_code=INDEX), ignore_patient=True)
    with pytest.raises(FhirError, match="patients not asked for"):
        pull(settings(), STUDY, tmp_path / "snap", session=StubSession(server))
    assert not (tmp_path / "snap" / "manifest.json").exists()


def test_a_failed_pull_leaves_no_manifest_behind(tmp_path: Path):
    server = FakeFhirServer(cohort_resources(3, index_code=INDEX))

    def flaky(call):
        if "Observation" in call.url:
            from stub_http import response
            return response(503)
        return server(call)

    with pytest.raises(FhirError):
        pull(settings(max_attempts=2, backoff_base=0, backoff_cap=0), STUDY, tmp_path / "snap",
             session=StubSession(flaky))
    assert not (tmp_path / "snap" / "manifest.json").exists()


def test_manifest_and_logs_never_contain_the_password(tmp_path: Path, caplog):
    server = FakeFhirServer(cohort_resources(2, index_code=INDEX))
    s = settings(auth=BasicAuth("svc", Secret("env PW", "pw-VERY-secret")))
    with caplog.at_level(logging.DEBUG):
        snap = pull(s, STUDY, tmp_path / "snap", session=StubSession(server), progress=True)
    manifest = (snap.folder / "manifest.json").read_text()
    assert "pw-VERY-secret" not in manifest and "pw-VERY-secret" not in caplog.text
    assert json.loads(manifest)["details"]["settings"]["auth"]["password"] == "<env PW>"


def test_seed_sends_transactions_of_puts_patients_first_in_batches(tmp_path: Path):
    source = tmp_path / "src"
    source.mkdir()
    resources = cohort_resources(5, noise=1, index_code=INDEX)
    for rtype in ("Observation", "Patient", "Procedure", "Condition"):
        lines = [json.dumps(r) for r in resources if r["resourceType"] == rtype]
        (source / f"{rtype}.ndjson").write_text("\n".join(lines) + "\n")
    server = FakeFhirServer()
    counts = seed(source, settings(), session=StubSession(server), batch_size=4)
    assert counts == {"Patient": 6, "Condition": 6, "Procedure": 6, "Observation": 12}
    first_types = [e["resource"]["resourceType"] for e in server.transactions[0]["entry"]]
    assert set(first_types) == {"Patient"}
    assert all(len(t["entry"]) <= 4 for t in server.transactions)
    assert all(e["request"]["method"] == "PUT" for t in server.transactions for e in t["entry"])
    before = len(server.store)
    seed(source, settings(), session=StubSession(server), batch_size=4)
    assert len(server.store) == before == 30


def test_seed_refuses_a_broken_source_before_loading_anything(tmp_path: Path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "Patient.ndjson").write_text('{"resourceType": "Patient", "id": "a"}\n{not json\n')
    server = FakeFhirServer()
    with pytest.raises(FhirError, match="unusable"):
        seed(source, settings(), session=StubSession(server))
    assert server.transactions == []


def test_batches_respect_count_and_length_limits():
    assert [len(b) for b in batches([f"id{i}" for i in range(7)], 3)] == [3, 3, 1]
    long_ids = ["x" * 1000 for _ in range(5)]
    assert all(sum(len(i) + 1 for i in b) <= 3000 for b in batches(long_ids, 100))


def test_progress_logs_counts_but_never_ids_when_not_a_terminal(caplog):
    meter = Progress(True, stream=io.StringIO())
    assert not meter.live
    with caplog.at_level(logging.INFO):
        meter.set_phase("fetching")
        meter.add("Observation", 5, pages=1)
        meter.close()
    assert "5 resources" in caplog.text and "Observation 5" in caplog.text


def test_progress_draws_a_live_line_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    meter = Progress(True, stream=stream)
    assert meter.live
    meter.set_phase("fetching resources of 3 patients")
    meter.add("Patient", 3, pages=1)
    meter.close()
    assert "fetching resources of 3 patients: 3 resources (Patient 3)" in stream.getvalue()
    assert stream.getvalue().startswith("\r\x1b[K") and stream.getvalue().endswith("\n")
