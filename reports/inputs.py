"""Reading one run's files: the inputs of the report, checked just enough to render honestly."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from config.errors import ReportError

COHORT = "cohort.csv"
MEASURES = "measures.csv"
RESULTS = "results.json"
QUALITY = "data_quality.json"
RUN = "run.json"

MEASURE_COLUMNS = ("study_id", "instrument", "timepoint", "value")
COHORT_COLUMNS = ("study_id",)


@dataclass(frozen=True)
class RunFiles:
    """The tables and documents of one run, as written by the pipeline."""

    cohort: pd.DataFrame
    measures: pd.DataFrame
    results: dict[str, Any]
    quality: dict[str, Any]


def _read_csv(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype={"study_id": str})
    except (OSError, ValueError) as exc:
        raise ReportError(f"cannot read {path.name}: {exc}") from exc
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ReportError(f"{path.name} lacks the column(s) {', '.join(missing)}")
    return frame


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReportError(f"cannot read {path.name}: {exc}") from exc
    if not isinstance(data, dict):
        raise ReportError(f"{path.name} is not a JSON object")
    return data


def read_run_files(folder: Path) -> RunFiles:
    """Read cohort.csv, measures.csv, results.json and data_quality.json from a run folder."""
    return RunFiles(
        cohort=_read_csv(folder / COHORT, COHORT_COLUMNS),
        measures=_read_csv(folder / MEASURES, MEASURE_COLUMNS),
        results=read_json(folder / RESULTS),
        quality=read_json(folder / QUALITY),
    )


def read_run_manifest(folder: Path) -> dict[str, Any]:
    """The run.json of a finished run, or an empty dict when there is none (the change log then says less)."""
    path = folder / RUN
    if not path.exists():
        return {}
    try:
        return read_json(path)
    except ReportError:
        return {}


def dig(data: Any, path: str) -> Any:
    """``dig(results, "survival.os.median_months")``: the value at a dotted path, or None where absent."""
    node = data
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node
