"""The data-quality log: every resource (or part of one) the mapping could not use, and why.

Entries name the resource type, an id, the field and a reason. The id is the FHIR id of a non-Patient
resource (or a keyed hash when it has none); for Patient resources it is the study id, never the FHIR
id, a name or an MRN. Reasons are short fixed phrases so that ``counts`` groups like with like.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, NamedTuple

_TYPE_ORDER = {"Patient": 0, "Procedure": 1, "Condition": 2, "Observation": 3}


class QualityEntry(NamedTuple):
    resource_type: str
    id: str
    field: str
    reason: str


@dataclass
class QualityLog:
    """Ordered list of problems; ``to_dict()`` is the full log with ids (private), ``summary()`` its public counts."""

    entries: list[QualityEntry] = field(default_factory=list)

    def add(self, resource_type: str, rid: str, field_name: str, reason: str) -> None:
        self.entries.append(QualityEntry(resource_type, rid, field_name, reason))

    def extend(self, entries: list[QualityEntry]) -> None:
        self.entries.extend(entries)

    @property
    def counts(self) -> dict[str, int]:
        counter = Counter(entry.reason for entry in self.entries)
        return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))

    def reasons(self) -> set[str]:
        return {entry.reason for entry in self.entries}

    def for_id(self, rid: str) -> list[QualityEntry]:
        return [entry for entry in self.entries if entry.id == rid]

    def summary(self) -> dict[str, Any]:
        """The public part of the log (``data_quality.json`` ``mapping.counts`` and ``mapping.detail``).

        ``counts``: entries by reason, most frequent first (as :attr:`counts`). ``detail``: entries counted by
        resource type, field and reason, most frequent first, then by those keys. No resource ids.
        """
        detail = Counter((entry.resource_type, entry.field, entry.reason) for entry in self.entries)
        return {
            "counts": self.counts,
            "detail": [
                {"resource_type": rtype, "field": field_name, "reason": reason, "count": count}
                for (rtype, field_name, reason), count in sorted(detail.items(), key=lambda item: (-item[1], item[0]))
            ],
        }

    def to_dict(self) -> dict[str, Any]:
        """Counts (most frequent first) and entries sorted by type, id, field and reason: stable night to night."""
        ordered = sorted(self.entries, key=lambda e: (_TYPE_ORDER.get(e.resource_type, 9), e.resource_type, e[1:]))
        return {"counts": self.counts, "entries": [entry._asdict() for entry in ordered]}

    def __len__(self) -> int:
        return len(self.entries)
