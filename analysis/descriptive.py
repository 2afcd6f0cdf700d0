"""Descriptive statistics: quantiles by a named Hyndman–Fan rule, numeric summaries and Table 1."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from analysis.inference import finite
from analysis.plan import QUANTILE_METHODS, SEX, AnalysisPlan
from analysis.results import FlagCount, LevelCount, NumericSummary, Table1, TimepointSummary
from analysis.warnings import MissingDataWarning, WarningLog

MISSING = "missing"


def quantiles(values: ArrayLike, probs: Sequence[float], quantile_type: int) -> list[float | None]:
    """Sample quantiles by Hyndman–Fan ``quantile_type`` (R ``quantile(x, probs, type=)``); None if empty."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return [None for _ in probs]
    method = QUANTILE_METHODS[quantile_type]
    return [finite(q) for q in np.quantile(x, list(probs), method=method)]  # type: ignore[call-overload]


def numeric_summary(values: ArrayLike, quantile_type: int) -> NumericSummary:
    """n, mean, SD (n − 1), median and quartiles (by ``quantile_type``), min and max of the non-missing values."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    q1, median, q3 = quantiles(x, (0.25, 0.5, 0.75), quantile_type)
    if len(x) == 0:
        return NumericSummary(0, None, None, None, None, None, None, None)
    sd = finite(np.std(x, ddof=1)) if len(x) > 1 else None
    return NumericSummary(len(x), finite(np.mean(x)), sd, median, q1, q3, finite(x.min()), finite(x.max()))


def timepoint_summary(values: ArrayLike, quantile_type: int) -> TimepointSummary:
    s = numeric_summary(values, quantile_type)
    return TimepointSummary(n=s.n, median=s.median, q1=s.q1, q3=s.q3, mean=s.mean, sd=s.sd)


def level_counts(values: pd.Series, preferred: Sequence[str] = ()) -> list[LevelCount]:
    """Count per level: ``preferred`` levels first (when present), then the rest by count, then name."""
    counts = values.fillna(MISSING).astype(str).value_counts()
    rest = sorted((lvl for lvl in counts.index if lvl not in preferred), key=lambda lvl: (-counts[lvl], lvl))
    order = [lvl for lvl in preferred if lvl in counts.index] + rest
    total = int(counts.sum())
    return [LevelCount(lvl, int(counts[lvl]), _percent(int(counts[lvl]), total)) for lvl in order]


def flag_count(values: pd.Series) -> FlagCount:
    known = pd.to_numeric(values, errors="coerce").dropna()
    count = int((known == 1).sum())
    return FlagCount(count, len(known), _percent(count, len(known)))


def _percent(count: int, n: int) -> float | None:
    return 100.0 * count / n if n else None


def table1(patients: pd.DataFrame, plan: AnalysisPlan, log: WarningLog) -> Table1:
    """Table 1: sex and age, then each fact of the plan (a 0/1 flag counted, a categorical fact by level)."""
    factors = {c.name: ((c.reference,) if c.reference else ()) + c.levels
               for c in (*plan.logrank, *plan.survival_covariates)}
    for column in (SEX, *(f.name for f in plan.table1 if not f.flag)):
        missing = int(patients[column].isna().sum())
        if missing:
            log.add(MissingDataWarning, f"table1.{column}", f"{missing} patient(s) without {column}")
    facts: dict[str, list[LevelCount] | FlagCount] = {
        f.name: flag_count(patients[f.name]) if f.flag else level_counts(patients[f.name], f.levels)
        for f in plan.table1
    }
    return Table1(
        n=len(patients),
        sex=level_counts(patients[SEX], factors.get(SEX, ())),
        age=numeric_summary(pd.to_numeric(patients["age_at_surgery"], errors="coerce"), plan.quantile_type),
        facts=facts,
    )
