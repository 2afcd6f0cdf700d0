"""Where a service run reads its data: the deployment's FHIR server or files, or a command-line override.

Precedence: ``--source`` (files or a stored ``raw/`` folder) > ``--fhir-url`` > the deployment's
``source`` > its ``[fhir]`` table > the bundled demo cohort.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from config.deployment import Deployment
from config.fhir import FhirSettings, normalize_base_url
from config.study import load_study
from extractor.snapshot import Snapshot
from service.pipeline import Extract, RunOptions, published_run_id

if TYPE_CHECKING:
    from service.jobs import JobRequest


def fhir_extract(settings: FhirSettings, study_file: Path | None, out: Path, *, progress: bool = False) -> Extract:
    """A pull from the FHIR server; incremental on top of the published run's raw snapshot when enabled."""

    def extract(folder: Path) -> Snapshot:
        from extractor import pull

        previous = None
        run_id = published_run_id(out)
        if settings.incremental and run_id and (out / "runs" / run_id / "raw" / "manifest.json").exists():
            previous = Snapshot.open(out / "runs" / run_id / "raw")
        return pull(settings, load_study(study_file), folder, previous=previous, progress=progress)

    return extract


def run_options(deployment: Deployment, request: JobRequest) -> RunOptions:
    """The pipeline's options for one service run."""
    options = RunOptions(
        out=deployment.paths.out_dir,
        study_file=deployment.study_file,
        trigger=request.trigger,
        env=deployment.env,
    )
    if request.source is not None:
        options.source = request.source
        return options
    fhir = deployment.fhir
    if request.fhir_url:
        fhir = fhir.with_base_url(request.fhir_url) if fhir else FhirSettings(normalize_base_url(request.fhir_url))
    elif deployment.source is not None:
        options.source = deployment.source
        return options
    if fhir is not None:
        options.extract = fhir_extract(fhir, deployment.study_file, deployment.paths.out_dir, progress=True)
        options.source_label = fhir.base_url
    return options
