"""Extraction: FHIR servers or local files into a raw snapshot (NDJSON per type + manifest)."""

from extractor.files import demo_source, read_files
from extractor.pull import pull
from extractor.seed import seed
from extractor.snapshot import STUDY_RESOURCE_TYPES, Manifest, Problem, Snapshot, SnapshotWriter

__all__ = [
    "STUDY_RESOURCE_TYPES",
    "Manifest",
    "Problem",
    "Snapshot",
    "SnapshotWriter",
    "demo_source",
    "pull",
    "read_files",
    "seed",
]
