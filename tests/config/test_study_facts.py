"""Issue 13's study-file tables: [facts.*], generic [diagnosis.GROUP], [progression], [endpoints.*], instrument
and timepoint labels, and the analysis plan's [[analysis.repeated]], [[analysis.paired]], [analysis.survival],
[analysis.table1]; each mistake one line naming its field and the fix."""

from __future__ import annotations

from typing import Any

import pytest

from config import ConfigError, load_study, parse_study
from config.study import CoxSpec, PairedSpec, RepeatedSpec
from tests.config.test_study import LOCAL, default_raw
from tests.config.test_study_outcomes import patched


def error_of(raw: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_study(raw)
    assert "\n" not in str(caught.value) and caught.value.fix
    return caught.value


def test_the_bundled_study_has_its_facts_in_cohort_order() -> None:
    study = load_study()
    assert study.fact_columns == (
        "diagnosis", "tumor_category", "enneking_zones", "zone_iv", "resection_margin", "reconstruction")
    zones, flag, margin = study.facts["enneking_zones"], study.facts["zone_iv"], study.facts["resection_margin"]
    assert zones.source == "body_site" and list(zones.values) == ["I", "II", "III", "IV"]
    assert (flag.is_flag, flag.rule_fact, flag.rule_op, flag.rule_values) == (True, "enneking_zones", "contains",
                                                                             ("IV",))
    assert margin.code == frozenset({(LOCAL, "resection-margin")})
    assert margin.levels == ("wide", "marginal", "intralesional", "radical")
    assert study.facts["reconstruction"].levels == ("standard", "screw-connected")
    assert study.facts["tumor_category"].levels == ("primary", "secondary")
    assert (flag.label, flag.short_label) == ("Zone IV involvement", "Zone IV involved")
    assert study.facts["diagnosis"].short_label == "Diagnosis"


def test_the_bundled_study_has_its_groups_progression_endpoints_and_labels() -> None:
    study = load_study()
    secondary = study.diagnosis["secondary"]
    assert (secondary.detail, secondary.detail_unknown) == ("metastatic {site} carcinoma", "metastatic carcinoma")
    assert list(secondary.primary_site) == ["endometrial", "rectal", "hepatocellular"]
    assert list(study.diagnosis["primary"].histology) == ["chondrosarcoma", "osteosarcoma", "ewing-sarcoma"]
    assert study.diagnosis["primary"].detail is None
    assert (study.progression.local, study.progression.distant) == ("local_recurrence", "distant_metastasis")
    assert [(e.name, e.label, e.events) for e in study.endpoints.values()] == [
        ("os", "Overall survival", ("death",)),
        ("pfs", "Progression-free survival", ("local_recurrence", "distant_metastasis", "death"))]
    assert study.endpoint_columns == ("os_months", "os_event", "pfs_months", "pfs_event")
    assert [i.short_label for i in study.instruments.values()] == ["VAS", "KPS", "MSTS 93", "SIJ (mm)"]
    assert [t.label for t in study.timepoints.values()] == ["Pre-op", "1 month", "3 months", "6 months"]


def test_the_bundled_plan() -> None:
    analysis = load_study().analysis
    assert analysis.repeated == (RepeatedSpec("vas", ("pre", "1m", "3m", "6m")),
                                 RepeatedSpec("kps", ("pre", "1m", "3m", "6m")))
    assert analysis.paired == (PairedSpec("msts93", "msts93", "pre", "3m", None, True),
                               PairedSpec("sij_contralateral_mm", "sij_contralateral_mm", "pre", "6m", "zone_iv",
                                          False))
    assert analysis.survival.endpoints == ("os", "pfs")
    assert analysis.survival.logrank == ("sex", "tumor_category", "resection_margin", "zone_iv")
    assert analysis.survival.cox == (
        CoxSpec("sex", "male", ("female",)), CoxSpec("tumor_category", "primary", ("secondary",)),
        CoxSpec("resection_margin", "wide", ("marginal", "intralesional", "radical")), CoxSpec("zone_iv"))
    assert analysis.table1_facts[:2] == ("tumor_category", "diagnosis")
    assert analysis.survival.site == "covariate"
    assert parse_study(patched(("analysis", "survival", "site"), "stratum")).analysis.survival.site == "stratum"


def test_defaults_of_the_new_tables() -> None:
    raw = default_raw()
    del raw["instruments"]["vas"]["short_label"], raw["timepoints"]["1m"]["label"]
    del raw["analysis"]["survival"]["endpoints"]
    raw["analysis"]["paired"][0]["name"] = "function"
    raw["analysis"]["survival"]["cox"][1] = {"fact": "tumor_category"}
    raw["facts"]["resection_margin"]["levels"] = ["marginal", "wide"]
    raw["analysis"]["survival"]["cox"][2] = {"fact": "resection_margin"}
    del raw["diagnosis"]["secondary"]["detail"], raw["diagnosis"]["secondary"]["detail_unknown"]
    study = parse_study(raw)
    assert study.instruments["vas"].short_label == study.instruments["vas"].label
    assert study.timepoints["1m"].label == "1m"
    assert study.analysis.survival.endpoints == ("os", "pfs")
    assert study.analysis.paired[0].name == "function"
    assert study.analysis.survival.cox[1:3] == (CoxSpec("tumor_category", "primary", ("secondary",)),
                                                CoxSpec("resection_margin", "marginal", ("wide",)))
    assert (study.diagnosis["secondary"].detail, study.diagnosis["secondary"].detail_unknown) == ("{site}", None)


def test_the_old_tables_are_unknown_fields() -> None:
    raw = default_raw()
    raw["resection_margin"] = {"code": ["local|resection-margin"], "values": {"wide": ["local|margin-wide"]}}
    error = error_of(raw)
    assert (error.field, error.problem) == ("resection_margin", "unknown field") and "facts" in error.fix


def test_the_retired_analysis_lists_point_at_their_tables() -> None:
    for key, table in (("repeated_instruments", "[[analysis.repeated]]"), ("msts_timepoints", "[[analysis.paired]]")):
        error = error_of(patched(("analysis", key), ["pre", "3m"]))
        assert (error.field, error.problem) == (f"analysis.{key}", "no longer read (issue 13)")
        assert table in error.fix


def test_a_study_without_diagnosis_progression_endpoints_or_plan_loads() -> None:
    raw = default_raw()
    for key in ("diagnosis", "progression", "endpoints", "disease_status", "extensions"):
        del raw[key]
    del raw["facts"]["diagnosis"], raw["facts"]["tumor_category"]
    del raw["analysis"]["survival"], raw["analysis"]["repeated"], raw["analysis"]["paired"]
    del raw["analysis"]["table1"]
    study = parse_study(raw)
    assert study.diagnosis == {} and study.endpoints == {} and study.progression.local is None
    assert study.analysis.repeated == () and study.analysis.paired == () and study.analysis.survival.cox == ()
    assert study.disease_status_code == frozenset() and study.histology_extension.startswith("http://hl7.org/")


@pytest.mark.parametrize(
    ("path", "value", "field", "problem"),
    [
        (("facts", "zone_iv", "from"), "zone", "facts.zone_iv.from", "unknown value 'zone'"),
        (("facts", "zone_iv", "fact"), "zones", "facts.zone_iv.fact", "unknown fact 'zones'"),
        (("facts", "zone_iv", "fact"), "zone_iv", "facts.zone_iv.fact", "refers to itself"),
        (("facts", "zone_iv", "equals"), "IV", "facts.zone_iv", "exactly one test"),
        (("facts", "zone_iv", "values"), {"x": ["local|x"]}, "facts.zone_iv", "values is not used"),
        (("facts", "resection_margin", "code"), None, "facts.resection_margin", "needs code"),
        (("facts", "enneking_zones", "values"), {}, "facts.enneking_zones", "no values"),
        (("facts", "resection_margin", "levels"), ["wide", "close"], "facts.resection_margin",
         "level 'close' is not one of the values"),
        (("facts", "reconstruction", "levels"), ["standard", "other"], "facts.reconstruction.levels",
         "unknown level 'other'"),
        (("facts", "death"), {"label": "x", "from": "index_procedure"}, "facts.death", "already used"),
        (("facts", "revision_months"), {"label": "x", "from": "index_procedure"}, "facts.revision_months",
         "already used"),
        (("facts", "os_event"), {"label": "x", "from": "index_procedure"}, "facts.os_event", "already used"),
        (("facts", "zone_iv", "label"), "", "facts.zone_iv.label", "at least 1 character"),
        (("diagnosis", "secondary", "histology"), {"x": ["icdo3|1"]}, "diagnosis.secondary", "either histology"),
        (("diagnosis", "secondary", "detail"), "metastatic carcinoma", "diagnosis.secondary", "{site}"),
        (("diagnosis", "primary", "detail"), "{site}", "diagnosis.primary", "only used with primary_site"),
        (("progression", "local"), "relapse", "progression.local", "not an event"),
        (("endpoints", "pfs", "events"), ["death", "progression"], "endpoints.pfs.events", "unknown event"),
        (("endpoints", "pfs", "censor"), "death", "endpoints.pfs.censor", "unknown value"),
        (("instruments", "vas", "decimals"), -1, "instruments.vas.decimals", "out of range"),
        (("timepoints", "1m", "labels"), "x", "timepoints.1m.labels", "unknown field"),
        (("analysis", "repeated", 0, "instrument"), "tess", "analysis.repeated[0].instrument", "unknown instrument"),
        (("analysis", "repeated", 0, "timepoints"), ["pre", "12m"], "analysis.repeated[0].timepoints",
         "unknown timepoint"),
        (("analysis", "repeated", 0, "timepoints"), ["pre"], "analysis.repeated[0].timepoints", "fewer than two"),
        (("analysis", "repeated", 1, "instrument"), "vas", "analysis.repeated", "listed twice"),
        (("analysis", "paired", 0, "timepoints"), ["pre"], "analysis.paired[0].timepoints", "two timepoints"),
        (("analysis", "paired", 1, "by"), "enneking_zones", "analysis.paired[1].by", "exactly two levels"),
        (("analysis", "paired", 1, "by"), "margin", "analysis.paired[1].by", "unknown fact"),
        (("analysis", "paired", 1, "name"), "msts93", "analysis.paired[1].name", "defined twice"),
        (("analysis", "paired", 0, "overall"), False, "analysis.paired[0].overall", "only the overall"),
        (("analysis", "survival", "endpoints"), ["os", "efs"], "analysis.survival.endpoints", "unknown endpoint"),
        (("analysis", "survival", "logrank"), ["sex", "age"], "analysis.survival.logrank", "unknown fact"),
        (("analysis", "survival", "cox", 3, "reference"), "0", "analysis.survival.cox[3]", "0/1 rule flag"),
        (("analysis", "survival", "cox", 2, "reference"), "close", "analysis.survival.cox[2]", "unknown level"),
        (("analysis", "survival", "cox", 2, "levels"), ["wide"], "analysis.survival.cox[2].levels",
         "reference 'wide' is listed"),
        (("analysis", "survival", "cox", 1, "fact"), "sex", "analysis.survival.cox", "listed twice"),
        (("analysis", "survival", "site"), "strata", "analysis.survival.site", "unknown value 'strata'"),
        (("analysis", "table1", "facts"), ["diagnosis", "zones"], "analysis.table1.facts", "unknown fact"),
        (("analysis", "table1", "facts"), ["diagnosis", "diagnosis"], "analysis.table1.facts", "listed twice"),
        (("followup", "schedule", "tess"), ["pre"], "followup.schedule.tess", "unknown instrument"),
        (("followup", "schedule", "vas"), ["pre", "2y"], "followup.schedule.vas", "unknown timepoint"),
        (("followup", "schedule", "vas"), ["pre", "pre"], "followup.schedule.vas", "listed twice"),
    ],
)
def test_each_mistake_in_the_new_tables_names_its_field(
    path: tuple[Any, ...], value: Any, field: str, problem: str
) -> None:
    raw = patched(path, value)
    if value is None:  # a deletion
        node: Any = raw
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    error = error_of(raw)
    assert error.field == field, error
    assert problem == "none" or problem in error.problem, error


def test_the_followup_schedule() -> None:
    assert load_study().followup_schedule == {
        "vas": ("pre", "1m", "3m", "6m"), "kps": ("pre", "1m", "3m", "6m"), "msts93": ("pre", "3m"),
        "sij_contralateral_mm": ("pre", "6m")}
    raw = default_raw()
    del raw["followup"]
    assert parse_study(raw).followup_schedule == {}


def test_a_categorical_fact_with_two_levels_may_split_a_paired_comparison() -> None:
    raw = patched(("analysis", "paired", 1, "by"), "tumor_category")
    assert parse_study(raw).analysis.paired[1].by == "tumor_category"


def test_a_cox_entry_of_sex_needs_its_reference() -> None:
    raw = default_raw()
    del raw["analysis"]["survival"]["cox"][0]["reference"]
    error = error_of(raw)
    assert error.field == "analysis.survival.cox[0].reference" and "reference" in error.fix


def test_an_unknown_field_of_a_fact_lists_the_fields_of_a_fact() -> None:
    error = error_of(patched(("facts", "zone_iv", "contain"), "IV"))
    assert error.field == "facts.zone_iv.contain"
    assert "contains" in error.fix and "from" in error.fix and "in" in error.fix.split(": ")[1].split(", ")
