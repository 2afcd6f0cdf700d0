"""What one resource contributes, in a compact form that crosses process boundaries cheaply.

Extraction (per resource, no context) produces an :class:`Extracted`; assembly (per patient) reads the
facts. Everything here is a NamedTuple of plain values so that pickling between worker processes is cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, NamedTuple

from mapping.dates import When

# Outcome of one resource.
USED = "used"  # validated and mapped (possibly with notes)
EXCLUDED = "excluded"  # left out on purpose (status), not a mapping failure
REJECTED = "rejected"  # study data the mapping could not use: counts as unmappable
OTHER = "other"  # valid, but carries nothing the study needs except a clinical date


class Fact(NamedTuple):
    kind: str  # index, measure, observed, body_site, complication, event, relapse, diagnosis, site, status, reoperation
    key: str  # index procedure kind / instrument / fact name / flag / diagnosis group / primary site ...
    when: When | None
    value: float | None = None
    extra: Any = None  # kind-specific (see the extractor producing it)


class PatientInfo(NamedTuple):
    fhir_id: str
    study_identifier: str | None
    gender: str | None
    birth: When | None
    deceased: bool
    death: When | None


class Issue(NamedTuple):
    field: str
    reason: str


class Extracted(NamedTuple):
    resource_type: str
    rid: str  # FHIR id (or keyed hash); for Patients the FHIR id, replaced by the study id when logged
    subject: str | None  # FHIR id of the Patient the resource is about
    outcome: str  # USED, EXCLUDED, REJECTED, OTHER
    facts: tuple[Fact, ...] = ()
    issues: tuple[Issue, ...] = ()
    latest: When | None = None  # the latest clinical date the resource carries
    patient: PatientInfo | None = None


def patient_reference(reference: Any) -> tuple[str, str | None]:
    """(resource type, id) of a Reference: ``Patient/1``, ``https://x/fhir/Patient/1/_history/2``, ``urn:uuid:…``."""
    if not isinstance(reference, dict):
        return "", None
    text = reference.get("reference")
    if not isinstance(text, str) or not text:
        return str(reference.get("type") or ""), None
    if text.startswith("urn:uuid:"):
        return str(reference.get("type") or "Patient"), text[len("urn:uuid:"):]
    parts = text.split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) < 2:
        return "", None
    return parts[-2], parts[-1]


def subject_of(resource: dict[str, Any]) -> tuple[str, str | None]:
    return patient_reference(resource.get("subject"))


def resource_id(resource: dict[str, Any], key: bytes) -> str:
    """The FHIR id, or a keyed hash of the content for resources without one."""
    rid = resource.get("id")
    if isinstance(rid, str) and rid:
        return rid
    canonical = json.dumps(resource, sort_keys=True, separators=(",", ":"), default=str).encode()
    return "hash:" + hmac.new(key, canonical, hashlib.sha256).hexdigest()[:12]
