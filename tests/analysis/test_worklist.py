"""The follow-up worklist: every window edge, deaths, withdrawals, a patient operated on today."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from analysis.worklist import Window, completeness, worklist

TODAY = date(2026, 12, 1)
SCHEDULE = [("vas", Window("pre", -90, 0)), ("vas", Window("3m", 60, 120)), ("kps", Window("3m", 60, 120))]
NO_MEASURES = pd.DataFrame(columns=["study_id", "instrument", "timepoint", "value"])


def operated(days_ago: int, study_id: str = "P1") -> pd.DataFrame:
    return pd.DataFrame({"study_id": [study_id], "surgery_date": [(TODAY - timedelta(days=days_ago)).isoformat()]})


def states(days_ago: int, **options) -> dict[tuple[str, str], str]:
    items = worklist(operated(days_ago), options.pop("measures", NO_MEASURES), SCHEDULE, today=TODAY, **options)
    return {(i.instrument, i.timepoint): i.state for i in items}


@pytest.mark.parametrize(
    ("days_ago", "state"),
    [
        (60 - 15, "upcoming"),  # opens in exactly 15 days, upcoming_days=15
        (60 - 16, None),  # opens in 16: later, not listed
        (59, "upcoming"),  # opens tomorrow
        (60, "due"),  # opens today
        (120, "due"),  # closes today
        (121, "overdue"),  # closed yesterday
    ],
)
def test_the_3_month_window_at_each_of_its_edges(days_ago: int, state: str | None) -> None:
    assert states(days_ago, upcoming_days=15).get(("vas", "3m")) == state


def test_a_patient_operated_on_today_is_due_for_the_preoperative_score_only() -> None:
    assert states(0) == {("vas", "pre"): "due"}


def test_a_value_makes_it_done_whatever_the_window() -> None:
    measures = pd.DataFrame({"study_id": ["P1"], "instrument": ["vas"], "timepoint": ["3m"], "value": [3.0]})
    got = states(200, measures=measures)
    assert got == {("vas", "pre"): "overdue", ("vas", "3m"): "done", ("kps", "3m"): "overdue"}


def test_a_death_before_a_window_closes_makes_it_not_applicable_not_overdue() -> None:
    deaths = {"P1": TODAY - timedelta(days=150)}  # died 50 days after surgery, before the 3m window
    got = states(200, deaths=deaths)
    assert got == {("vas", "pre"): "overdue", ("vas", "3m"): "not applicable", ("kps", "3m"): "not applicable"}
    assert states(200, deaths={"P1": TODAY - timedelta(days=10)})[("vas", "3m")] == "overdue"  # died after it


def test_withdrawn_patients_have_nothing_left_to_do() -> None:
    assert set(states(100, withdrawn=frozenset({"P1"})).values()) == {"not applicable"}


def test_items_come_overdue_first_then_by_the_day_their_window_closes() -> None:
    patients = pd.concat([operated(100, "A"), operated(200, "B"), operated(10, "C")])
    items = worklist(patients, NO_MEASURES, SCHEDULE, today=TODAY, upcoming_days=60)
    assert [(i.study_id, i.instrument, i.timepoint, i.state) for i in items][:6] == [
        ("B", "vas", "pre", "overdue"), ("A", "vas", "pre", "overdue"),  # closed 200 - 0, 100 - 0 days ago
        ("B", "kps", "3m", "overdue"), ("B", "vas", "3m", "overdue"),  # closed 200 - 120 days ago
        ("C", "vas", "pre", "overdue"),  # closed 10 days ago
        ("A", "kps", "3m", "due"),
    ]
    assert [i.state for i in items if i.study_id == "C"] == ["overdue", "upcoming", "upcoming"]


def test_completeness_counts_closed_windows_only() -> None:
    patients = pd.concat([operated(200, "A"), operated(200, "B"), operated(90, "C")])
    measures = pd.DataFrame({"study_id": ["A"], "instrument": ["vas"], "timepoint": ["3m"], "value": [2.0]})
    items = worklist(patients, measures, SCHEDULE, today=TODAY)
    table = {(c.instrument, c.timepoint): (c.done, c.expected, c.percent) for c in completeness(items, SCHEDULE)}
    assert table[("vas", "3m")] == (1, 2, 50.0)  # C's window is still open: not expected yet
    assert table[("kps", "3m")] == (0, 2, 0.0)
    assert table[("vas", "pre")] == (0, 3, 0.0)
