"""Where a run reads its data, and the plan of a run built from a request.

Precedence: ``--source`` (files or a stored ``raw/`` folder) > ``--fhir-url`` > the deployment's
``source`` > its ``[fhir]`` table > the bundled demo cohort.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from config.deployment import SiteSource
from config.fhir import FhirSettings, normalize_base_url
from config.study import StudyDefinition
from extractor import Snapshot, demo_source, read_files
from service.layout import Layout
from service.publish import published_run_id
from service.request import Extract, RunRequest, SitePlan


def fhir_extract(
    settings: FhirSettings, study: StudyDefinition, layout: Layout, *, progress: bool, site: str = ""
) -> Extract:
    """A pull from the FHIR server; incremental on top of the published run's raw snapshot when enabled."""

    def extract(folder: Path) -> Snapshot:
        from extractor import pull

        previous = None
        run_id = published_run_id(layout.out_dir)
        stored = layout.raw_dir(run_id) / site if run_id and site else layout.raw_dir(run_id) if run_id else None
        if settings.incremental and stored is not None and (stored / "manifest.json").exists():
            previous = Snapshot.open(stored)
        return pull(settings, study, folder, previous=previous, progress=progress)

    return extract


def files_extract(source: Path) -> Extract:
    def extract(folder: Path) -> Snapshot:
        return read_files(source, folder)

    return extract


def site_plans(sites: tuple[SiteSource, ...], study: StudyDefinition, layout: Layout, *, progress: bool
               ) -> tuple[SitePlan, ...]:
    """The deployment's [[sources]], one plan per site."""
    plans = []
    for source in sites:
        if source.kind == "export":
            plans.append(SitePlan(source.site, export=source.path, label=str(source.path)))
        elif source.kind == "fhir" and source.fhir is not None:
            extract = fhir_extract(source.fhir, study, layout, progress=progress, site=source.site)
            plans.append(SitePlan(source.site, extract, label=source.fhir.base_url))
        elif source.path is not None:
            plans.append(SitePlan(source.site, files_extract(source.path), label=str(source.path)))
    return tuple(plans)


def folder_sites(folders: list[Path]) -> tuple[SitePlan, ...]:
    """``--source`` given several times (or a stored multi-site raw folder): one site per folder, named by it.

    A folder holding a published export (``export.json``) is read as an export (pooling); any other as files.
    """
    plans = []
    for folder in folders:
        if (folder / "export.json").exists():
            plans.append(SitePlan(_export_site(folder), export=folder, label=str(folder)))
        else:
            plans.append(SitePlan(folder.name, files_extract(folder), label=""))
    return tuple(plans)


def stored_sites(raw: Path) -> list[Path] | None:
    """The site folders of a stored multi-site raw snapshot (``raw/<site>/manifest.json``), if it is one."""
    if (raw / "manifest.json").exists() or not raw.is_dir():
        return None
    sites = sorted(p for p in raw.iterdir() if (p / "manifest.json").exists())
    return sites or None


def _export_site(folder: Path) -> str:
    try:
        site = json.loads((folder / "export.json").read_text(encoding="utf-8")).get("site")
    except (OSError, ValueError, AttributeError):
        site = None
    return str(site) if site else folder.name


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


def source_parts(
    request: RunRequest,
    study: StudyDefinition,
    layout: Layout,
    *,
    fhir: FhirSettings | None = None,
    configured_source: Path | None = None,
    configured_sites: tuple[SiteSource, ...] = (),
) -> dict[str, Any]:
    """The source fields of a run's plan: ``extract`` and ``source_label`` for one source, ``sites`` for several.

    ``--source`` given several times, or a stored multi-site raw folder, or the deployment's [[sources]]
    (when no command-line source overrides it) make a multi-site run.
    """
    folders = [request.source, *request.more_sources] if request.source is not None else []
    stored = stored_sites(folders[0]) if len(folders) == 1 else None
    if len(folders) > 1 or stored:
        return {"sites": folder_sites(stored or folders)}
    if configured_sites and not folders and not request.fhir_url:
        return {"sites": site_plans(configured_sites, study, layout, progress=request.progress)}
    extract, label = choose_source(request, study, layout, fhir=fhir, configured_source=configured_source)
    return {"extract": extract, "source_label": label}
