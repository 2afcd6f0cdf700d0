"""Extraction from local files: FHIR Bundles (JSON) and NDJSON, one file or a folder of them.

Units read: every non-blank NDJSON line, every entry of a Bundle file, any other JSON file as a whole.
Each is written to the snapshot or recorded as a problem (file, place, reason): a line that is not UTF-8
or not JSON, a Bundle entry without a resource, something that is not a resource, a resource of a type the
study does not use (a Medication inside Observation.ndjson), a duplicate id. A resource in a file named for
another type (a Patient inside Observation.ndjson) is simply used.

In a folder, an NDJSON file named for a resource type the study does not use (``Encounter.ndjson``, as in
a Bulk Data export) is not read at all: it is listed in the manifest's ``details.skipped_files``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from config.errors import FhirError
from extractor.snapshot import (
    MANIFEST,
    REASON_EMPTY_ENTRY,
    STUDY_RESOURCE_TYPES,
    Manifest,
    Snapshot,
    SnapshotWriter,
    UnreadableLine,
    iter_ndjson,
    parse_json_bytes,
    unused_type,
)

log = logging.getLogger("extractor.files")

DEMO_PACKAGE = "extractor.demo"
REASON_BAD_BUNDLE = "Bundle.entry is not a list"


def demo_source() -> Path:
    """The folder of the bundled demo cohort (NDJSON per resource type)."""
    return Path(str(resources.files(DEMO_PACKAGE).joinpath("data")))


@dataclass(frozen=True)
class Unit:
    """One unit read from a file: a parsed value, or the reason it cannot be used as it is."""

    where: str
    value: Any = None
    reason: str | None = None


def _source_files(path: Path, types: tuple[str, ...] | None) -> tuple[list[Path], dict[str, str]]:
    """The files to read, and the files of a folder left unread with the reason."""
    if path.is_file():
        return [path], {}
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in {".json", ".ndjson"} and p.name != MANIFEST)
        if not files:
            raise FhirError("no .json or .ndjson files in the source folder", str(path))
        skipped = {p.name: unused_type(p.stem) for p in files if _other_type_file(p, types)}
        return [p for p in files if p.name not in skipped], skipped
    raise FhirError("source does not exist", str(path))


def _other_type_file(path: Path, types: tuple[str, ...] | None) -> bool:
    """``Encounter.ndjson`` when the study does not use Encounter (the Bulk Data naming of output files)."""
    stem = path.stem
    return (types is not None and path.suffix == ".ndjson" and stem not in types
            and stem[:1].isupper() and stem.isalpha())


def iter_units(path: Path) -> Iterator[Unit]:
    """Every unit of a file, in file order: NDJSON lines, Bundle entries, or the JSON document itself."""
    if path.suffix == ".ndjson":
        for number, value in iter_ndjson(path):
            where = f"{path.name}:{number}"
            yield Unit(where, reason=value.reason) if isinstance(value, UnreadableLine) else Unit(where, value)
        return
    try:
        document = parse_json_bytes(path.read_bytes())
    except UnreadableLine as exc:
        yield Unit(path.name, reason=exc.reason)
        return
    if not (isinstance(document, dict) and document.get("resourceType") == "Bundle"):
        yield Unit(path.name, document)
        return
    entries = document.get("entry", [])
    if not isinstance(entries, list):
        yield Unit(path.name, reason=REASON_BAD_BUNDLE)
        return
    for index, entry in enumerate(entries):
        where = f"{path.name}#entry[{index}]"
        resource = entry.get("resource") if isinstance(entry, dict) else None
        yield Unit(where, resource) if resource is not None else Unit(where, reason=REASON_EMPTY_ENTRY)


def read_files(
    source: Path, folder: Path, types: tuple[str, ...] | None = STUDY_RESOURCE_TYPES
) -> Snapshot:
    """Copy the resources of ``source`` (a file or a folder) into a new snapshot ``folder``.

    Only resources of ``types`` are kept (``None``: every type, as ``seed`` needs); every unit that is not
    kept is a problem in the manifest, and ``manifest.read`` counts the units read.
    """
    writer = SnapshotWriter(folder, types)
    files, skipped = _source_files(source, types)
    for name in skipped:
        log.info("not reading %s: %s", name, skipped[name])
    try:
        for path in files:
            for unit in iter_units(path):
                writer.read += 1
                if unit.reason is not None:
                    writer.problem(unit.where, unit.reason, path.name)
                else:
                    writer.add(unit.value, unit.where, path.name)
    except OSError as exc:
        writer.abort()
        raise FhirError(f"cannot read source: {exc.strerror}", str(source)) from exc
    details: dict[str, Any] = {"skipped_files": skipped} if skipped else {}
    previous = _previous_manifest(source)
    if previous is not None:  # re-running from a stored raw snapshot keeps its origin and cut-off
        details.update(replayed_from=str(source), original_source=previous.source, original_kind=previous.kind)
        return writer.finish(previous.source, previous.kind, previous.extracted_at, details)
    newest = max((p.stat().st_mtime for p in files), default=None)
    stamp = datetime.fromtimestamp(newest, UTC) if newest is not None else datetime.now(UTC)
    return writer.finish(str(source), "files", stamp.isoformat(timespec="seconds"), details)


def _previous_manifest(source: Path) -> Manifest | None:
    path = source / MANIFEST if source.is_dir() else None
    if path is None or not path.exists():
        return None
    try:
        return Manifest.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except ValueError:
        return None
