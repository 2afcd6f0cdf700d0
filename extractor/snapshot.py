"""The raw snapshot: what one extraction produced, as NDJSON per resource type plus a manifest.

A snapshot folder holds ``<ResourceType>.ndjson`` (one resource per line) and ``manifest.json``
(source, kind, server time, counts, units read, hash, problems). It is written by every extraction mode
(files, FHIR search, Bulk export) through :class:`SnapshotWriter`, streamed, and read back by the mapping
through :meth:`Snapshot.iter_resources`. ``--source`` on such a folder re-runs from exactly that data.

Every unit read from the source (an NDJSON line, a Bundle entry, a JSON file, a resource from a server)
is either written to the snapshot or recorded as a :class:`Problem` with its file and a short fixed reason
(the ``REASON_*`` phrases and :func:`unused_type`, :func:`duplicate`): never its content or ids.

NDJSON is read in binary and decoded line by line (:func:`iter_ndjson`), so one bad line (not UTF-8, not
JSON) is one problem, not the end of the run.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from config.errors import FhirError

STUDY_RESOURCE_TYPES: tuple[str, ...] = ("Patient", "Procedure", "Condition", "Observation")
MANIFEST = "manifest.json"

Resource = dict[str, Any]

# Why a unit read was not used: short fixed phrases, the same for every occurrence, with no data in them.
REASON_NOT_UTF8 = "not UTF-8"
REASON_NOT_JSON = "not valid JSON"
REASON_TOO_DEEP = "JSON nested too deeply"
REASON_NO_RESOURCE_TYPE = "not a FHIR resource (no resourceType)"
REASON_BAD_RESOURCE_TYPE = "not a FHIR resource (resourceType is not a type name)"
REASON_EMPTY_ENTRY = "Bundle entry without a resource"
REASON_NOT_ENCODABLE = "text not encodable as UTF-8 (lone surrogate escape)"

_TYPE_NAME = re.compile(r"[A-Z][A-Za-z]{0,63}")  # a FHIR resource type name; anything else is not echoed
_LINE_SUFFIX = re.compile(r"^(.*):\d+$")


def unused_type(resource_type: str) -> str:
    return f"resource type {resource_type} is not used by the study"


def duplicate(resource_type: str) -> str:
    return f"duplicate {resource_type} id in the pull; first copy kept"


def file_of(where: str) -> str:
    """The file part of a location: ``Observation.ndjson:12`` and ``b.json#entry[3]`` give the file name."""
    match = _LINE_SUFFIX.match(where)
    return (match.group(1) if match else where).split("#", 1)[0]


