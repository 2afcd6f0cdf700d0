"""Fault tolerance, proven through a fault-injecting proxy in front of the real HAPI server:
a pull either completes with exactly the right resources or fails with a clear error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fault_proxy import FaultProxy, Rule
from hapi_data import assert_pull_matches, hapi_settings

from config.errors import FhirError, FhirHTTPError, FhirTimeout
from extractor import pull

pytestmark = pytest.mark.hapi

FAST_RETRIES = {"max_attempts": 6, "backoff_base": 0.05, "backoff_cap": 0.4, "page_size": 40,
                "patient_batch_size": 50}


@pytest.fixture
def proxy(hapi_origin: str):
    with FaultProxy(hapi_origin) as running:
        yield running


def via(proxy: FaultProxy, **overrides: Any):
    return hapi_settings(proxy.base_url + "/fhir", **{**FAST_RETRIES, **overrides})


def test_pull_through_transient_faults_completes_exactly(
    proxy: FaultProxy, synthetic_cohort: dict[str, Any], tmp_path: Path
):
    rules = [
        proxy.add(Rule("status", r"/fhir/Observation", status=429, retry_after="1", times=2)),
        proxy.add(Rule("status", r"_getpages", status=503, every=3, times=3)),
        proxy.add(Rule("status", r"/fhir/Condition", status=502, times=1)),
        proxy.add(Rule("status", r"/fhir/Procedure\?patient", status=500, times=1)),
        proxy.add(Rule("drop", r"/fhir/Patient", times=2)),
        proxy.add(Rule("truncate", r"_getpages", every=4, times=3)),
        proxy.add(Rule("garbage", r"/fhir/Procedure\?patient", times=1)),
        proxy.add(Rule("latency", r".*", delay=0.05, every=5)),
    ]
    snapshot = pull(via(proxy, concurrency=3), synthetic_cohort["study"], tmp_path / "snap")
    assert_pull_matches(snapshot, synthetic_cohort["expected"])
    assert all(rule.applied > 0 for rule in rules), [(r.action, r.pattern, r.applied) for r in rules]
    assert snapshot.manifest.details["http"]["retries"] >= 12


def test_a_persistent_500_is_retried_then_fails_the_pull_naming_url_and_status(
    proxy: FaultProxy, synthetic_cohort: dict[str, Any], tmp_path: Path
):
    rule = proxy.add(Rule("status", r"/fhir/Observation", status=500))
    with pytest.raises(FhirHTTPError, match="gave up after 6 attempts") as caught:
        pull(via(proxy), synthetic_cohort["study"], tmp_path / "snap")
    assert caught.value.status == 500 and "/fhir/Observation" in str(caught.value)
    assert rule.applied == 6
    assert not (tmp_path / "snap" / "manifest.json").exists()


def test_a_persistent_503_exhausts_the_retries_then_fails(
    proxy: FaultProxy, synthetic_cohort: dict[str, Any], tmp_path: Path
):
    rule = proxy.add(Rule("status", r"_getpages", status=503))
    with pytest.raises(FhirHTTPError, match="gave up after 6 attempts") as caught:
        pull(via(proxy), synthetic_cohort["study"], tmp_path / "snap")
    assert caught.value.status == 503 and rule.applied == 6


def test_persistently_truncated_pages_fail_clearly(
    proxy: FaultProxy, synthetic_cohort: dict[str, Any], tmp_path: Path
):
    proxy.add(Rule("truncate", r"/fhir/Condition"))
    with pytest.raises(FhirError, match=r"truncated|not valid JSON"):
        pull(via(proxy, max_attempts=3), synthetic_cohort["study"], tmp_path / "snap")


def test_dropped_connections_every_time_fail_clearly(
    proxy: FaultProxy, synthetic_cohort: dict[str, Any], tmp_path: Path
):
    proxy.add(Rule("drop", r"/fhir/Procedure"))
    with pytest.raises(FhirError, match="connection"):
        pull(via(proxy, max_attempts=3), synthetic_cohort["study"], tmp_path / "snap")


def test_a_slow_server_raises_fhir_timeout(proxy: FaultProxy, synthetic_cohort: dict[str, Any], tmp_path: Path):
    proxy.add(Rule("latency", r"/fhir/Patient", delay=2.0))
    with pytest.raises(FhirTimeout):
        pull(via(proxy, max_attempts=2, read_timeout=0.5), synthetic_cohort["study"], tmp_path / "snap")
