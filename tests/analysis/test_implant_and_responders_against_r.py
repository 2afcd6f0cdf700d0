"""Responders, implant outcome and complication timing, against R.

Expected values: tests/reference/make_reference.R → reference_<cohort>.json: ``responders.<instrument>[]``
(count of patients whose change from ``pre`` reaches the MCID, binom.test(count, n)$conf.int);
``implant.failure_types[]`` / ``.any_failure`` (patients with any column of a Henderson type, binom.test),
``implant.reoperation`` (binom.test, days from surgery), ``implant.km`` (survfit of revision_months /
revision, log-log: median and its CI, summary(fit, times = ) landmarks, numbers at risk); ``events[]
.median_days_from_surgery`` (median() of the events table's days). R's settings are copied from
config/study.toml; the first test checks that the two still agree.
"""

from __future__ import annotations

from typing import Any

import pytest

from analysis.plan import plan_from_study
from config.study import load_study
from tests.analysis.conftest import ReferenceCohort, as_list, assert_matches_r
from tests.analysis.test_clinical_survival_against_r import check_landmarks, check_risk_table


def test_r_uses_the_settings_of_the_bundled_study_file(reference_cohort: ReferenceCohort) -> None:
    study, r = load_study(), reference_cohort.r["settings"]
    plan = plan_from_study(study)
    assert list(plan.landmark_months) == as_list(r["landmark_months"])
    assert plan.risk_table_every_months == r["risk_table_every_months"]
    assert plan.baseline == r["baseline"]
    assert {m.instrument: {"points": m.points, "better": m.better} for m in plan.mcids} == r["mcid"]
    henderson = {k: as_list(v) for k, v in r["henderson"].items()}
    assert {str(m.type): list(m.flags) for m in plan.failure_modes} == henderson
    assert plan.implant_endpoint == r["implant_endpoint"]


def test_responders_match_r_binom_test(reference_cohort: ReferenceCohort) -> None:
    ours = reference_cohort.results["responders"]
    assert set(ours) == set(reference_cohort.r["responders"])
    for instrument, rows in reference_cohort.r["responders"].items():
        mine = ours[instrument]["timepoints"]
        assert [m["timepoint"] for m in mine] == [row["timepoint"] for row in rows]
        for m, row in zip(mine, rows, strict=True):
            assert (m["n"], m["count"]) == (row["n"], row["count"]), f"{instrument} {m['timepoint']}"
            assert_matches_r([m["ci_lower"], m["ci_upper"]], [row["ci_lower"], row["ci_upper"]],
                             f"responders.{instrument}.{m['timepoint']}", reference_cohort)


def test_demo_responders_read_as_the_abstract_would(demo: ReferenceCohort) -> None:
    vas = demo.results["responders"]["vas"]
    assert (vas["mcid"], vas["better"], vas["baseline"]) == (2.0, "lower", "pre")
    assert [(t["timepoint"], t["count"], t["n"]) for t in vas["timepoints"]] == [("1m", 5, 7), ("3m", 5, 7),
                                                                                  ("6m", 6, 7)]
    assert [t["timepoint"] for t in demo.results["responders"]["msts93"]["timepoints"]] == ["3m"]


def check_proportion(ours: dict[str, Any], r: dict[str, Any], where: str, cohort: ReferenceCohort) -> None:
    assert (ours["count"], ours["n"]) == (r["count"], r["n"]), where
    assert_matches_r([ours["ci_lower"], ours["ci_upper"]], [r["ci_lower"], r["ci_upper"]], where, cohort)


def test_henderson_failure_types_match_r(reference_cohort: ReferenceCohort) -> None:
    ours, r = reference_cohort.results["implant"], reference_cohort.r["implant"]
    assert [t["type"] for t in ours["failure_types"]] == [t["type"] for t in r["failure_types"]] == [1, 2, 3, 4, 5]
    for mine, theirs in zip(ours["failure_types"], r["failure_types"], strict=True):
        check_proportion(mine, theirs, f"implant.failure_types.{mine['type']}", reference_cohort)
    check_proportion(ours["any_failure"], r["any_failure"], "implant.any_failure", reference_cohort)


def test_revisions_and_implant_survival_match_r(reference_cohort: ReferenceCohort) -> None:
    ours, r = reference_cohort.results["implant"], reference_cohort.r["implant"]
    (revision,) = ours["reoperations"]
    check_proportion(revision, r["reoperation"], "implant.reoperations.revision", reference_cohort)
    assert revision["days_from_surgery"] == as_list(r["reoperation"]["days_from_surgery"])
    km, rkm = ours["survival"], r["km"]
    assert ours["survival_endpoint"] == "revision"
    assert (km["n"], km["events"]) == (rkm["n"], rkm["events"])
    assert_matches_r([p["survival"] for p in km["km"]], rkm["surv"], "implant.km.surv", reference_cohort)
    assert_matches_r([km["median_months"], km["median_ci_lower"], km["median_ci_upper"]],
                     [rkm["median_r"], rkm["median_lower"], rkm["median_upper"]], "implant.median", reference_cohort)
    check_landmarks(km["landmarks"], rkm["landmarks"], "implant.landmarks", reference_cohort)
    check_risk_table(km["at_risk_table"], rkm["risk_table"], "implant.at_risk_table", reference_cohort)


def test_the_demo_has_no_revision_and_says_so(demo: ReferenceCohort) -> None:
    implant = demo.results["implant"]
    assert implant["reoperations"][0]["count"] == 0 and implant["survival"]["events"] == 0
    assert [m["survival"] for m in implant["survival"]["landmarks"]] == [1.0, 1.0, None]
    assert any(w["scope"] == "implant.survival" and "no revision in 7 patient(s)" in w["message"]
               for w in demo.results["warnings"])


def test_complication_timing_matches_r_median_of_the_events_table(reference_cohort: ReferenceCohort) -> None:
    r = {e["name"]: e for e in reference_cohort.r["events"]}
    for event in reference_cohort.results["events"]:
        theirs = r[event["name"]]
        assert event["days_from_surgery"] == as_list(theirs["days_from_surgery"]), event["name"]
        assert_matches_r(event["median_days_from_surgery"], theirs["median_days_from_surgery"],
                         f"events.{event['name']}.median_days_from_surgery", reference_cohort)


@pytest.mark.parametrize(("name", "days"), [("heterotopic_ossification", [89, 91, 92, 92]), ("death", [240])])
def test_demo_complication_days_come_from_the_mappings_events_table(demo: ReferenceCohort, name: str,
                                                                    days: list[int]) -> None:
    (event,) = [e for e in demo.results["events"] if e["name"] == name]
    assert event["days_from_surgery"] == days
