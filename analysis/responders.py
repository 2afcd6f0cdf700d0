"""Responders: patients whose change from the baseline timepoint reaches the instrument's minimal clinically
important difference (MCID) in the better direction, with the exact Clopper–Pearson CI (R ``binom.test``).

Per later timepoint, the patients with both values are counted; a patient who cannot improve by the MCID
(e.g. pain 1 of 10 before surgery with an MCID of 2 points lower) counts as not reaching it. A change equal to
the MCID reaches it (to 1e-9, so that 2.0 − 0.0000000001 from decimal data still counts).
"""

from __future__ import annotations

import pandas as pd

from analysis.data import scores
from analysis.events import clopper_pearson
from analysis.plan import AnalysisPlan, Mcid
from analysis.results import ResponderRate, Responders
from analysis.warnings import WarningLog

SLACK = 1e-9


def responders(measures: pd.DataFrame, study_ids: pd.Series, plan: AnalysisPlan,
               log: WarningLog) -> dict[str, Responders]:
    return {m.instrument: instrument_responders(measures, study_ids, m, plan, log) for m in plan.mcids}


def instrument_responders(measures: pd.DataFrame, study_ids: pd.Series, mcid: Mcid, plan: AnalysisPlan,
                          log: WarningLog) -> Responders:
    scope = f"responders.{mcid.instrument}"
    baseline = plan.baseline
    later = [tp for tp in plan.all_timepoints if tp != baseline]
    table = scores(measures, mcid.instrument, [baseline, *later], study_ids)
    rates = []
    for tp in later:
        both = table[[baseline, tp]].dropna()
        if both.empty:
            continue
        change = both[tp] - both[baseline]
        improvement = change if mcid.better == "higher" else -change
        count, n = int((improvement >= mcid.points - SLACK).sum()), len(both)
        low, high = clopper_pearson(count, n, plan.confidence_level, log, f"{scope}.{tp}")
        rates.append(ResponderRate(tp, n, count, 100.0 * count / n, low, high))
    if not rates:
        log.add_not_computable(scope, f"no patient has {mcid.instrument} at {baseline} and a later timepoint")
    return Responders(mcid.points, mcid.better, baseline, rates)
