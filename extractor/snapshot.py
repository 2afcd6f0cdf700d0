"""The raw snapshot: what one extraction produced, as NDJSON per resource type plus a manifest.

A snapshot folder holds ``<ResourceType>.ndjson`` (one resource per line) and ``manifest.json``
(source, kind, server time, counts, hash, problems). It is written by every extraction mode (files,
FHIR search, Bulk export) through :class:`SnapshotWriter`, streamed, and read back by the mapping
through :meth:`Snapshot.iter_resources`. ``--source`` on such a folder re-runs from exactly that data.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from config.errors import FhirError

STUDY_RESOURCE_TYPES: tuple[str, ...] = ("Patient", "Procedure", "Condition", "Observation")
MANIFEST = "manifest.json"

Resource = dict[str, Any]


@dataclass
class Problem:
    """Something the extractor could not use. Never holds patient identifiers."""

    where: str  # file name and line, or URL path without query
    reason: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class Manifest:
    source: str  # file path, or FHIR base URL without credentials
    kind: str  # "files", "fhir-search", "fhir-bulk"
    extracted_at: str  # server time of the pull (ISO 8601), or file time for files
    counts: dict[str, int] = field(default_factory=dict)
    sha256: str = ""
    problems: list[dict[str, str]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


class Snapshot:
    """A snapshot folder on disk, read lazily."""

    def __init__(self, folder: Path, manifest: Manifest) -> None:
        self.folder = folder
        self.manifest = manifest

    @classmethod
    def open(cls, folder: Path) -> Snapshot:
        path = folder / MANIFEST
        try:
            manifest = Manifest.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise FhirError(f"not a snapshot folder (no readable {MANIFEST})", str(folder)) from exc
        return cls(folder, manifest)

    @property
    def resource_types(self) -> list[str]:
        return sorted(p.stem for p in self.folder.glob("*.ndjson"))

    def iter_resources(self, resource_type: str) -> Iterator[Resource]:
        """Stream the resources of one type, in file order."""
        path = self.folder / f"{resource_type}.ndjson"
        if not path.exists():
            return
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)

    def iter_all(self) -> Iterator[Resource]:
        for resource_type in self.resource_types:
            yield from self.iter_resources(resource_type)


class SnapshotWriter:
    """Streams resources into a snapshot folder; :meth:`finish` writes the manifest and returns the Snapshot.

    A resource whose id was already written for its type replaces nothing: the first one wins and the
    duplicate is counted in the manifest's problems (servers repeat resources across pages only when the
    data changed mid-pull, which is worth knowing).
    """

    def __init__(self, folder: Path, types: tuple[str, ...] | None = None) -> None:
        self.folder = folder
        self.types = types
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.ndjson"):
            stale.unlink()
        self._handles: dict[str, IO[str]] = {}
        self._seen: dict[str, set[str]] = {}
        self.counts: Counter[str] = Counter()
        self.problems: list[Problem] = []

    def add(self, resource: Resource, where: str = "") -> bool:
        """Write one resource; returns False (and records a problem) when it is not usable."""
        rtype = resource.get("resourceType") if isinstance(resource, dict) else None
        if not isinstance(rtype, str) or not rtype:
            self.problems.append(Problem(where, "not a FHIR resource (no resourceType)"))
            return False
        if self.types is not None and rtype not in self.types:
            return False
        rid = resource.get("id")
        if isinstance(rid, str) and rid:
            seen = self._seen.setdefault(rtype, set())
            if rid in seen:
                self.problems.append(Problem(where, f"duplicate {rtype} id in the pull; first copy kept"))
                return False
            seen.add(rid)
        handle = self._handles.get(rtype)
        if handle is None:
            handle = (self.folder / f"{rtype}.ndjson").open("w", encoding="utf-8")
            self._handles[rtype] = handle
        handle.write(json.dumps(resource, separators=(",", ":"), ensure_ascii=False, sort_keys=True))
        handle.write("\n")
        self.counts[rtype] += 1
        return True

    def finish(self, source: str, kind: str, extracted_at: str, details: dict[str, Any] | None = None) -> Snapshot:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()
        manifest = Manifest(
            source=source,
            kind=kind,
            extracted_at=extracted_at,
            counts=dict(sorted(self.counts.items())),
            sha256=hash_folder(self.folder),
            problems=[p.as_dict() for p in self.problems],
            details=details or {},
        )
        (self.folder / MANIFEST).write_text(json.dumps(manifest.as_dict(), indent=2) + "\n", encoding="utf-8")
        return Snapshot(self.folder, manifest)

    def abort(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()


def hash_folder(folder: Path) -> str:
    """SHA-256 over the NDJSON files of a snapshot, in name order, streamed."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.ndjson")):
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
