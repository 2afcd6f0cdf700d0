"""Where a run reads its data, and the plan of a run built from a request.

Precedence: ``--source`` (files or a stored ``raw/`` folder) > ``--fhir-url`` > the deployment's
``source`` > its ``[fhir]`` table > the bundled demo cohort.
"""

from __future__ import annotations

from pathlib import Path

from config.fhir import FhirSettings, normalize_base_url
from config.study import StudyDefinition
from extractor import Snapshot, demo_source, read_files
from service.layout import Layout
from service.publish import published_run_id
from service.request import Extract, RunRequest


def fhir_extract(settings: FhirSettings, study: StudyDefinition, layout: Layout, *, progress: bool) -> Extract:
    """A pull from the FHIR server; incremental on top of the published run's raw snapshot when enabled."""

    def extract(folder: Path) -> Snapshot:
        from extractor import pull

        previous = None
        run_id = published_run_id(layout.out_dir)
        if settings.incremental and run_id and (layout.raw_dir(run_id) / "manifest.json").exists():
            previous = Snapshot.open(layout.raw_dir(run_id))
        return pull(settings, study, folder, previous=previous, progress=progress)

    return extract


def files_extract(source: Path) -> Extract:
    def extract(folder: Path) -> Snapshot:
        return read_files(source, folder)

    return extract


def choose_source(
    request: RunRequest,
    study: StudyDefinition,
    layout: Layout,
    *,
    fhir: FhirSettings | None = None,
    configured_source: Path | None = None,
) -> tuple[Extract, str]:
    """The extraction of this run and the name of its source ("" for files: the snapshot names its origin)."""
    if request.source is not None:
        return files_extract(request.source), ""
    if request.fhir_url:
        fhir = fhir.with_base_url(request.fhir_url) if fhir else FhirSettings(normalize_base_url(request.fhir_url))
    elif configured_source is not None:
        return files_extract(configured_source), ""
    if fhir is not None:
        return fhir_extract(fhir, study, layout, progress=request.progress), fhir.base_url
    return files_extract(demo_source()), ""
