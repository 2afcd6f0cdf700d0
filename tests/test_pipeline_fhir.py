"""The whole pipeline against the real HAPI FHIR server: a pull gives the same study as the bundled files."""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import requests

from config.fhir import FhirSettings
from extractor import demo_source, seed
from service.cli import main

pytestmark = pytest.mark.hapi


@pytest.fixture(scope="module")
def hapi_url() -> str:
    url = os.environ.get("HAPI_BASE_URL") or f"http://127.0.0.1:{os.environ.get('HAPI_PORT', '8090')}/fhir"
    try:
        requests.get(f"{url}/metadata", timeout=(3, 60)).raise_for_status()
    except requests.RequestException as exc:
        pytest.fail(f"HAPI FHIR server not reachable at {url} ({exc}); start it with `make hapi-start`")
    return url


@pytest.fixture(scope="module")
def study_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled study with a fixed pseudonym namespace, so files and server give the same study ids."""
    text = resources.files("config").joinpath("study.toml").read_text(encoding="utf-8")
    path = tmp_path_factory.mktemp("study") / "study.toml"
    path.write_text(text.replace('pseudonym_namespace = ""', 'pseudonym_namespace = "demo"'), encoding="utf-8")
    return path


def without_cutoff(path: Path) -> dict[str, Any]:
    """results.json less the figures measured to the data cut-off (Clark's completeness of follow-up): the
    bundled files' cut-off is their own (2024-06-05), a pull's is the server's time of the pull."""
    results: dict[str, Any] = json.loads(path.read_text())
    followup = {k: v for k, v in results["followup"].items()
                if not k.startswith("completeness") and k != "potential_months"}
    return {**results, "followup": followup}


def test_seeding_twice_then_pulling_gives_the_same_outputs_as_the_bundled_files(
    hapi_url: str, study_file: Path, tmp_path: Path
) -> None:
    settings = FhirSettings(hapi_url)
    first = seed(demo_source(), settings)
    again = seed(demo_source(), settings)
    assert first == again == {"Condition": 21, "Observation": 102, "Patient": 7, "Procedure": 7}

    from_files, from_fhir = tmp_path / "files", tmp_path / "fhir"
    assert main(["run", "--study", str(study_file), "--out", str(from_files), "--no-email"]) == 0
    assert main(["run", "--study", str(study_file), "--fhir-url", hapi_url, "--out", str(from_fhir), "--no-email"]) == 0

    for name in ("cohort.csv", "measures.csv"):
        assert (from_fhir / name).read_text() == (from_files / name).read_text(), name
    assert without_cutoff(from_fhir / "results.json") == without_cutoff(from_files / "results.json")

    run = json.loads((from_fhir / "run.json").read_text())
    assert run["source"]["kind"] == "fhir-search"
    assert run["source"]["location"] == hapi_url
    assert run["counts"]["patients"] == 7
    raw = tmp_path / "data" / "runs" / run["run_id"] / "raw"  # the private folder beside the board's
    assert {p.name for p in raw.glob("*.ndjson")} >= {"Patient.ndjson", "Observation.ndjson"}

    replay = tmp_path / "replay"
    assert main(["run", "--study", str(study_file), "--source", str(raw), "--out", str(replay), "--no-email"]) == 0
    assert (replay / "cohort.csv").read_text() == (from_fhir / "cohort.csv").read_text()
