"""Two real HAPI FHIR servers on loopback (two ports, overlapping FHIR ids): one pooled run, and one server down."""

from __future__ import annotations

import csv
import json
import os
import socket
from pathlib import Path

import pytest
import requests

from config.fhir import FhirSettings
from extractor import demo_source, seed
from service.cli import main

pytestmark = pytest.mark.hapi

SOUTH_PATIENTS = ["demo-p1", "demo-p2", "demo-p3", "demo-p4"]


def reachable(url: str) -> str:
    try:
        requests.get(f"{url}/metadata", timeout=(3, 60)).raise_for_status()
    except requests.RequestException as exc:
        pytest.fail(f"HAPI FHIR server not reachable at {url} ({exc}); scripts/test.sh starts both")
    return url


@pytest.fixture(scope="module")
def north() -> str:
    url = os.environ.get("HAPI_BASE_URL") or f"http://127.0.0.1:{os.environ.get('HAPI_PORT', '8090')}/fhir"
    reachable(url)
    seed(demo_source(), FhirSettings(url))
    return url


@pytest.fixture(scope="module")
def south(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The second server: four of the demo's patients, under the same FHIR ids as on the first."""
    url = reachable(os.environ.get("HAPI2_BASE_URL") or "http://127.0.0.1:8091/fhir")
    folder = tmp_path_factory.mktemp("south")
    for path in demo_source().glob("*.ndjson"):
        lines = [line for line in path.read_text().splitlines()
                 if any(f'"{pid}"' in line or f"Patient/{pid}\"" in line for pid in SOUTH_PATIENTS)]
        (folder / path.name).write_text("\n".join(lines) + "\n")
    seed(folder, FhirSettings(url))
    return url


def config(tmp_path: Path, north: str, south: str, on_failure: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "deployment.toml"
    sources = "".join(
        f'[[sources]]\nsite = "{site}"\n[sources.fhir]\nbase_url = "{url}"\nmax_attempts = 1\n'
        for site, url in (("north", north), ("south", south))
    )
    path.write_text(
        f'on_site_failure = "{on_failure}"\n{sources}'
        '[schedule]\ncron = "30 2 * * *"\ntimezone = "UTC"\n'
        '[smtp]\nhost = "127.0.0.1"\nport = 25\nsecurity = "none"\n'
        '[email]\nsender = "po@h.test"\nrecipients = ["board@h.test"]\nadmin = "admin@h.test"\n'
        f'[paths]\nout_dir = "{tmp_path / "out"}"\ndata_dir = "{tmp_path / "data"}"\n'
    )
    return path


def cohort(out: Path) -> list[dict[str, str]]:
    with (out / "cohort.csv").open() as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(autouse=True)
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PELVIC_PSEUDONYM_KEY", "multi-site-test-key-" + "0" * 20)


def test_two_servers_with_overlapping_ids_pool_into_one_cohort(north: str, south: str, tmp_path: Path) -> None:
    assert main(["run", "--config", str(config(tmp_path, north, south, "block")), "--no-email"]) == 0
    rows = cohort(tmp_path / "out")
    by_site = {site: [r for r in rows if r["site"] == site] for site in ("north", "south")}
    assert len(by_site["south"]) == 4 and len(by_site["north"]) >= 7
    assert len({r["study_id"] for r in rows}) == len(rows)  # demo-p1 at both servers: two study ids
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert {s: v["source"]["kind"] for s, v in run["sites"].items()} == {"north": "fhir-search", "south": "fhir-search"}
    raw = tmp_path / "data" / "runs" / run["run_id"] / "raw"
    assert json.loads((raw / "south" / "manifest.json").read_text())["source"] == south


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_one_server_down_blocks_or_is_left_out_as_the_deployment_says(
    north: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    down = f"http://127.0.0.1:{free_port()}/fhir"
    assert main(["run", "--config", str(config(tmp_path / "a", north, down, "block")), "--no-email"]) == 3
    assert "site south" in capsys.readouterr().err
    assert main(["run", "--config", str(config(tmp_path / "b", north, down, "publish_without")), "--no-email"]) == 0
    run = json.loads((tmp_path / "b" / "out" / "run.json").read_text())
    assert run["sites"]["south"]["status"] == "failed" and run["sites"]["north"]["status"] == "ok"
    assert {r["site"] for r in cohort(tmp_path / "b" / "out")} == {"north"}
