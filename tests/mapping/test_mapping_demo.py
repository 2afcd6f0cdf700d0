"""The bundled demo cohort maps to the seed abstract's 7 patients (shared/study/seed-abstract.txt)."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime

import pandas as pd
import pytest
from conftest import KEY

from extractor.files import demo_source, read_files
from mapping import Cohort, map_cohort


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):  # type: ignore[no-untyped-def]
    return read_files(demo_source(), tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def demo(snapshot, study) -> Cohort:
    return map_cohort(snapshot, study, source_id="demo", pseudonym_key=KEY)


def test_demo_cohort_maps_exactly_the_same_with_its_own_data_cutoff(snapshot, study, demo):
    cutoff = datetime.fromisoformat(snapshot.manifest.extracted_at).date()
    assert cutoff == date(2024, 6, 5)  # the demo's manifest: the day of its latest clinical date
    with_cutoff = map_cohort(snapshot, study, source_id="demo", pseudonym_key=KEY, cutoff=cutoff)
    for name in ("patients", "measures", "events"):
        pd.testing.assert_frame_equal(getattr(with_cutoff, name), getattr(demo, name))
    assert with_cutoff.quality.to_dict() == demo.quality.to_dict()
    assert (with_cutoff.n_resources, with_cutoff.n_unmappable) == (demo.n_resources, demo.n_unmappable)


def test_demo_cohort_has_the_abstracts_seven_patients_4_male_3_female(demo):
    assert len(demo.patients) == 7
    assert Counter(demo.patients["sex"]) == {"male": 4, "female": 3}
    ages = demo.patients["age_at_surgery"]
    assert (round(ages.mean()), ages.min(), ages.max()) == (42, 16, 54)
    assert demo.n_unmappable == 0


def test_demo_cohort_diagnoses_zones_margins_and_reconstructions(demo):
    p = demo.patients
    assert Counter(p["diagnosis"]) == {
        "chondrosarcoma": 2,
        "osteosarcoma": 2,
        "metastatic endometrial carcinoma": 1,
        "metastatic rectal carcinoma": 1,
        "metastatic hepatocellular carcinoma": 1,
    }
    assert Counter(p["zone_iv"]) == {0: 4, 1: 3}
    assert set(p[p["zone_iv"] == 0]["enneking_zones"]) <= {"I+II", "I+II+III", "II+III"}
    assert set(p[p["zone_iv"] == 1]["enneking_zones"]) <= {"I+II+IV", "I+II+III+IV"}
    assert Counter(p["resection_margin"]) == {"wide": 3, "marginal": 3, "intralesional": 1}
    assert Counter(p["reconstruction"]) == {"standard": 5, "screw-connected": 2}
    assert p["surgery_date"].min() >= "2022-06-01" and p["surgery_date"].max() <= "2023-12-31"


def test_demo_cohort_event_counts_and_follow_up(demo):
    p = demo.patients
    counts = {
        column: int(p[column].sum())
        for column in (
            "heterotopic_ossification",
            "screw_fracture",
            "dislocation",
            "delayed_wound_healing",
            "deep_infection",
            "periprosthetic_osteolysis",
            "implant_loosening",
            "local_recurrence",
            "distant_metastasis",
            "death",
        )
    }
    assert counts == {
        "heterotopic_ossification": 4,
        "screw_fracture": 1,
        "dislocation": 1,
        "delayed_wound_healing": 1,
        "deep_infection": 0,
        "periprosthetic_osteolysis": 0,
        "implant_loosening": 0,
        "local_recurrence": 2,
        "distant_metastasis": 2,
        "death": 1,
    }
    assert round(p["followup_months"].mean(), 1) == 10.6
    assert (round(p["followup_months"].min(), 1), round(p["followup_months"].max(), 1)) == (6.0, 18.2)
    assert Counter(demo.events["event"])["death"] == 1


def test_demo_cohort_has_seven_values_per_vas_and_kps_timepoint(demo):
    m = demo.measures
    for instrument in ("vas", "kps"):
        per_timepoint = Counter(m[m["instrument"] == instrument]["timepoint"])
        assert per_timepoint == {"pre": 7, "1m": 7, "3m": 7, "6m": 7}, instrument
    vas = m[m["instrument"] == "vas"].groupby("timepoint")["value"].median()
    assert (vas["pre"], vas["1m"], vas["3m"], vas["6m"]) == (7.0, 4.0, 3.0, 2.5)
    kps = m[m["instrument"] == "kps"].groupby("timepoint")["value"].median()
    assert (kps["pre"], kps["1m"], kps["3m"], kps["6m"]) == (60.0, 60.0, 70.0, 80.0)


def test_demo_cohort_msts93_means_and_sds(demo):
    m = demo.measures
    msts = m[m["instrument"] == "msts93"].groupby("timepoint")["value"]
    assert (round(msts.mean()["pre"], 2), round(msts.std()["pre"], 2)) == (11.00, 4.20)
    assert (round(msts.mean()["3m"], 2), round(msts.std()["3m"], 2)) == (23.86, 4.06)


def test_the_analysis_reference_copy_of_the_demo_tables_is_what_the_mapping_gives(demo):
    """tests/reference/demo/ (cohort.csv, measures.csv, events.csv; checked against R by tests/analysis) must stay
    the demo's real tables, written as the service writes them (4 decimals). Study ids depend on the key."""
    from io import StringIO
    from pathlib import Path

    reference = Path(__file__).resolve().parents[1] / "reference" / "demo"
    for name, frame in (("cohort.csv", demo.patients), ("measures.csv", demo.measures), ("events.csv", demo.events)):
        ours = pd.read_csv(StringIO(frame.to_csv(index=False, float_format="%.4f"))).drop(columns="study_id")
        kept = pd.read_csv(reference / name).drop(columns="study_id")
        pd.testing.assert_frame_equal(ours, kept, obj=name)


def test_the_demo_has_no_revision_so_implant_survival_runs_to_last_contact(demo):
    p = demo.patients
    assert p["revision"].sum() == 0
    pd.testing.assert_series_equal(p["revision_months"], p["followup_months"], check_names=False)
