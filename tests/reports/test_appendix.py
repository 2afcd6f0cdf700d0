"""The data-quality appendix reads data_quality.json (schema 2, and the older log of earlier runs)."""

from __future__ import annotations

import json
from typing import Any

from reports.appendix import PRIVATE_IDS, quality_summary
from tests.reports.conftest import FIXTURES


def v2(**extra: Any) -> dict[str, Any]:
    """The example of the service's contract (issue 11): a half-broken Observation.ndjson."""
    document: dict[str, Any] = {
        "schema_version": 2, "read": 778, "used": 351, "unusable": 429,
        "extraction": {"problems": 427, "by_file": {
            "Observation.ndjson": {"not valid JSON": 425, "not UTF-8": 2},
            "Condition.ndjson": {"unknown resource type": 1},
        }},
        "mapping": {"resources": 351, "unmappable": 2,
                    "counts": {"outside every timepoint window": 3, "no gender": 1},
                    "detail": [
                        {"resource_type": "Observation", "field": "effective[x]",
                         "reason": "outside every timepoint window", "count": 3},
                        {"resource_type": "Patient", "field": "gender", "reason": "no gender", "count": 1},
                    ]},
    }
    document.update(extra)
    return document


def test_schema_2_states_units_read_and_not_used_at_extraction_and_at_mapping() -> None:
    summary = quality_summary(v2())
    assert summary["statement"].startswith("429 of 778 units read could not be used (427 at extraction, 2 at mapping).")
    assert summary["ids_note"] == PRIVATE_IDS
    assert summary["total"] == 4
    assert summary["by_reason"] == [{"reason": "outside every timepoint window", "count": 3},
                                    {"reason": "no gender", "count": 1}]
    assert summary["detail"][0] == {"resource_type": "Observation", "field": "effective[x]",
                                    "reason": "outside every timepoint window", "count": 3}


def test_schema_2_lists_extraction_problems_by_file_then_most_frequent_reason() -> None:
    assert quality_summary(v2())["extraction"] == [
        {"file": "Condition.ndjson", "reason": "unknown resource type", "count": 1},
        {"file": "Observation.ndjson", "reason": "not valid JSON", "count": 425},
        {"file": "Observation.ndjson", "reason": "not UTF-8", "count": 2},
    ]


def test_schema_2_with_missing_or_odd_parts_still_gives_a_statement() -> None:
    summary = quality_summary({"schema_version": 2, "mapping": "?", "extraction": {"by_file": {"a": "b"}}})
    assert summary["statement"].startswith("— of — units read could not be used (— at extraction, — at mapping).")
    assert summary["extraction"] == [] and summary["by_reason"] == [] and summary["detail"] == []


def test_an_older_runs_log_is_counted_without_showing_its_ids() -> None:
    older = json.loads((FIXTURES / "previous" / "data_quality.json").read_text(encoding="utf-8"))
    older["extraction_problems"] = [{"file": "Patient.ndjson", "line": 3, "reason": "not valid JSON"}]
    summary = quality_summary(older, {"resources": 200, "unmappable": 7})
    assert summary["statement"].endswith("; 7 of 200 resources could not be used.")
    assert summary["extraction"] == [{"file": "Patient.ndjson", "reason": "not valid JSON", "count": 1}]
    ids = {e["id"] for e in older["entries"]}
    assert ids and not any(i in json.dumps(summary) for i in ids)
