"""The formatting rules every printed figure goes through."""

from __future__ import annotations

import math

import pytest

from reports import formatting as fmt


@pytest.mark.parametrize("value, expected", [
    (0.0004, "< 0.001"), (0.001, "0.001"), (0.0236, "0.024"), (1.0, "1.000"), (None, "—"), (math.nan, "—"),
])
def test_p_values_have_three_decimals_and_a_floor(value: float | None, expected: str) -> None:
    assert fmt.pvalue(value) == expected


def test_p_equation_reads_naturally() -> None:
    assert fmt.p_equation(0.0004) == "p < 0.001" and fmt.p_equation(0.048) == "p = 0.048"


def test_negative_numbers_use_a_true_minus_and_negative_zero_is_zero() -> None:
    assert fmt.number(-9.5, 2) == "−9.50"
    assert fmt.number(-0.0001, 2) == "0.00"


def test_summaries() -> None:
    assert fmt.median_iqr(7, 6, 8.5) == "7.0 (6.0–8.5)"
    assert fmt.mean_sd(11, 4.2) == "11.00 ± 4.20"
    assert fmt.interval(-0.92, -0.35, 2) == "−0.92 to −0.35"  # a range with a negative bound
    assert fmt.df(3) == "3" and fmt.df(3.9025) == "3.90"
    assert fmt.median_iqr(None, 1, 2) == "—" and fmt.hazard_ratio(None, None, None) == "—"


def test_every_confidence_interval_reads_low_to_high_in_one_style() -> None:
    assert fmt.percent_ci(57.142857, 18.405, 90.101) == "57.1% (18.4 to 90.1)"
    assert fmt.hazard_ratio(3.1898, 0.287, 35.457) == "3.19 (0.29 to 35.46)"
    assert fmt.estimate_ci(0.733, 0.0177, 1.448, 2) == "0.73 (0.02 to 1.45)"
    assert fmt.estimate_ci(-0.633, -0.92, -0.35, 2) == "−0.63 (−0.92 to −0.35)"
    assert fmt.ci(None, 0.5, 1) == "— to 0.5" and fmt.ci(None, None, 1) == "—"


def test_decimals_follow_the_measure_kps_in_tens_vas_in_half_points() -> None:
    assert fmt.decimals_of([40, 60.0, 80]) == 0 and fmt.decimals_of([7.5, 2.0]) == 1
    assert fmt.median_iqr(60, 40, 60, 0) == "60 (40–60)"  # KPS 60, not 60.0
    assert fmt.median_iqr(60, 42.5, 70, 0) == "60 (42.5–70)"  # a quartile between two values keeps its half
    assert fmt.mean_sd(51.43, 10.69, 1) == "51.4 ± 10.7"
    assert fmt.rank_statistic(28.0) == "28" and fmt.rank_statistic(5.5) == "5.5"  # V = 28, not 28.00


@pytest.mark.parametrize("percent, low, high, n, expected", [
    (57.142857, 0.18405, 0.90101, 7, (18.405, 90.101)),  # CI as a proportion
    (57.142857, 18.405, 90.101, 7, (18.405, 90.101)),  # CI in percent
    (0.0, 0.0, 0.40962, 7, (0.0, 40.962)),  # no events, proportion: upper = 1 - 0.025^(1/7)
    (0.0, 0.0, 0.73503, 500, (0.0, 0.73503)),  # no events in 500, percent
])
def test_event_cis_are_shown_in_percent_whatever_the_scale_in_results(
    percent: float, low: float, high: float, n: int, expected: tuple[float, float]
) -> None:
    lo, hi = fmt.ci_percent(percent, low, high, n)
    assert lo == pytest.approx(expected[0]) and hi == pytest.approx(expected[1])


def test_quantile_rule_is_named() -> None:
    assert fmt.quantile_rule(7).startswith("R type 7: linear")
