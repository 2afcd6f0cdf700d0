"""Reading local files into a snapshot: every unit read is used or recorded as a problem, never a crash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from config.errors import FhirError
from extractor import Manifest, Snapshot, read_files
from extractor.files import demo_source
from extractor.snapshot import MANIFEST, Problem

SECRET_NAME = "Hildegard Secretname"
SECRET_MRN = "MRN-778899"


def patient(pid: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, **extra}


def observation(oid: str, pid: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "subject": {"reference": f"Patient/{pid}"}}


def ndjson(*items: dict[str, Any] | bytes) -> bytes:
    lines = [item if isinstance(item, bytes) else json.dumps(item).encode() for item in items]
    return b"\n".join(lines) + b"\n"


def folder(tmp_path: Path, **files: bytes) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    for name, content in files.items():
        (source / name.replace("_", ".")).write_bytes(content)
    return source


def problems(snapshot: Snapshot) -> list[tuple[str, str, str]]:
    return [(p["file"], p["where"], p["reason"]) for p in snapshot.manifest.problems]


def test_non_utf8_line_is_a_problem_not_a_crash(tmp_path: Path):
    bad = b'{"resourceType":"Patient","id":"p2","name":[{"family":"M\xfcller"}]}'  # Latin-1, not UTF-8
    source = folder(tmp_path, Patient_ndjson=ndjson(patient("p1"), bad, patient("p3")))
    snap = read_files(source, tmp_path / "snap")
    assert [r["id"] for r in snap.iter_resources("Patient")] == ["p1", "p3"]
    assert problems(snap) == [("Patient.ndjson", "Patient.ndjson:2", "not UTF-8")]
    assert snap.manifest.read == 3


def test_a_json_file_that_is_not_utf8_is_a_problem_not_a_crash(tmp_path: Path):
    source = folder(tmp_path, bundle_json=b'{"resourceType":"Bundle","entry":[{"resource":{"id":"\xff"}}]}',
                    Patient_ndjson=ndjson(patient("p1")))
    snap = read_files(source, tmp_path / "snap")
    assert problems(snap) == [("bundle.json", "bundle.json", "not UTF-8")]
    assert snap.manifest.counts == {"Patient": 1} and snap.manifest.read == 2


def test_non_json_lines_are_problems_with_file_and_line(tmp_path: Path):
    source = folder(tmp_path, Observation_ndjson=ndjson(observation("o1", "p1"), b"{broken json line 2",
                                                        observation("o3", "p1"), b"{broken json line 4"))
    snap = read_files(source, tmp_path / "snap")
    assert problems(snap) == [("Observation.ndjson", "Observation.ndjson:2", "not valid JSON"),
                              ("Observation.ndjson", "Observation.ndjson:4", "not valid JSON")]
    assert snap.manifest.read == 4 and snap.manifest.counts == {"Observation": 2}


def test_a_resource_of_a_type_the_study_does_not_use_is_a_problem(tmp_path: Path):
    medication = {"resourceType": "Medication", "id": "m1"}
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": patient("p1")}, {"resource": {"resourceType": "Medication", "id": "m2"}}]}
    source = folder(tmp_path, Observation_ndjson=ndjson(observation("o1", "p1"), medication),
                    bundle_json=json.dumps(bundle).encode())
    snap = read_files(source, tmp_path / "snap")
    assert sorted(problems(snap)) == [
        ("Observation.ndjson", "Observation.ndjson:2", "resource type Medication is not used by the study"),
        ("bundle.json", "bundle.json#entry[1]", "resource type Medication is not used by the study"),
    ]
    assert snap.resource_types == ["Observation", "Patient"]  # no Medication.ndjson in the snapshot
    assert snap.manifest.read == 4


def test_a_bundle_inside_an_ndjson_file_is_a_problem_not_silently_dropped(tmp_path: Path):
    nested = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient("p9")}]}
    snap = read_files(folder(tmp_path, Patient_ndjson=ndjson(patient("p1"), nested)), tmp_path / "snap")
    assert problems(snap) == [("Patient.ndjson", "Patient.ndjson:2", "resource type Bundle is not used by the study")]


def test_a_resource_in_a_file_named_for_another_type_is_used(tmp_path: Path):
    source = folder(tmp_path, Observation_ndjson=ndjson(observation("o1", "p1"), patient("p1")))
    snap = read_files(source, tmp_path / "snap")
    assert snap.manifest.counts == {"Observation": 1, "Patient": 1} and problems(snap) == []


def test_read_counts_every_unit_used_or_not_and_skips_blank_lines(tmp_path: Path):
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": patient("p2")}, {"fullUrl": "urn:uuid:1"}, {"resource": patient("p3")}]}
    source = folder(
        tmp_path,
        Patient_ndjson=ndjson(patient("p1"), b"", b"   ", patient("p1"), b"nope") + b"\n\n",
        bundle_json=json.dumps(bundle).encode(),
        single_json=json.dumps(observation("o1", "p1")).encode(),
        notfhir_json=b'{"hello": "world"}',
    )
    snap = read_files(source, tmp_path / "snap")
    # 3 non-blank lines + 3 Bundle entries + 2 other JSON files
    assert snap.manifest.read == 8
    assert sum(snap.manifest.counts.values()) + len(snap.manifest.problems) == snap.manifest.read
    assert sorted(reason for _, _, reason in problems(snap)) == [
        "Bundle entry without a resource",
        "duplicate Patient id in the pull; first copy kept",
        "not a FHIR resource (no resourceType)",
        "not valid JSON",
    ]


def test_text_that_cannot_be_written_as_utf8_is_a_problem_not_a_crash(tmp_path: Path):
    lone_surrogate = b'{"resourceType":"Patient","id":"p2","name":[{"family":"\\ud800"}]}'
    deep = b"[" * 100_000 + b"]" * 100_000
    snap = read_files(folder(tmp_path, Patient_ndjson=ndjson(patient("p1"), lone_surrogate, deep)), tmp_path / "snap")
    assert problems(snap) == [
        ("Patient.ndjson", "Patient.ndjson:2", "text not encodable as UTF-8 (lone surrogate escape)"),
        ("Patient.ndjson", "Patient.ndjson:3", "JSON nested too deeply"),
    ]
    assert snap.manifest.counts == {"Patient": 1}


def test_a_bundle_whose_entry_is_not_a_list_is_one_problem(tmp_path: Path):
    source = folder(tmp_path, bundle_json=b'{"resourceType": "Bundle", "entry": {"resource": {}}}')
    snap = read_files(source, tmp_path / "snap")
    assert problems(snap) == [("bundle.json", "bundle.json", "Bundle.entry is not a list")]
    assert snap.manifest.read == 1


def test_reasons_and_locations_never_carry_the_data(tmp_path: Path):
    source = folder(
        tmp_path,
        Patient_ndjson=ndjson(
            {"resourceType": f"{SECRET_NAME} {SECRET_MRN}", "id": "x"},
            {"resourceType": "patient", "id": SECRET_MRN},
            f'{{"resourceType":"Patient","id":"{SECRET_MRN}" {SECRET_NAME}'.encode(),
            f'{{"resourceType":"Patient","name":"{SECRET_NAME}\xff"}}'.encode("latin-1"),
            patient(SECRET_MRN, name=[{"text": SECRET_NAME}]),
            patient(SECRET_MRN, name=[{"text": SECRET_NAME}]),
        ),
    )
    snap = read_files(source, tmp_path / "snap")
    assert len(snap.manifest.problems) == 5
    text = (snap.folder / MANIFEST).read_text()
    assert SECRET_NAME not in text and SECRET_MRN not in text
    assert "not a FHIR resource (resourceType is not a type name)" in text


def test_ndjson_files_named_for_other_resource_types_are_not_read_but_listed(tmp_path: Path):
    source = folder(tmp_path, Patient_ndjson=ndjson(patient("p1")),
                    Encounter_ndjson=ndjson({"resourceType": "Encounter", "id": "e1"}) * 50)
    snap = read_files(source, tmp_path / "snap")
    assert snap.manifest.read == 1 and problems(snap) == []
    assert snap.manifest.details["skipped_files"] == {
        "Encounter.ndjson": "resource type Encounter is not used by the study"}


def test_seeding_reads_every_type(tmp_path: Path):
    source = folder(tmp_path, Group_ndjson=ndjson({"resourceType": "Group", "id": "g1"}),
                    Patient_ndjson=ndjson(patient("p1"), {"resourceType": "Medication", "id": "m1"}))
    snap = read_files(source, tmp_path / "snap", types=None)
    assert snap.manifest.counts == {"Group": 1, "Medication": 1, "Patient": 1} and problems(snap) == []


def test_a_byte_order_mark_at_the_start_of_a_file_is_accepted(tmp_path: Path):
    source = folder(tmp_path, Patient_ndjson=b"\xef\xbb\xbf" + ndjson(patient("p1"), patient("p2")))
    snap = read_files(source, tmp_path / "snap")
    assert snap.manifest.counts == {"Patient": 2} and problems(snap) == []


def test_replaying_a_stored_snapshot_counts_the_lines_read_in_the_replay(tmp_path: Path):
    first = read_files(demo_source(), tmp_path / "first")
    assert first.manifest.read == sum(first.manifest.counts.values()) > 0
    with (first.folder / "Observation.ndjson").open("ab") as handle:
        handle.write(b"{broken\n")
    replay = read_files(first.folder, tmp_path / "replay")
    assert replay.manifest.read == first.manifest.read + 1
    assert problems(replay) == [("Observation.ndjson", f"Observation.ndjson:{first.manifest.counts['Observation'] + 1}",
                                 "not valid JSON")]
    assert replay.manifest.source == first.manifest.source and replay.manifest.details["replayed_from"]


def test_old_manifests_without_file_or_read_are_still_read():
    old = {"source": "s", "kind": "files", "extracted_at": "2026-01-01T00:00:00+00:00", "counts": {"Patient": 1},
           "problems": [{"where": "Observation.ndjson:12", "reason": "not valid JSON"},
                        {"where": "Observation", "reason": "duplicate Observation id in the pull; first copy kept"},
                        {"where": "b.json#entry[3]", "reason": "not a FHIR resource (no resourceType)"}]}
    manifest = Manifest.from_dict(old)
    assert manifest.read == 0
    assert [p["file"] for p in manifest.problems] == ["Observation.ndjson", "Observation", "b.json"]
    assert manifest.problems[0] == {"file": "Observation.ndjson", "where": "Observation.ndjson:12",
                                    "reason": "not valid JSON"}
    assert Manifest.from_dict(manifest.as_dict()) == manifest


def test_a_problem_keeps_an_explicit_file_and_serialises_all_three_fields():
    problem = Problem("odd:name.ndjson:7", "not UTF-8", "odd:name.ndjson")
    assert problem.as_dict() == {"file": "odd:name.ndjson", "where": "odd:name.ndjson:7", "reason": "not UTF-8"}
    assert Problem.from_dict(problem.as_dict()) == problem


@pytest.mark.parametrize("content", [b"[]", b'{"source": "s"}', b'"text"'])
def test_a_source_folder_with_a_bogus_manifest_is_read_as_plain_files(tmp_path: Path, content: bytes):
    source = folder(tmp_path, Patient_ndjson=ndjson(patient("p1")), manifest_json=content)
    snap = read_files(source, tmp_path / "snap")
    assert snap.manifest.kind == "files" and snap.manifest.counts == {"Patient": 1}


def test_a_damaged_snapshot_file_fails_naming_file_and_line_not_a_traceback(tmp_path: Path):
    snap = read_files(folder(tmp_path, Patient_ndjson=ndjson(patient("p1"))), tmp_path / "snap")
    with (snap.folder / "Patient.ndjson").open("ab") as handle:
        handle.write(b'{"resourceType":"Patient","id":"\xff"}\n')
    with pytest.raises(FhirError, match=r"Patient\.ndjson:2: not UTF-8"):
        list(Snapshot.open(snap.folder).iter_resources("Patient"))


def test_a_source_that_does_not_exist_is_one_line(tmp_path: Path):
    with pytest.raises(FhirError, match="source does not exist"):
        read_files(tmp_path / "nowhere", tmp_path / "snap")


def test_a_type_copied_from_another_snapshot_is_the_same_bytes_and_closed_for_adding(tmp_path: Path):
    from extractor import SnapshotWriter

    first = SnapshotWriter(tmp_path / "a")
    for i in range(3):
        first.add(observation(f"o{i}", "p1"))
    first.add(patient("p1"))
    earlier = first.finish("src", "fhir-search", "2026-01-01T00:00:00.000Z")
    again = SnapshotWriter(tmp_path / "b")
    assert again.copy_type(earlier, "Observation") == 3
    assert again.copy_type(earlier, "Condition") == 0  # no such file: nothing to copy
    with pytest.raises(ValueError, match="copied"):
        again.add(observation("o9", "p1"))
    again.add(patient("p1"))
    later = again.finish("src", "fhir-search", "2026-01-02T00:00:00.000Z")
    assert later.manifest.sha256 == earlier.manifest.sha256 and later.manifest.counts == earlier.manifest.counts
