"""End to end: the whole pipeline fed by a pull from HAPI equals the pipeline fed by the bundled files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hapi_data import hapi_settings

pytestmark = pytest.mark.hapi


def test_pipeline_from_hapi_gives_the_same_outputs_as_from_the_bundled_files(
    hapi_url: str, demo_seeded: list[dict[str, Any]], tmp_path: Path
):
    from service.pipeline import RunOptions, run_pipeline
    from service.sources import fhir_extract

    from_files = run_pipeline(RunOptions(out=tmp_path / "files", env={}))
    out = tmp_path / "fhir"
    from_fhir = run_pipeline(RunOptions(out=out, extract=fhir_extract(hapi_settings(hapi_url), None, out),
                                        source_label=hapi_url, env={}))
    assert from_files.ok, from_files.error
    assert from_fhir.ok, from_fhir.error
    assert from_fhir.manifest["source"]["kind"] == "fhir-search"
    for name in ("cohort.csv", "measures.csv", "results.json"):
        assert (from_fhir.run_dir / name).read_bytes() == (from_files.run_dir / name).read_bytes(), name
