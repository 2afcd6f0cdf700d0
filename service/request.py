"""What was asked for, and everything one run needs, each built once and never changed.

A :class:`RunRequest` is what the command line (or the scheduler) asks for. A :class:`RunPlan` is the
request resolved: the study definition (loaded once), the folders, the extraction, the pseudonym key
and the gate. :func:`service.run.run_pipeline` takes the plan; nothing changes it on the way.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from config.deployment import FollowupSettings
from config.study import StudyDefinition
from extractor import Snapshot
from service.keys import PseudonymKey
from service.layout import Layout, new_run_id

Clock = Callable[[], datetime]
Extract = Callable[[Path], Snapshot]
"""Writes a raw snapshot into the given folder and returns it."""

Gate = Callable[[Mapping[str, int], list[str]], list[str]]
"""Given the run's counts and the first extraction problems, says why the run must not be published."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class EmailMode(enum.Enum):
    SEND = "send"
    DRY_RUN = "dry-run"  # write the messages as .eml into the run folder
    OFF = "off"


@dataclass(frozen=True)
class RunRequest:
    trigger: str = "manual"  # schedule | manual | report
    source: Path | None = None  # files or a stored raw/ folder instead of the configured source
    more_sources: tuple[Path, ...] = ()  # --source given again: one site per folder (files or exports)
    fhir_url: str | None = None  # another FHIR server (with the configured settings, if any)
    email: EmailMode = EmailMode.OFF
    resend: bool = False  # send even if this report already went to these recipients
    check_gates: bool = True
    progress: bool = True


@dataclass(frozen=True)
class SitePlan:
    """One site of a run: a pull or files into its raw folder, or (pooling) its published export."""

    site: str  # "" for the one source of a single-site run
    extract: Extract | None = None
    export: Path | None = None
    label: str = ""


@dataclass(frozen=True)
class RunPlan:
    study: StudyDefinition
    layout: Layout
    extract: Extract | None
    source_label: str
    key: PseudonymKey
    trigger: str = "manual"
    gate: Gate | None = None
    clock: Clock = utc_now
    run_id: str = field(default_factory=new_run_id)
    followup: FollowupSettings = field(default_factory=FollowupSettings)
    sites: tuple[SitePlan, ...] = ()  # several sites; empty: the one source of ``extract``
    on_site_failure: str = "block"  # or "publish_without"
    site: str = ""  # this instance's site name, for its export.json
    skip_unchanged: bool = False  # nightly runs: skip analysis and rendering when the input is unchanged
    on_publish_step: Callable[[str], None] | None = None  # tests: a kill point at each publishing step


def site_plans(plan: RunPlan) -> tuple[SitePlan, ...]:
    return plan.sites or (SitePlan("", plan.extract, label=plan.source_label),)
