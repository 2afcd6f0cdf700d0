"""The data-quality documents of a run, for two audiences, and the counts the gates read.

``data_quality.json`` (published to the board) counts what could not be used, by file and reason
(extraction) and by resource type, field and reason (mapping): no resource ids, names, MRNs or dates.
``data_quality_full.json`` (private, in the run's folder under data_dir) keeps every entry with its
resource id and every extraction problem with its file and line, for the data steward.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from extractor import Manifest
from mapping import Cohort

SCHEMA_VERSION = 2
EXAMPLES = 5


def extraction_by_file(manifest: Manifest) -> dict[str, dict[str, int]]:
    by_file: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for problem in manifest.problems:
        by_file[str(problem.get("file") or "—")][str(problem.get("reason") or "unspecified")] += 1
    return {name: dict(counts.most_common()) for name, counts in sorted(by_file.items())}


def public_quality(manifest: Manifest, cohort: Cohort) -> dict[str, Any]:
    """``data_quality.json``: counts only (docs/results.md)."""
    problems = len(manifest.problems)
    return {
        "schema_version": SCHEMA_VERSION,
        "read": read_count(manifest),
        "used": sum(manifest.counts.values()),
        "unusable": problems + cohort.n_unmappable,
        "extraction": {
            "problems": problems,
            "by_file": extraction_by_file(manifest),
            # whole files of a type the study does not use (e.g. Encounter.ndjson of a Bulk export): not read
            "skipped_files": list(manifest.details.get("skipped_files") or []),
        },
        "mapping": {"resources": cohort.n_resources, "unmappable": cohort.n_unmappable, **cohort.quality.summary()},
    }


def private_quality(manifest: Manifest, cohort: Cohort) -> dict[str, Any]:
    """``data_quality_full.json``: every entry, with resource ids and file:line, for the data steward."""
    return {"extraction_problems": manifest.problems, **cohort.quality.to_dict()}


def read_count(manifest: Manifest) -> int:
    """Units read from the source; an older manifest without the count: what was used plus what was not."""
    return int(manifest.read or (sum(manifest.counts.values()) + len(manifest.problems)))


def gate_counts(manifest: Manifest, cohort: Cohort) -> dict[str, int]:
    return {
        "read": read_count(manifest),
        "extraction_problems": len(manifest.problems),
        "resources": cohort.n_resources,
        "unmappable": cohort.n_unmappable,
        "patients": len(cohort.patients),
        "measures": len(cohort.measures),
    }


def problem_examples(manifest: Manifest, limit: int = EXAMPLES) -> list[str]:
    """The first few extraction problems as ``file:line reason`` (locations and reasons, never content)."""
    return [f"{p.get('where', '?')} {p.get('reason', '')}".strip() for p in manifest.problems[:limit]]
