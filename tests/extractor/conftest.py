"""Fixtures for the extractor's integration tests against a real HAPI FHIR server.

The server's base URL comes from ``HAPI_BASE_URL`` (default ``http://127.0.0.1:$HAPI_PORT/fhir``, port 8090).
If it is not reachable the ``hapi`` tests FAIL (CI starts the server first; a silently skipped integration
test proves nothing). Data helpers are in ``hapi_data.py``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from hapi_data import (
    expected_cohort,
    hapi_base_url,
    hapi_settings,
    namespace,
    namespaced_study,
    new_tag,
    read_folder,
    synthetic,
    write_ndjson,
)

from extractor import demo_source, seed

N_PATIENTS = 210
N_NOISE = 60


@pytest.fixture(scope="session")
def hapi_url() -> str:
    url = hapi_base_url()
    try:
        answer = requests.get(f"{url}/metadata", timeout=(3, 60), headers={"Accept": "application/fhir+json"})
        answer.raise_for_status()
    except requests.RequestException as exc:
        pytest.fail(
            f"HAPI FHIR server not reachable at {url} ({type(exc).__name__}). Start it first "
            "(scripts/hapi.sh start, or make hapi-start) and set HAPI_BASE_URL to its /fhir base; "
            "or deselect these tests with -m 'not hapi'.",
            pytrace=False,
        )
    return url


@pytest.fixture(scope="session")
def hapi_origin(hapi_url: str) -> str:
    """scheme://host:port of the HAPI server (what the loopback proxies forward to)."""
    parts = urlsplit(hapi_url)
    return f"{parts.scheme}://{parts.netloc}"


@pytest.fixture(scope="session")
def demo_seeded(hapi_url: str) -> list[dict[str, Any]]:
    counts = seed(demo_source(), hapi_settings(hapi_url))
    resources = read_folder(demo_source())
    assert sum(counts.values()) == len(resources)
    return resources


@pytest.fixture(scope="session")
def synthetic_cohort(hapi_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A namespaced synthetic cohort (with noise patients and a Group of all its patients), seeded once."""
    tag = new_tag("syn")
    resources = namespace(synthetic(N_PATIENTS, 7, N_NOISE), tag)
    patients = [r["id"] for r in resources if r["resourceType"] == "Patient"]
    group = {"resourceType": "Group", "id": f"{tag}-all", "type": "person", "actual": True,
             "member": [{"entity": {"reference": f"Patient/{pid}"}} for pid in patients]}
    folder = write_ndjson([*resources, group], tmp_path_factory.mktemp("synthetic"))
    seed(folder, hapi_settings(hapi_url))
    study = namespaced_study(tag)
    expected = expected_cohort(resources, study)
    assert len(expected["Patient"]) >= 200
    assert len(patients) > len(expected["Patient"])  # noise patients exist
    return {"tag": tag, "study": study, "resources": resources, "expected": expected, "group": group["id"]}
