"""Extraction from local files: FHIR Bundles (JSON) and NDJSON, one file or a folder of them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from config.errors import FhirError
from extractor.snapshot import MANIFEST, Manifest, Problem, Snapshot, SnapshotWriter

DEMO_PACKAGE = "extractor.demo"


def demo_source() -> Path:
    """The folder of the bundled demo cohort (NDJSON per resource type)."""
    return Path(str(resources.files(DEMO_PACKAGE).joinpath("data")))


def _source_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in {".json", ".ndjson"} and p.name != MANIFEST)
        if not files:
            raise FhirError("no .json or .ndjson files in the source folder", str(path))
        return files
    raise FhirError("source does not exist", str(path))


def _iter_file(path: Path) -> Iterator[tuple[Any, str]]:
    """Yield (parsed JSON or None, location) for every resource-sized unit in a file."""
    if path.suffix == ".ndjson":
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    yield json.loads(line), f"{path.name}:{number}"
                except ValueError:
                    yield None, f"{path.name}:{number}"
        return
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        yield None, path.name
        return
    if isinstance(document, dict) and document.get("resourceType") == "Bundle":
        for index, entry in enumerate(document.get("entry") or []):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            yield resource, f"{path.name}#entry[{index}]"
    else:
        yield document, path.name


def read_files(source: Path, folder: Path, types: tuple[str, ...] | None = None) -> Snapshot:
    """Copy the resources of ``source`` into a new snapshot ``folder``.

    Unparseable lines and non-resources are recorded as problems in the manifest and skipped.
    """
    writer = SnapshotWriter(folder, types)
    files = _source_files(source)
    try:
        for path in files:
            for resource, where in _iter_file(path):
                if resource is None:
                    writer.problems.append(Problem(where, "not valid JSON"))
                    continue
                writer.add(resource, where)
    except OSError as exc:
        writer.abort()
        raise FhirError(f"cannot read source: {exc.strerror}", str(source)) from exc
    newest = max(p.stat().st_mtime for p in files)
    extracted_at = datetime.fromtimestamp(newest, UTC).isoformat(timespec="seconds")
    previous = _previous_manifest(source)
    if previous is not None:  # re-running from a stored raw snapshot keeps its origin and cut-off
        extracted_at = previous.extracted_at
        details = {"replayed_from": str(source), "original_source": previous.source, "original_kind": previous.kind}
        return writer.finish(previous.source, previous.kind, extracted_at, details)
    return writer.finish(str(source), "files", extracted_at)


def _previous_manifest(source: Path) -> Manifest | None:
    path = source / MANIFEST if source.is_dir() else None
    if path is None or not path.exists():
        return None
    try:
        return Manifest.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except ValueError:
        return None

