"""The mapping reads the study file's facts, diagnosis groups, progression and endpoints: a study with other
facts, rules, groups and endpoints maps without a change to the code (issue 13)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ICD10, LOCAL, SNOMED

from config.study import StudyDefinition, parse_study
from mapping import Cohort, cohort_columns
from mapping.codebook import codebook
from tests.config.test_study import default_raw


def other_study() -> StudyDefinition:
    """Other facts in another order (a body-site fact of two sides, a margin without an R-class, three rules),
    one diagnosis group with a site template, no progression, an event-free-survival endpoint."""
    raw = default_raw()
    del raw["progression"], raw["analysis"]
    raw["facts"] = {
        "kind": {"label": "Implant kind", "from": "index_procedure"},
        "side": {"label": "Side", "from": "body_site",
                 "values": {"left": ["local|enneking-zone-I"], "right": ["local|enneking-zone-II"]}},
        "bilateral": {"label": "Both sides", "from": "rule", "fact": "side", "equals": "left+right",
                      "level_labels": {"1": "both sides", "0": "one side"}},
        "left": {"label": "Left side", "from": "rule", "fact": "side", "contains": "left"},
        "clean": {"label": "Clean margin", "from": "rule", "fact": "margin", "in": ["wide", "radical"]},
        "margin": {"label": "Margin", "from": "observation_value", "code": ["local|resection-margin"],
                   "values": {"wide": ["local|margin-wide"], "marginal": ["local|margin-marginal"]}},
        "tumour": {"label": "Tumour", "from": "diagnosis_detail"},
    }
    raw["diagnosis"] = {"metastasis": {
        "condition": ["icd10|C79.51"], "detail": "{site} metastasis",
        "primary_site": {"kidney": ["icd10|C64"], "rectal": ["icd10|C20"]}}}
    raw["endpoints"] = {
        "efs": {"label": "Event-free survival", "events": ["revision", "deep_infection", "death"]},
    }
    raw["implant"] = {}
    raw["claims"] = []
    return parse_study(raw)


@pytest.fixture(scope="module")
def other() -> StudyDefinition:
    return other_study()


def row(cohort: Cohort) -> dict[str, Any]:
    assert len(cohort.patients) == 1
    return dict(cohort.patients.iloc[0])


def reasons(cohort: Cohort) -> set[str]:
    return cohort.quality.reasons()


def test_the_columns_are_the_study_files_facts_and_endpoints_in_order(other):
    assert cohort_columns(other)[:13] == [
        "study_id", "sex", "age_at_surgery", "surgery_date", "kind", "side", "bilateral", "left", "clean", "margin",
        "tumour", "followup_months", "efs_months"]
    assert cohort_columns(other)[13] == "efs_event"
    assert [r["name"] for r in codebook(other) if r["table"] == "cohort.csv"] == cohort_columns(other)


def test_body_site_rules_and_an_observed_value(fhir, run, other):
    resources = [fhir.patient("p1"), fhir.index("p1", zones=("II", "I"), margin=None),
                 fhir.observation("p1", (LOCAL, "resection-margin"), "2022-06-12",
                                  valueCodeableConcept={"coding": [{"system": LOCAL, "code": "margin-wide"}]})]
    got = row(run(resources, study_def=other))
    assert (got["kind"], got["side"], got["margin"]) == ("standard", "left+right", "wide")
    assert (got["bilateral"], got["left"], got["clean"]) == (1, 1, 1)
    assert got["tumour"] is None and "no diagnosis Condition" in reasons(run(resources, study_def=other))


def test_rules_over_missing_values_are_0_and_the_missing_values_are_logged(fhir, run, other):
    cohort = run([fhir.patient("p1"), fhir.index("p1", zones=(), margin=None)], study_def=other)
    got = row(cohort)
    assert (got["side"], got["margin"], got["bilateral"], got["left"], got["clean"]) == (None, None, 0, 0, 0)
    assert {"no side recorded", "no margin recorded"} <= reasons(cohort)
    assert cohort.patients.dtypes["left"] == "int64"


def test_a_procedure_outcome_outside_the_facts_values_gives_no_value(fhir, run, other):
    got = row(run([fhir.patient("p1"), fhir.index("p1", zones=("I",), margin="radical")], study_def=other))
    assert (got["side"], got["bilateral"], got["margin"], got["clean"]) == ("left", 0, None, 0)


def test_the_detail_template_names_the_related_primary_site(fhir, run, other):
    site = fhir.condition("p1", (ICD10, "C64"), onset="2021-01-01")
    metastasis = fhir.secondary("p1", site["id"])
    got = row(run([fhir.patient("p1"), fhir.index("p1"), site, metastasis], study_def=other))
    assert got["tumour"] == "kidney metastasis"
    unknown = fhir.secondary("p1", "nowhere")
    cohort = run([fhir.patient("p1"), fhir.index("p1"), unknown], study_def=other)
    assert row(cohort)["tumour"] is None  # no detail_unknown: empty
    assert "primary site of the metastasis tumour unknown" in reasons(cohort)


def test_an_endpoint_is_the_first_of_its_events_without_progression(fhir, run, other):
    relapse = fhir.condition(
        "p1", (ICD10, "C79.51"), onset="2022-08-01",
        clinicalStatus={"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                    "code": "relapse"}]})
    revision = {"resourceType": "Procedure", "id": "rev1", "status": "completed",
                "code": {"coding": [{"system": LOCAL, "code": "revision-surgery"}]},
                "subject": {"reference": "Patient/p1"}, "performedDateTime": "2022-10-10"}
    infection = fhir.complication("p1", "deep-infection", "2022-12-10")
    status = fhir.status("p1", "2022-07-10", (SNOMED, "399409002"))
    cohort = run([fhir.patient("p1"), fhir.index("p1", date="2022-06-10"), relapse, revision, infection, status],
                 study_def=other)
    got = row(cohort)
    assert (got["efs_event"], round(got["efs_months"], 2)) == (1, round(122 / 30.4375, 2))
    assert got["local_recurrence"] == 0 and got["distant_metastasis"] == 0  # no [progression]: not counted
    logged = {(e.id, e.reason) for e in cohort.quality.entries}
    assert (relapse["id"], "local progression not mapped: the study file's [progression] names no local event") \
        in logged
    assert (status["id"], "distant progression not mapped: the study file's [progression] names no distant event") \
        in logged
    assert cohort.patients.dtypes["efs_months"] == "float64"


def test_without_events_an_endpoint_is_censored_at_last_contact(fhir, run, other):
    cohort = run([fhir.patient("p1"), fhir.index("p1", date="2022-06-10"), fhir.vas("p1", "2022-09-08", 3)],
                 study_def=other)
    got = row(cohort)
    assert (got["efs_event"], got["efs_months"]) == (0, got["followup_months"])


def test_the_codebook_describes_each_fact_from_its_definition(other):
    rows = {r["name"]: r for r in codebook(other) if r["table"] == "cohort.csv"}
    assert rows["side"]["values"] == "combinations of left, right joined by '+', e.g. left+right"
    assert (rows["left"]["type"], rows["left"]["fhir_codes"]) == ("0-1 flag", "local|enneking-zone-I")
    assert rows["bilateral"]["derivation"].startswith("1 if side is left+right, else 0")
    assert rows["bilateral"]["derivation"].endswith("Labels in the report: 1 = both sides; 0 = one side")
    assert rows["clean"]["derivation"].startswith("1 if margin is one of wide, radical")
    assert rows["margin"]["values"] == "wide; marginal"
    assert rows["tumour"]["values"] == "kidney metastasis; rectal metastasis"
    assert "metastasis: '<site> metastasis'" in rows["tumour"]["derivation"]
    assert rows["efs_months"]["fhir_resource"] == "Procedure; Condition; Patient"
    assert rows["efs_event"]["label"] == "Event-free survival event"
    assert "relapse" not in rows["local_recurrence"]["derivation"]
