"""Table 1 (patient characteristics), counted from cohort.csv.

Categories are listed in the order of the study definition where it defines one, then alphabetically;
percentages are of all patients. A missing value is counted as "not recorded", never dropped silently.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from config.study import StudyDefinition
from reports import formatting as fmt

NOT_RECORDED = "not recorded"


def _count(n: int, total: int) -> str:
    return f"{n} ({fmt.percent(100 * n / total)})" if total else str(n)


def _categorical(title: str, values: pd.Series, order: Iterable[str] = ()) -> list[dict[str, Any]]:
    text = values.fillna(NOT_RECORDED).astype(str)
    counts = text.value_counts()
    known = [c for c in order if c in counts.index]
    rest = sorted(c for c in counts.index if c not in known and c != NOT_RECORDED)
    levels = known + rest + ([NOT_RECORDED] if NOT_RECORDED in counts.index else [])
    rows: list[dict[str, Any]] = [{"label": title, "value": "", "level": 0}]
    rows += [{"label": level, "value": _count(int(counts[level]), len(values)), "level": 1} for level in levels]
    return rows


def _age(values: pd.Series) -> list[dict[str, Any]]:
    ages = pd.to_numeric(values, errors="coerce").dropna()
    sd = ages.std(ddof=1) if len(ages) > 1 else None
    return [
        {"label": "Age at surgery, years", "value": "", "level": 0},
        {"label": "mean ± SD", "value": fmt.mean_sd(ages.mean() if len(ages) else None, sd, 1), "level": 1},
        {"label": "range", "value": fmt.interval(ages.min(), ages.max(), 0) if len(ages) else fmt.MISSING, "level": 1},
    ]


def _diagnoses(category: pd.Series, diagnosis: pd.Series) -> list[dict[str, Any]]:
    rows = _categorical("Tumour category", category, ["primary", "secondary"])
    pairs = pd.DataFrame({"category": category.fillna(NOT_RECORDED), "diagnosis": diagnosis.fillna(NOT_RECORDED)})
    counts = pairs.value_counts().sort_index()
    rows.append({"label": "Diagnosis", "value": "", "level": 0})
    for key, k in counts.items():
        cat, dx = key if isinstance(key, tuple) else (NOT_RECORDED, str(key))
        rows.append({"label": f"{dx} ({cat})", "value": _count(int(k), len(pairs)), "level": 1})
    return rows


COLUMNS = ("sex", "age_at_surgery", "tumor_category", "diagnosis", "enneking_zones", "zone_iv",
           "resection_margin", "reconstruction")


def table1(cohort: pd.DataFrame, study: StudyDefinition) -> list[dict[str, Any]]:
    """Rows ``{label, value, level}``: level 0 is a heading row, level 1 a category under it."""
    n = len(cohort)
    frame = cohort.reindex(columns=list(COLUMNS))  # an absent column reads as "not recorded"
    zone_iv = pd.to_numeric(frame["zone_iv"], errors="coerce")
    rows: list[dict[str, Any]] = [{"label": "Patients", "value": str(n), "level": 0}]
    rows += _categorical("Sex", frame["sex"], ["male", "female"])
    rows += _age(frame["age_at_surgery"])
    rows += _diagnoses(frame["tumor_category"], frame["diagnosis"])
    rows += _categorical("Enneking zones", frame["enneking_zones"])
    rows.append({"label": "Zone IV involved", "value": _count(int((zone_iv == 1).sum()), n), "level": 1})
    rows += _categorical("Resection margin", frame["resection_margin"], list(study.margin_values))
    rows += _categorical("Reconstruction", frame["reconstruction"], list(study.index_procedure))
    return rows


def halves(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Table 1 in two columns side by side, split at the heading row nearest the middle (half a page, not one)."""
    starts = [i for i, row in enumerate(rows) if row["level"] == 0 and i > 0]
    if not starts:
        return [rows]
    cut = min(starts, key=lambda i: abs(2 * i - len(rows)))
    return [rows[:cut], rows[cut:]]
