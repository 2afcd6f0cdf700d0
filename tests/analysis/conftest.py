"""Reference cohorts and R's values for them.

Every ``tests/reference/<name>/`` holding ``cohort.csv`` and ``measures.csv`` (and optionally ``events.csv``,
the mapping's events table) with a ``tests/reference/reference_<name>.json`` beside it is a reference cohort,
analysed with the plan of the bundled study file (``plan_from_study``): the JSON is the output of
``Rscript tests/reference/make_reference.R tests/reference/<name> tests/reference/reference_<name>.json``
(R stats + survival). To add the demo cohort, copy its two CSVs to ``tests/reference/demo/`` and run that
command; every test parametrised over ``reference_cohort`` then covers it too.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from analysis import Results, analyse
from analysis.plan import plan_from_study
from config.study import load_study

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference"
R_SCRIPT = "tests/reference/make_reference.R"
REL = 1e-6


def cohort_names() -> list[str]:
    """The cohorts with ``make_reference.R``'s values (another study's, e.g. the femur's
    ``make_reference_femur.R``, is tested with its own plan elsewhere)."""
    return sorted(
        d.name for d in REFERENCE_DIR.iterdir()
        if (d / "cohort.csv").exists() and (d / "measures.csv").exists()
        and (REFERENCE_DIR / f"reference_{d.name}.json").exists() and _source(d.name) == R_SCRIPT
    )


def _source(name: str) -> object:
    return json.loads((REFERENCE_DIR / f"reference_{name}.json").read_text(encoding="utf-8")).get("source")


@dataclass(frozen=True)
class ReferenceCohort:
    name: str
    patients: pd.DataFrame
    measures: pd.DataFrame
    r: dict[str, Any]  # R's values, from reference_<name>.json
    results: dict[str, Any]  # ours, analyse(...).to_dict() with the bundled study's plan

    @property
    def source(self) -> str:
        return f"{R_SCRIPT} → tests/reference/reference_{self.name}.json"


def read_cohort(name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    folder = REFERENCE_DIR / name
    return pd.read_csv(folder / "cohort.csv"), pd.read_csv(folder / "measures.csv")


def read_events(name: str) -> pd.DataFrame | None:
    path = REFERENCE_DIR / name / "events.csv"
    return pd.read_csv(path) if path.exists() else None


@cache
def _analysed(name: str) -> Results:
    patients, measures = read_cohort(name)
    return analyse(patients, measures, plan_from_study(load_study()), events=read_events(name))


@cache
def _reference(name: str) -> ReferenceCohort:
    patients, measures = read_cohort(name)
    r = json.loads((REFERENCE_DIR / f"reference_{name}.json").read_text(encoding="utf-8"))
    return ReferenceCohort(name, patients, measures, r, _analysed(name).to_dict())


@pytest.fixture(params=cohort_names())
def reference_cohort(request: pytest.FixtureRequest) -> ReferenceCohort:
    return _reference(request.param)


@pytest.fixture
def generated() -> ReferenceCohort:
    return _reference("generated")


@pytest.fixture
def small() -> ReferenceCohort:
    return _reference("small")


def as_list(value: Any) -> list[Any]:
    """jsonlite writes a length-1 vector as a scalar (auto_unbox); make it a list again."""
    return value if isinstance(value, list) else [value]


def assert_matches_r(ours: Any, expected: Any, where: str, cohort: ReferenceCohort) -> None:
    """Ours equals R's to 1e-6 relative; None/NaN only where R has NA (JSON null)."""
    ours_list, r_list = as_list(ours), as_list(expected)
    assert len(ours_list) == len(r_list), f"{where}: {len(ours_list)} values, R has {len(r_list)} ({cohort.source})"
    for i, (a, b) in enumerate(zip(ours_list, r_list, strict=True)):
        missing_a = a is None or (isinstance(a, float) and math.isnan(a))
        if b is None:
            assert missing_a, f"{where}[{i}]: ours {a}, R NA ({cohort.source})"
            continue
        assert not missing_a, f"{where}[{i}]: ours missing, R {b} ({cohort.source})"
        assert a == pytest.approx(b, rel=REL, abs=1e-12), f"{where}[{i}]: ours {a}, R {b} ({cohort.source})"


@pytest.fixture
def demo() -> ReferenceCohort:
    return _reference("demo")
