"""The FHIR values the extractor reads out of resources and pages: instants and references to a patient.

One parser each, used by the paging (a page's server time), the pull's context and every mode (whose
patient a resource is). This module imports nothing of the extractor, so any of its modules can use it.

The mapping stage reads references with its own parser (``mapping.facts.patient_reference``: stages do
not import each other). For the references of R4 ``subject`` elements a server sends (relative, absolute,
versioned; to a Patient or to something else) the two find the same patient or none. They differ only
where no server reference is: a ``urn:uuid:`` reference (a transaction Bundle's, resolved by the server
when it stores it) is a patient to the mapping and none here; ``Patient/`` without an id is none here and
an empty id there; and only the extractor also reads a ``patient`` element (which none of the R4 types
the study uses has).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

Resource = dict[str, Any]

PATIENT_ELEMENTS = ("subject", "patient")  # where a resource names its patient, in the order looked at


def iso(moment: datetime) -> str:
    """A FHIR instant, UTC, millisecond precision: ``2026-03-01T02:30:00.000Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_instant(value: Any) -> datetime | None:
    """A FHIR instant (``...Z`` or with an offset) as a datetime; None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def patient_id(reference: Any) -> str | None:
    """The id in ``Patient/ID``, ``Patient/ID/_history/N`` or an absolute URL ending so; else None."""
    if not isinstance(reference, str):
        return None
    parts = reference.split("/")
    for index in range(len(parts) - 2, -1, -1):
        if parts[index] == "Patient" and parts[index + 1]:
            return parts[index + 1]
    return None


def owner(resource: Resource) -> str | None:
    """The patient a resource belongs to: the Patient itself, else the first of ``subject``, ``patient``
    that refers to a Patient."""
    if resource.get("resourceType") == "Patient":
        rid = resource.get("id")
        return rid if isinstance(rid, str) else None
    for key in PATIENT_ELEMENTS:
        ref = resource.get(key)
        if isinstance(ref, dict):
            found = patient_id(ref.get("reference"))
            if found:
                return found
    return None