@dataclass
class Problem:
    """A unit read from the source and not used. Never holds patient identifiers.

    ``file`` groups problems: the source file name (``Observation.ndjson``) for file reads, the resource type
    or search (``Observation``) for server pulls. ``where`` is the exact place (``Observation.ndjson:12``,
    ``bundle.json#entry[3]``, or a resource type / URL path without query). Without ``file`` it is taken from
    ``where``.
    """

    where: str
    reason: str
    file: str = ""

    def __post_init__(self) -> None:
        if not self.file:
            self.file = file_of(self.where)

    def as_dict(self) -> dict[str, str]:
        return {"file": self.file, "where": self.where, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Problem:
        return cls(str(data.get("where", "")), str(data.get("reason", "")), str(data.get("file") or ""))


@dataclass
class Manifest:
    source: str  # file path, or FHIR base URL without credentials
    kind: str  # "files", "fhir-search", "fhir-bulk"
    extracted_at: str  # server time of the pull (ISO 8601), or file time for files
    counts: dict[str, int] = field(default_factory=dict)
    sha256: str = ""
    problems: list[dict[str, str]] = field(default_factory=list)  # Problem.as_dict(): file, where, reason
    details: dict[str, Any] = field(default_factory=dict)
    # Units read from the source, used or not: non-blank NDJSON lines, Bundle entries, other JSON files,
    # resources received from a server. problems / read is the share that could not be used.
    read: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Manifest:
        """Read a manifest, also one written before ``read`` and ``Problem.file`` existed.

        Raises ValueError when it is not a manifest (not an object, or no source, kind or extracted_at).
        """
        if not isinstance(data, Mapping):
            raise ValueError("a manifest is a JSON object")
        missing = [k for k in ("source", "kind", "extracted_at") if not isinstance(data.get(k), str)]
        if missing:
            raise ValueError(f"manifest field(s) missing or not text: {', '.join(missing)}")
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        known["problems"] = [Problem.from_dict(p).as_dict() for p in known.get("problems") or []
                             if isinstance(p, Mapping)]
        return cls(**known)


class UnreadableLine(ValueError):
    """A line or document that is not a JSON value; ``reason`` is one of the ``REASON_*`` phrases."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_json_bytes(raw: bytes) -> Any:
    """Decode UTF-8 and parse JSON, or raise :class:`UnreadableLine` saying which of the two failed."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableLine(REASON_NOT_UTF8) from exc
    try:
        return json.loads(text.removeprefix("\ufeff"))
    except RecursionError as exc:
        raise UnreadableLine(REASON_TOO_DEEP) from exc
    except ValueError as exc:
        raise UnreadableLine(REASON_NOT_JSON) from exc


def iter_ndjson(path: Path) -> Iterator[tuple[int, Any]]:
    """``(line number, value)`` for every non-blank line of an NDJSON file, streamed.

    The value is the parsed JSON, or an :class:`UnreadableLine` (returned, not raised) when the line is not
    UTF-8 or not JSON, so the caller decides whether that is a problem to record or a broken file.
    """
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if raw.isspace():
                continue
            try:
                yield number, parse_json_bytes(raw)
            except UnreadableLine as exc:
                yield number, exc


def read_ndjson(path: Path) -> Iterator[Any]:
    """The values of an NDJSON file this program wrote; an unreadable line is a :class:`FhirError`."""
    # iter_ndjson's loop without its tuples and checks: the mapping reads every snapshot this way, ~15% faster
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if raw.isspace():
                continue
            try:
                yield parse_json_bytes(raw)
            except UnreadableLine as exc:
                raise FhirError(f"{path.name}:{number}: {exc.reason}; the file is damaged", str(path.parent)) from exc


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
        if path.exists():
            yield from read_ndjson(path)


class SnapshotWriter:
    """Streams resources into a snapshot folder; :meth:`finish` writes the manifest and returns the Snapshot.

    A resource whose id was already written for its type replaces nothing: the first one wins and the
    duplicate is counted in the manifest's problems (servers repeat resources across pages only when the
    data changed mid-pull, which is worth knowing). With ``types``, a resource of another type is a problem
    too (:func:`unused_type`).

    ``read`` counts the units read from the source; the extraction mode adds to it where it reads (a unit
    can be written, recorded as a problem, or deliberately left out, e.g. a patient outside the cohort).
    """

    def __init__(self, folder: Path, types: tuple[str, ...] | None = None) -> None:
        self.folder = folder
        self.types = types
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.ndjson"):
            stale.unlink()
        self._handles: dict[str, IO[bytes]] = {}
        self._seen: dict[str, set[str]] = {}
        self._copied: set[str] = set()
        self.counts: Counter[str] = Counter()
        self.problems: list[Problem] = []
        self.read = 0

    def problem(self, where: str, reason: str, file: str = "") -> None:
        """Record a unit that is not used (``reason``: a fixed phrase, never data from the unit)."""
        self.problems.append(Problem(where, reason, file))

    def receive(self, resource: Resource, where: str = "", file: str = "") -> bool:
        """A resource just read from the source: counted in ``read``, then :meth:`add`-ed."""
        self.read += 1
        return self.add(resource, where, file)

    def add(self, resource: Resource, where: str = "", file: str = "") -> bool:
        """Write one resource; returns False (and records a problem) when it is not usable."""
        rtype = resource.get("resourceType") if isinstance(resource, dict) else None
        if not isinstance(rtype, str) or not rtype:
            self.problem(where, REASON_NO_RESOURCE_TYPE, file)
            return False
        if not _TYPE_NAME.fullmatch(rtype):
            self.problem(where, REASON_BAD_RESOURCE_TYPE, file)
            return False
        if self.types is not None and rtype not in self.types:
            self.problem(where, unused_type(rtype), file)
            return False
        try:
            line = json.dumps(resource, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode("utf-8")
        except UnicodeEncodeError:
            self.problem(where, REASON_NOT_ENCODABLE, file)
            return False
        if rtype in self._copied:
            raise ValueError(f"{rtype} resources were copied unparsed; nothing can be added to them")
        rid = resource.get("id")
        if isinstance(rid, str) and rid:
            seen = self._seen.setdefault(rtype, set())
            if rid in seen:
                self.problem(where, duplicate(rtype), file)
                return False
            seen.add(rid)
        handle = self._handles.get(rtype)
        if handle is None:
            handle = (self.folder / f"{rtype}.ndjson").open("wb")
            self._handles[rtype] = handle
        handle.write(line + b"\n")
        self.counts[rtype] += 1
        return True

    def copy_type(self, snapshot: Snapshot, rtype: str) -> int:
        """Write ``snapshot``'s ``rtype`` resources unchanged, line for line, without parsing them again.

        For a type nothing else is written to (its ids are not remembered for the duplicate check): an
        incremental pull copies what did not change. Returns the number of resources copied.
        """
        if rtype in self._handles or rtype in self._copied:
            raise ValueError(f"{rtype} resources were already written; copy_type comes first and once")
        source = snapshot.folder / f"{rtype}.ndjson"
        if not source.exists():
            return 0
        copied = 0
        with source.open("rb") as lines, (self.folder / f"{rtype}.ndjson").open("wb") as out:
            for line in lines:
                if not line.isspace():
                    out.write(line if line.endswith(b"\n") else line + b"\n")
                    copied += 1
        self._copied.add(rtype)  # closed for add(): it would not see the copied ids
        self.counts[rtype] += copied
        return copied

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
            read=self.read,
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
