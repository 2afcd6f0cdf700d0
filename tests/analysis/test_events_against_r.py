"""Complication and event rates against R's binom.test (Clopper–Pearson).

Expected values: tests/reference/make_reference.R → reference_<cohort>.json, ``events``.
"""

from __future__ import annotations

import pandas as pd

from analysis.events import event_rate
from analysis.warnings import WarningLog
from tests.analysis.conftest import ReferenceCohort, assert_matches_r


def test_event_rates_and_exact_intervals_match_r(reference_cohort: ReferenceCohort) -> None:
    ours, r = reference_cohort.results["events"], reference_cohort.r["events"]
    assert [e["name"] for e in ours] == [e["name"] for e in r]
    for o, x in zip(ours, r, strict=True):
        assert (o["count"], o["n"]) == (x["count"], x["n"])
        assert o["percent"] == 100 * x["count"] / x["n"]
        assert_matches_r([o["ci_lower"], o["ci_upper"]], [x["ci_lower"], x["ci_upper"]], f"events.{o['name']}",
                         reference_cohort)


def test_two_of_seven_is_28_6_percent_not_42_8() -> None:
    # The abstract prints 2/7 as 42.8 %; we follow the counts.
    # R 4.2.2: print(binom.test(2, 7)$conf.int, digits = 12) → 0.0366925661761 0.7095791362627
    rate = event_rate(pd.Series([1, 1, 0, 0, 0, 0, 0]), "local_recurrence", 0.95, WarningLog())
    assert rate.percent is not None and round(rate.percent, 1) == 28.6
    assert rate.ci_lower is not None and abs(rate.ci_lower - 0.0366925661761) < 1e-12
    assert rate.ci_upper is not None and abs(rate.ci_upper - 0.7095791362627) < 1e-12


def test_unknown_flags_are_left_out_with_a_warning() -> None:
    log = WarningLog()
    rate = event_rate(pd.Series([1, None, 0]), "dislocation", 0.95, log)
    assert (rate.count, rate.n) == (1, 2)
    assert [w.code for w in log.items] == ["missing_data"]
