"""Loading a folder of FHIR Bundles/NDJSON into a server (``pelvic-outcomes seed``).

Resources are sent as transaction Bundles of ``PUT Type/id``: the ids are stable, so seeding twice updates
(a no-op on unchanged content) instead of duplicating. Types go in dependency order (Patient before what
refers to it) and at most ``batch_size`` entries per transaction. A resource without an id gets one derived
from its content (so it too is stable). The source is read completely first: a broken file fails the seed
before anything is written.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

from config.errors import FhirError
from config.fhir import FhirSettings
from extractor.context import build_client
from extractor.files import read_files
from extractor.http import FHIR_JSON, HttpClient, InvalidPayload, make_session, parse_json
from extractor.progress import Progress
from extractor.snapshot import Snapshot

DEFAULT_BATCH_SIZE = 500

# Referenced types first; anything not listed follows in name order.
DEPENDENCY_ORDER: tuple[str, ...] = (
    "Organization", "Location", "Practitioner", "PractitionerRole", "Patient", "RelatedPerson", "Group",
    "Encounter", "EpisodeOfCare", "Condition", "Procedure", "Specimen", "Medication", "MedicationRequest",
    "MedicationAdministration", "MedicationStatement", "Immunization", "Observation", "DiagnosticReport",
    "DocumentReference", "CarePlan", "Provenance",
)


def type_order(types: list[str]) -> list[str]:
    rank = {name: index for index, name in enumerate(DEPENDENCY_ORDER)}
    return sorted(types, key=lambda t: (rank.get(t, len(rank)), t))


def stable_id(resource: dict[str, Any]) -> str:
    canonical = json.dumps(resource, sort_keys=True, separators=(",", ":")).encode()
    return "seed-" + hashlib.sha256(canonical).hexdigest()[:32]


def transaction(entries: list[dict[str, Any]]) -> dict[str, Any]:
    bundle_entries = []
    for resource in entries:
        rtype = resource["resourceType"]
        rid = resource.get("id") or stable_id(resource)
        request = {"method": "PUT", "url": f"{rtype}/{rid}"}
        bundle_entries.append({"resource": {**resource, "id": rid}, "request": request})
    return {"resourceType": "Bundle", "type": "transaction", "entry": bundle_entries}


def _check_response(body: dict[str, Any], expected: int) -> None:
    if body.get("resourceType") != "Bundle" or body.get("type") != "transaction-response":
        raise InvalidPayload("expected a transaction-response Bundle")
    entries = body.get("entry") or []
    if len(entries) != expected:
        raise InvalidPayload(f"transaction-response has {len(entries)} entries for {expected} sent")
    for entry in entries:
        status = str((entry.get("response") or {}).get("status", ""))
        if not status.startswith(("200", "201")):
            raise InvalidPayload(f"an entry was answered {status[:40]!r}")


def _batches(snapshot: Snapshot, resource_type: str, size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for resource in snapshot.iter_resources(resource_type):
        batch.append(resource)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def post_transaction(client: HttpClient, entries: list[dict[str, Any]]) -> None:
    """POST one transaction of PUTs (idempotent, so retrying it is safe)."""
    payload = json.dumps(transaction(entries), separators=(",", ":")).encode()

    def read(response: requests.Response) -> None:
        _check_response(parse_json(response.content), len(entries))

    client.request(
        "POST", client.settings.base_url, read=read, data=payload,
        headers={"Content-Type": FHIR_JSON, "Prefer": "return=minimal"},
    )


def seed(
    source: Path,
    settings: FhirSettings,
    *,
    session: requests.Session | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = False,
) -> dict[str, int]:
    """Load every resource under ``source`` into the server; returns resources sent per type."""
    own_session = session is None
    http = session if session is not None else make_session(settings)
    meter = Progress(progress)
    sent: Counter[str] = Counter()
    failed = True
    try:
        client = build_client(settings, http)
        with tempfile.TemporaryDirectory(prefix="seed-") as tmp:
            snapshot = read_files(Path(source), Path(tmp), types=None)  # every type, not only the study's
            problems = snapshot.manifest.problems
            if problems:
                first = problems[0]
                raise FhirError(
                    f"the source has {len(problems)} unusable entries (first: {first['where']}: {first['reason']}); "
                    "nothing was loaded",
                    str(source),
                )
            for resource_type in type_order(snapshot.resource_types):
                meter.set_phase(f"seeding {resource_type}")
                for batch in _batches(snapshot, resource_type, batch_size):
                    post_transaction(client, batch)
                    sent[resource_type] += len(batch)
                    meter.add(resource_type, len(batch), pages=1)
        failed = False
    finally:
        meter.close(failed=failed)
        if own_session:
            http.close()
    return dict(sent)
