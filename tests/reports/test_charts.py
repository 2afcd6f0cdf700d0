"""Charts: self-contained SVG, KM geometry, numbers at risk."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import numpy as np
import pandas as pd

from config.study import load_study
from reports import charts, figures, kmplot
from tests.reports.conftest import FIXTURES

TIMEPOINTS = ("pre", "1m", "3m", "6m")


def _inputs() -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    results = json.loads((FIXTURES / "results.json").read_text(encoding="utf-8"))
    return (results, pd.read_csv(FIXTURES / "cohort.csv", dtype={"study_id": str}),
            pd.read_csv(FIXTURES / "measures.csv", dtype={"study_id": str}))


def _assert_self_contained(svg: str) -> None:
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "<image" not in svg and "<metadata" not in svg and "<script" not in svg
    assert not re.search(r"""href=["'](?!#)""", svg)  # only internal references


def test_every_chart_is_a_self_contained_svg() -> None:
    results, cohort, measures = _inputs()
    svgs = [
        charts.trend_chart(measures, results, [("vas", "Pain, VAS (0-10)"), ("kps", "KPS (0-100)")], TIMEPOINTS),
        charts.paired_chart(measures, figures.paired_panels(cohort, load_study())),
        kmplot.km_chart(results["survival"]["os"]["km"], cohort["os_months"], cohort["os_event"], "OS"),
    ]
    for svg in svgs:
        _assert_self_contained(svg)


def test_charts_label_axes_with_units_and_the_risk_table() -> None:
    results, cohort, measures = _inputs()
    trend = charts.trend_chart(measures, results, [("vas", "Pain, VAS (0-10)")], TIMEPOINTS)
    assert "Months after surgery" in trend and "Pain, VAS (0-10)" in trend and "Median" in trend
    paired = charts.paired_chart(measures, figures.paired_panels(cohort, load_study()))
    assert "Contralateral sacroiliac joint space (mm)" in paired and "MSTS 93 (0-30)" in paired
    assert "MSTS 93 (n = 7)" in paired and "SIJ, zone IV involved (n = 3)" in paired
    assert "SIJ, no zone IV involved (n = 4)" in paired
    km = kmplot.km_chart(results["survival"]["pfs"]["km"], cohort["pfs_months"], cohort["pfs_event"], "PFS")
    assert "At risk" in km and "Probability (survival)" in km and "Censored" in km


def test_charts_are_deterministic() -> None:
    results, cohort, _ = _inputs()
    km = results["survival"]["os"]["km"]
    assert kmplot.km_chart(km, cohort["os_months"], cohort["os_event"], "OS") == kmplot.km_chart(
        km, cohort["os_months"], cohort["os_event"], "OS")


def test_km_steps_start_at_one_and_run_to_the_last_follow_up() -> None:
    km: list[dict[str, Any]] = [
        {"time_months": 4.2, "survival": 0.857, "ci_lower": 0.33, "ci_upper": 0.98, "at_risk": 7},
        {"time_months": 4.9, "survival": 0.714, "ci_lower": None, "ci_upper": None, "at_risk": 6},
    ]
    times, surv, low, _ = kmplot.step_points(km, 18.2)
    assert list(times) == [0.0, 4.2, 4.9, 18.2] and list(surv) == [1.0, 0.857, 0.714, 0.714]
    assert np.isnan(low[2])
    assert kmplot.survival_at(times, surv, 4.5) == 0.857 and kmplot.survival_at(times, surv, 4.9) == 0.714


def test_numbers_at_risk_count_patients_still_followed_every_three_months() -> None:
    durations = pd.Series([6.0, 18.2, 12.4, 10.1, 7.3, 6.2, 14.0])
    ticks = kmplot.ticks_for(18.2)
    assert list(ticks) == [0.0, 3.0, 6.0, 9.0, 12.0, 15.0, 18.0]
    assert kmplot.at_risk(durations, ticks) == [7, 7, 7, 4, 3, 1, 1]
    assert list(kmplot.ticks_for(40.0))[:3] == [0.0, 6.0, 12.0]  # beyond three years every 6 months


def test_charts_survive_empty_data() -> None:
    empty = pd.DataFrame(columns=["study_id", "instrument", "timepoint", "value"])
    _assert_self_contained(charts.trend_chart(empty, {}, [("vas", "VAS")], TIMEPOINTS))
    _assert_self_contained(charts.paired_chart(empty, figures.paired_panels(pd.DataFrame({"study_id": []}),
                                                                            load_study())))
    _assert_self_contained(charts.paired_chart(empty, []))
    _assert_self_contained(kmplot.km_chart([], pd.Series(dtype=float), pd.Series(dtype=float), "OS"))


def test_the_paired_chart_follows_the_plan() -> None:
    """A panel per comparison overall and per subgroup of its fact: a rule flag F splits into F and no_F, another
    fact into its two levels; no paired comparison in the plan, no panel."""
    study = load_study()
    cohort = pd.read_csv(FIXTURES / "cohort.csv", dtype={"study_id": str})
    panels = figures.paired_panels(cohort, study)
    assert [(p.instrument, p.pair, p.title) for p in panels] == [
        ("msts93", ("pre", "3m"), "MSTS 93"),
        ("sij_contralateral_mm", ("pre", "6m"), "SIJ, zone IV involved"),
        ("sij_contralateral_mm", ("pre", "6m"), "SIJ, no zone IV involved"),
    ]
    assert panels[1].patients == frozenset(cohort.loc[cohort["zone_iv"] == 1, "study_id"])
    assert panels[1].ylabel and not panels[2].ylabel  # the second subgroup shares the first's axis
    assert panels[0].ticks == ("Pre-op", "3 months")
    spec = dataclasses.replace(study.analysis.paired[1], by="resection_margin", overall=True)
    facts = dict(study.facts)
    facts["resection_margin"] = dataclasses.replace(study.facts["resection_margin"], levels=("wide", "marginal"),
                                                    level_labels={"wide": "Wide margin"})
    plan = dataclasses.replace(study.analysis, paired=(spec,))
    by_margin = figures.paired_panels(cohort, dataclasses.replace(study, analysis=plan, facts=facts))
    assert [p.title for p in by_margin] == ["SIJ", "SIJ, wide margin", "SIJ, marginal"]
    assert by_margin[1].patients == frozenset(cohort.loc[cohort["resection_margin"] == "wide", "study_id"])
    none = dataclasses.replace(study, analysis=dataclasses.replace(study.analysis, paired=()))
    assert figures.paired_panels(cohort, none) == []


def test_timepoints_sit_at_their_window_target_in_months() -> None:
    axis = figures.time_axis(load_study())
    assert [axis.month(t) for t in TIMEPOINTS] == [0.0, 1.0, 3.0, 6.0]
    assert [axis.tick(t) for t in TIMEPOINTS] == ["Pre-op", "1", "3", "6"]


def test_long_panel_titles_wrap_above_their_panel_with_n_on_its_own_line() -> None:
    assert charts._panel_title("SIJ, no zone IV involved (n = 4)", 3) == "SIJ, no zone IV involved (n = 4)"
    assert charts._panel_title("TESS, uncemented (press-fit) stem (n = 16)", 4) == \
        "TESS, uncemented\n(press-fit) stem\n(n = 16)"
