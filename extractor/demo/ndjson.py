"""Deterministic NDJSON output: one file per resource type, one resource per line, sorted by id."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from extractor.demo.resources import Resource

RESOURCE_TYPES = ("Patient", "Procedure", "Condition", "Observation")


def group_by_type(resources: Iterable[Resource]) -> dict[str, list[Resource]]:
    """Resources grouped by ``resourceType`` (every type in :data:`RESOURCE_TYPES` present), sorted by id."""
    grouped: dict[str, list[Resource]] = {t: [] for t in RESOURCE_TYPES}
    for resource in resources:
        grouped.setdefault(resource["resourceType"], []).append(resource)
    for items in grouped.values():
        items.sort(key=lambda r: str(r["id"]))
    return grouped


def dumps(resource: Resource) -> str:
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":"))


def write_ndjson(grouped: dict[str, list[Resource]], out_dir: Path) -> list[Path]:
    """Write ``<Type>.ndjson`` files (LF line endings, trailing newline) and return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for resource_type, items in sorted(grouped.items()):
        path = out_dir / f"{resource_type}.ndjson"
        text = "".join(dumps(r) + "\n" for r in items)
        path.write_bytes(text.encode("utf-8"))
        paths.append(path)
    return paths
